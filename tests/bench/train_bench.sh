#!/usr/bin/env bash
# make bench-train: lmeff's training step vs the study's stack (HF transformers LlamaForCausalLM,
# eager; ../shared/bench/hf_train_bench.py) on this machine's CPU, same 20m model, vocab 16000,
# batch 8 × 256, same number of timed steps after a warm-up. lmeff runs in fp32 (the like-for-like
# figure) and with bf16 autocast (the CPU's AVX-512 BF16); the losses are printed side by side.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/env/lmeff.env"
BIN="$ROOT/target/release/lmeff"
PY="$LMEFF_VENV/bin/python"
HF_BENCH="${LMEFF_BENCH_DIR:-$ROOT/../shared/bench}/hf_train_bench.py"
STEPS="${STEPS:-10}"
export LMEFF_MODELS_DIR="$ROOT/configs/models"
field() { "$PY" -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])['$1'])"; }

echo "== training throughput, 20m, vocab 16000, batch 8 x 256, $STEPS steps, $(nproc) cores"
hf=$(STEPS=$STEPS CPU_BS=8 "$PY" "$HF_BENCH" 20m eager 2>/dev/null)
fp32=$("$BIN" -q bench train --sizes 20m --batch 8 --grad-accum 1 --steps "$STEPS" --precision fp32)
bf16=$("$BIN" -q bench train --sizes 20m --batch 8 --grad-accum 1 --steps "$STEPS" --precision bf16)
hf_tps=$(echo "$hf" | field tokens_per_s); fp_tps=$(echo "$fp32" | field tokens_per_s); bf_tps=$(echo "$bf16" | field tokens_per_s)
printf '%-34s %8s tok/s  (loss %s after %s steps)\n' "HF transformers eager, fp32:" "$hf_tps" "$(echo "$hf" | field loss)" "$((STEPS + 3))"
printf '%-34s %8s tok/s  (loss %s, mean of the timed steps)\n' "lmeff, fp32:" "$fp_tps" "$(echo "$fp32" | field loss)"
printf '%-34s %8s tok/s  (loss %s, mean of the timed steps)\n' "lmeff, bf16 autocast:" "$bf_tps" "$(echo "$bf16" | field loss)"
awk -v a="$fp_tps" -v b="$bf_tps" -v h="$hf_tps" 'BEGIN{printf "ratio lmeff fp32 / HF eager:       %.2fx\nratio lmeff bf16 / HF eager fp32:  %.2fx\n", a/h, b/h}'

echo "== data-parallel on this CPU: 1 rank x 2 threads vs 2 ranks x 1 thread (mpirun), same global batch"
for np in 1 2; do
  threads=$((2 / np))
  r=$(mpirun --allow-run-as-root --oversubscribe --bind-to none -np "$np" "$BIN" -q --threads "$threads" bench train \
        --sizes 20m --batch 8 --grad-accum 1 --steps "$STEPS" --precision fp32 | tail -1)
  printf '%s rank(s) x %s thread(s): %8s tok/s, all-reduce %5.1f%% of the step time\n' "$np" "$threads" \
    "$(echo "$r" | field tokens_per_s)" "$(echo "$r" | "$PY" -c 'import json,sys; print(100*json.loads(sys.stdin.read())["allreduce_share"])')"
done
