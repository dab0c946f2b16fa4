#!/usr/bin/env bash
# GPU check: runs the CUDA paths of an lmeff binary built elsewhere (nothing is built here) against
# the machine's own torch 2.11 install, and writes every result under $OUT (default gpu-check/).
#
#   make release                     # on the build machine
#   OUT=/tmp/gpu make gpu-check      # on the GPU machine, with target/release/lmeff carried over
#
#   LMEFF_BIN=path       the binary (default target/release/lmeff)
#   TORCH_VENV=dir       a venv with torch 2.11 (default /opt/torch/.venv, else env/.venv)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${LMEFF_BIN:-$ROOT/target/release/lmeff}"
OUT="${OUT:-$ROOT/gpu-check}"
mkdir -p "$OUT"
VENV="${TORCH_VENV:-/opt/torch/.venv}"
[[ -x "$VENV/bin/python3" ]] || VENV="$ROOT/env/.venv"
SITE="$("$VENV/bin/python3" -c 'import site; print(site.getsitepackages()[0])')"
export LIBTORCH="$SITE/torch"
nvidia_libs="$(find "$SITE/nvidia" -maxdepth 2 -type d -name lib 2>/dev/null | sort | paste -sd: -)"
export LD_LIBRARY_PATH="$LIBTORCH/lib${nvidia_libs:+:$nvidia_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# cudarc opens libnccl.so and libcuda.so by those names; the wheel and the driver ship *.so.2 / *.so.1.
LINKS="$OUT/lib"; mkdir -p "$LINKS"
nccl="$(find "$SITE/nvidia" -name 'libnccl.so*' 2>/dev/null | head -1)"
[[ -n "$nccl" ]] && ln -sf "$nccl" "$LINKS/libnccl.so"
libcuda="$(ldconfig -p 2>/dev/null | awk '/libcuda\.so\.1 /{print $NF; exit}')"
[[ -n "$libcuda" ]] && ln -sf "$libcuda" "$LINKS/libcuda.so"
export LD_LIBRARY_PATH="$LINKS:$LD_LIBRARY_PATH"

status=0
step() { # name, command...: runs one check, keeps its output, records pass/fail
  local name="$1"; shift
  local t0; t0=$(date +%s%N)
  if "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"; then r=pass; else r=FAIL; status=1; fi
  printf '%-28s %s  (%.1f s)\n' "$name" "$r" "$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN{print (b-a)/1e9}')" | tee -a "$OUT/summary.txt"
}
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; "$VENV/bin/python3" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'; } >"$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"
# Passes only when libtorch is found and no library is missing ("not found" lines fail it).
step ldd bash -c "ldd '$BIN' | tee '$OUT/ldd.txt' | grep -E 'torch|c10' && ! grep 'not found' '$OUT/ldd.txt'"
step doctor-cpu "$BIN" doctor --device cpu --steps 100
step doctor-cuda "$BIN" doctor --device cuda --steps 300
# A tiny end-to-end training run on CUDA (bf16 autocast): data prepared from the sample corpus when
# it is around (LMEFF_SAMPLE_DATA, else shared/ beside or inside the checkout), milestones, final.
SHARED="${LMEFF_SHARED:-}"
for c in "$ROOT/../shared" "$ROOT/shared"; do [[ -z "$SHARED" && -d "$c/data" ]] && SHARED="$c"; done
SHARED="${SHARED:-$ROOT/../shared}"
echo "shared data: $SHARED" | tee -a "$OUT/summary.txt"
SAMPLE="${LMEFF_SAMPLE_DATA:-$SHARED/data/corpora}"
export LMEFF_MODELS_DIR="$ROOT/configs/models"
if [[ -d "$SAMPLE/tinystories" ]]; then
  W="$OUT/work"; mkdir -p "$W/data"; cp -r "$SAMPLE/tinystories" "$W/data/"; chmod -R u+w "$W/data"
  step prepare "$BIN" -q --data-dir "$W/data" data prepare --dataset tinystories --vocab-sizes 1000
  step train-cuda env LMEFF_MILESTONES="[0.05,0.1]" LMEFF_TRAIN__EVAL_TOKENS=20000 "$BIN" --device cuda \
    --data-dir "$W/data" --output-dir "$W/output" train --dataset tinystories --model tiny --vocab 1000 \
    --seq-len 128 --anchor 0.2 --seed 0 --batch-size 32
  find "$W/output" -name milestone_meta.json -exec sh -c 'echo "== $1"; cat "$1"' _ {} \; >"$OUT/train-cuda-meta.txt" 2>&1
  rm -rf "$W/data"
fi
# Throughput at the study's batch settings (20m 64x1, 60m 128x2, 180m 256x2; seq 256, vocab 16000),
# lmeff (bf16 autocast, fused AdamW) beside the study's HF stack, eager and torch.compile.
step bench-lmeff "$BIN" bench train --device cuda --sizes 20m,60m,180m --steps 30 --precision bf16
# NCCL end to end with a communicator of one rank (mpirun -np 1): the same bench with the gradient
# all-reduce in every step, and a tiny training run through it.
if command -v mpirun >/dev/null; then
  step bench-nccl-1rank mpirun --allow-run-as-root -np 1 "$BIN" --device cuda bench train --sizes 20m --steps 30 --precision bf16
  if [[ -d "$SAMPLE/tinystories" ]]; then
    W="$OUT/work"; mkdir -p "$W/data"; cp -r "$SAMPLE/tinystories" "$W/data/"; chmod -R u+w "$W/data"
    "$BIN" -q --data-dir "$W/data" data prepare --dataset tinystories --vocab-sizes 1000 >/dev/null 2>&1
    step train-nccl-1rank mpirun --allow-run-as-root -np 1 -x LMEFF_MILESTONES="[0.05]" "$BIN" --device cuda \
      --data-dir "$W/data" --output-dir "$W/output-nccl" train --dataset tinystories --model tiny --vocab 1000 \
      --seq-len 128 --anchor 0.1 --seed 0 --batch-size 32
    rm -rf "$W"
  fi
fi
HF_BENCH="$SHARED/bench/hf_train_bench.py"
if [[ -f "$HF_BENCH" ]]; then
  step bench-hf env STEPS=30 "$VENV/bin/python3" "$HF_BENCH" 20m,60m,180m eager,compile
fi
# The whole of BLiMP on CUDA (bf16, 67 paradigms) for the seeded 20m/60m/180m initialisations,
# beside the study's loop (hf_blimp_bench.py, random models of the same sizes, TASKS=67).
if [[ -d "$SAMPLE/tinystories" && -d "$SHARED/data/blimp" ]]; then
  B="$OUT/blimp"; mkdir -p "$B/data"; cp -r "$SAMPLE/tinystories" "$B/data/"; chmod -R u+w "$B/data"
  "$BIN" -q --data-dir "$B/data" data prepare --dataset tinystories --vocab-sizes 16000 >/dev/null 2>&1
  for size in 20m 60m 180m; do
    "$BIN" -q --data-dir "$B/data" --output-dir "$B/output" train --dataset tinystories --model "$size" \
      --vocab 16000 --init-only >/dev/null 2>&1
    step "blimp-lmeff-$size" "$BIN" --device cuda --blimp-dir "$SHARED/data/blimp" eval blimp \
      --checkpoint "$B/output/models/tinystories/llama-$size/tokenizer-16000-seed-0/init" --out "$B/res-$size" --force
  done
  if [[ -f "$SHARED/bench/hf_blimp_bench.py" ]]; then
    step blimp-study env TASKS=67 "$VENV/bin/python3" "$SHARED/bench/hf_blimp_bench.py" \
      "$SHARED/data/blimp" "$B/data/tinystories/tokenizers/tokenizer_16000.json" 20m,60m,180m
  fi
  rm -rf "$B/data" "$B/output"
fi
# GLUE fine-tuning at the study's sizes on CUDA (bf16): lmeff beside the BabyLM pipeline's HF Trainer
# (padded to 128; skipped when the image's venv has no accelerate, which cannot be installed here).
if [[ -d "$SAMPLE/tinystories" ]]; then
  step bench-glue env LMEFF_BIN="$BIN" PYTHON="$VENV/bin/python3" LMEFF_SHARED_DATA="$(dirname "$SAMPLE")" \
    DEVICE=cuda SIZES=20m,60m,180m N_TRAIN=8192 EPOCHS=2 bash "$ROOT/tests/bench/glue_bench.sh"
fi
for f in "$OUT"/blimp-*.out; do [[ -f "$f" ]] && { echo "== $(basename "$f")"; cat "$f"; }; done
for f in "$OUT"/doctor-*.out "$OUT"/bench-*.out "$OUT"/train-cuda.out; do [[ -f "$f" ]] && { echo "== $(basename "$f")"; cat "$f"; }; done
exit $status
