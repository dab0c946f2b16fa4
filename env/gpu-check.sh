#!/usr/bin/env bash
# make gpu-check: the one GPU call. Runs the CUDA paths of the binary `make gpu-pack` carried
# (nothing is built here) against the machine's own torch 2.11, in ordered steps, the cheapest and
# most decisive first, each under `timeout`, all within GPU_CHECK_BUDGET_S (480 s). Every step's
# output is kept under $OUT; $OUT/summary.txt says pass / FAIL (why) / SKIPPED (why) per step and
# ends with the figures (tokens/s, peak memory measured against lmeff plan's estimate, the
# checks' verdicts).
#
#   make gpu-pack                               # here, on the build machine
#   device tool: command "make gpu-check", carry ["target/gpu-pack"]   # then read $OUT/summary.txt
#
#   GPU_PACK=dir              the pack (default target/gpu-pack)
#   TORCH_VENV=dir            a venv with torch 2.11 (default /opt/torch/.venv, else env/.venv)
#   GPU_CHECK_REHEARSAL=1     the same steps on this CPU with the tiny model: proves every command
#                             line against the packed binary before a GPU is spent on it
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PACK="${GPU_PACK:-$ROOT/target/gpu-pack}"
BIN="${LMEFF_BIN:-$PACK/bin/lmeff}"
OUT="${OUT:-$ROOT/gpu-check}"
BUDGET="${GPU_CHECK_BUDGET_S:-480}"
START=$(date +%s)
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"

if [[ "${GPU_CHECK_REHEARSAL:-0}" == 1 ]]; then
  DEV=cpu SIZES=(tiny) BIG=tiny VOCAB=1000 SEQ=64 MODEL=tiny BATCH=8 STEPS=3 TRAIN_STEPS=12 SPLIT=2
else
  DEV=cuda SIZES=(20m 60m 180m) BIG=180m VOCAB=16000 SEQ=256 MODEL=20m BATCH=64 STEPS=20 TRAIN_STEPS=60 SPLIT=128
fi
DATA="$OUT/work/data"
export LMEFF_MODELS_DIR="$ROOT/configs/models"
rm -rf "$OUT/work" "$OUT/profile" "$OUT/lib"  # this script's own folders from an earlier check

record() { # name verdict seconds [why]
  printf '%-22s %-8s %6s s  %s\n' "$1" "$2" "$3" "${4:-}" | tee -a "$SUMMARY"
}
left() { echo $((BUDGET - ($(date +%s) - START))); }
step() { # name budget_s command...: one check under timeout; its output in $OUT/<name>.{out,err}
  local name="$1" budget="$2"; shift 2
  local rem; rem=$(left)
  if ((rem < 15)); then record "$name" SKIPPED - "no time left of the ${BUDGET} s"; return 3; fi
  ((budget > rem - 5)) && budget=$((rem - 5))
  local t0; t0=$(date +%s.%N)
  # Through bash, so that the exported helpers below (bench, train, blimp) run under timeout too.
  timeout -k 5 "$budget" bash -c '"$@"' "$name" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
  local rc=$?
  local secs; secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  case $rc in
    0) record "$name" pass "$secs" ;;
    124 | 137) record "$name" FAIL "$secs" "timed out after ${budget} s" ;;
    *) record "$name" FAIL "$secs" "exit $rc: $(grep -v '^\s*$' "$OUT/$name.err" | tail -1 | cut -c1-160)" ;;
  esac
  return $rc
}
abort() { # why: the remaining steps cannot tell anything
  record ABORTED - - "$1"
  exit 1
}
gib() { awk '{printf "%.1f", $1/1024}'; }

# --- 0. facts: the card, the driver, torch, where its libraries are; the binary starts --------
VENV="${TORCH_VENV:-/opt/torch/.venv}"
[[ -x "$VENV/bin/python3" ]] || VENV="$ROOT/env/.venv"
PY="$VENV/bin/python3"
TORCH_DIR="$("$PY" -c 'import torch, os; print(os.path.dirname(torch.__file__))' 2>/dev/null)"
[[ -n "$TORCH_DIR" ]] || abort "no torch importable from $PY (set TORCH_VENV)"
SITE="$(dirname "$TORCH_DIR")"
export LIBTORCH="$TORCH_DIR"
nvidia_libs="$(find "$SITE/nvidia" -maxdepth 3 -type d -name lib 2>/dev/null | sort | paste -sd: -)"
# cudarc opens libnccl.so by that name; the wheel ships libnccl.so.2.
LINKS="$OUT/lib"; mkdir -p "$LINKS"
nccl="$(find "$SITE/nvidia" -name 'libnccl.so*' 2>/dev/null | head -1)"
[[ -n "$nccl" ]] && ln -sf "$nccl" "$LINKS/libnccl.so"
export LD_LIBRARY_PATH="$LINKS:$TORCH_DIR/lib${nvidia_libs:+:$nvidia_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
{
  echo "date: $(date -u +%FT%TZ)  device: $DEV  budget: ${BUDGET} s"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader 2>&1
  else
    echo "nvidia-smi: none"
  fi
  "$PY" - <<'EOF' 2>&1
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())
print("site-packages", torch.__file__)
if torch.cuda.is_available():
    print("capability", torch.cuda.get_device_capability(0))
    print("sdp priority", torch._C._get_sdp_priority_order())
EOF
  "$BIN" --version 2>&1 | head -3
} >"$OUT/machine.txt"
sed 's/^/  /' "$OUT/machine.txt" | tee -a "$SUMMARY"
# Passes only when no library is missing ("not found" lines fail it) and libtorch is found.
step ldd 10 bash -c "ldd '$BIN' >'$OUT/ldd.txt'; ! grep 'not found' '$OUT/ldd.txt' && grep -q libtorch_cpu '$OUT/ldd.txt'" ||
  abort "the binary cannot start here: $(grep 'not found' "$OUT/ldd.txt" | tr -s ' \t' ' ' | paste -sd, -)"
for need in bin/lmeff data/tinystories/tokens data/blimp data/glue/sst2 bench/hf_train_bench.py; do
  [[ -e "$PACK/$need" ]] || abort "$PACK/$need is missing: run make gpu-pack and carry target/gpu-pack"
done

# --- 1. libtorch_cuda loads, a device is there, Adam trains on it -------------------------------
step doctor 45 "$BIN" --device "$DEV" doctor --steps 50 || abort "lmeff doctor failed on $DEV: nothing else can run"

# --- 1b. the fused kernels: every cubin loads through the driver, SwiGLU runs against ATen ------
if [[ ! -f "$PACK/kernels/manifest.json" ]]; then
  record kernels SKIPPED - "no kernels in the pack (GPU_PACK_KERNELS=0)"
elif [[ $DEV == cuda ]]; then
  step kernels 60 "$BIN" --device cuda doctor --steps 1 --kernels "$PACK/kernels"
else
  step kernels 30 bash -c "'$BIN' doctor --steps 1 --kernels '$PACK/kernels' 2>&1 | grep -q 'fused kernels run on CUDA'"
fi

# --- 2. one model step in bf16 and in fp32 (TF32): the shim's kernels on the device -------------
export BIN DEV SEQ PACK OUT DATA MODEL VOCAB BATCH
bench() { "$BIN" --device "$DEV" bench train --seq-len "$SEQ" "$@"; }
export -f bench
step step-bf16 45 bench --sizes "${SIZES[0]}" --steps 5 --warmup-steps 1 --precision bf16
step step-fp32 45 bench --sizes "${SIZES[0]}" --steps 5 --warmup-steps 1 --precision fp32

# --- 3. tokens/s and peak memory per size (nvidia-smi sampled every 100 ms) ---------------------
with_memory() { # name budget command...: the step, with the device's peak memory in <name>.mem
  local name="$1"; shift
  local sampler=""
  if command -v nvidia-smi >/dev/null && [[ $DEV == cuda ]]; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 >"$OUT/$name.smi" 2>/dev/null &
    sampler=$!
  fi
  step "$name" "$@"
  local rc=$?
  if [[ -n $sampler ]]; then
    kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
    sort -n "$OUT/$name.smi" | tail -1 | gib >"$OUT/$name.mem"
  fi
  return $rc
}
for size in "${SIZES[@]}"; do
  with_memory "tok-$size" 90 bench --sizes "$size" --vocab "$VOCAB" --steps "$STEPS"
done

# --- 4. the configs.csv 180m row (vocab 32000): whole micro-batches, then cut to fit -----------
with_memory vocab32k 60 bench --sizes "$BIG" --vocab 32000 --steps 3 --warmup-steps 1
with_memory vocab32k-cut 60 bench --sizes "$BIG" --vocab 32000 --steps 3 --warmup-steps 1 --max-micro-batch "$SPLIT"

# --- 4b. what fusion buys per op on this card: Liger's ops (Triton JIT) against ATen, 180m shapes
if [[ ! -f "$PACK/bench/bench_ops.py" ]]; then
  record fused-ops SKIPPED - "no op benchmark in the pack (GPU_PACK_KERNELS=0)"
elif [[ $DEV != cuda ]]; then
  record fused-ops SKIPPED - "rehearsal: the fused ops are timed on the GPU only"
else
  step fused-ops 90 env PYTHONPATH="$PACK/py" "$PY" "$PACK/bench/bench_ops.py" 180m 768 1792 12 32000 16384
fi

# --- 4c. the trainer's step on the fused kernels: 200 steps against ATen's, then tokens/s per size
if [[ $DEV == cuda && ! -f "$PACK/kernels/manifest.json" ]]; then
  record fused-train SKIPPED - "no kernels in the pack (GPU_PACK_KERNELS=0)"
else
  export LMEFF_TRAIN__KERNELS_DIR="$PACK/kernels"
  LONG=$([[ $DEV == cuda ]] && echo 200 || echo 20)
  step aten-200 90 bench --sizes "${SIZES[0]}" --vocab "$VOCAB" --steps "$LONG" --warmup-steps 0 --kernels aten
  step fused-200 90 bench --sizes "${SIZES[0]}" --vocab "$VOCAB" --steps "$LONG" --warmup-steps 0 --kernels fused
  for size in "${SIZES[@]}"; do
    with_memory "fused-$size" 60 bench --sizes "$size" --vocab "$VOCAB" --steps "$STEPS" --kernels fused
  done
fi

# --- 5. NCCL with one rank: the library loads, the communicator forms, the all-reduce runs -----
if command -v mpirun >/dev/null; then
  step nccl-1rank 60 mpirun --allow-run-as-root --oversubscribe -np 1 -x LD_LIBRARY_PATH -x LIBTORCH \
    -x LMEFF_MODELS_DIR "$BIN" --device "$DEV" bench train --sizes "${SIZES[0]}" --seq-len "$SEQ" --steps 10
else
  record nccl-1rank SKIPPED - "no mpirun on this machine"
fi

# --- 6. the real trainer: initial weights equal on CPU and device, a short run with checkpoint --
mkdir -p "$DATA"
cp -r "$PACK/data/tinystories" "$DATA/"
chmod -R u+w "$DATA"
train() { # device output_dir args...
  local dev="$1" out="$2"; shift 2
  env LMEFF_TRAIN__LOG_EVERY=10 LMEFF_TRAIN__EVAL_TOKENS=20000 LMEFF_MILESTONES="[0.05]" \
    "$BIN" --device "$dev" --data-dir "$DATA" --output-dir "$out" train --dataset tinystories \
    --model "$MODEL" --vocab "$VOCAB" --seq-len "$SEQ" --batch-size "$BATCH" --grad-accum 1 --seed 0 "$@"
}
export -f train
RUN_REL="models/tinystories/llama-$MODEL/tokenizer-$VOCAB-seed-0"
step init-cpu 60 train cpu "$OUT/work/cpu" --anchor 1 --init-only
step init-device 60 train "$DEV" "$OUT/work/dev" --anchor 1 --init-only
if cmp -s "$OUT/work/cpu/$RUN_REL/budget-1M/init/model.safetensors" "$OUT/work/dev/$RUN_REL/budget-1M/init/model.safetensors"; then
  record init-equal pass - "the same initial weights on cpu and $DEV, byte for byte"
else
  record init-equal FAIL - "the initial weights differ between cpu and $DEV"
fi
step train 120 train "$DEV" "$OUT/work/train" --anchor 1 --max-steps "$TRAIN_STEPS" --profile "$OUT/profile" --profile-steps 3
RUN_DIR="$OUT/work/train/$RUN_REL/budget-1M"
cp "$RUN_DIR/metrics.jsonl" "$OUT/train-metrics.jsonl" 2>/dev/null
[[ -f "$RUN_DIR/final/model.safetensors" ]] && record train-final pass - "final/ written" ||
  record train-final FAIL - "no final/model.safetensors in $RUN_DIR"

# --- 7. BLiMP on 3 paradigms: fp32 on the CPU and the device, bf16 on the device ----------------
export INIT="$OUT/work/cpu/$RUN_REL/budget-1M/init"
PARADIGMS="$(cd "$PACK/data/blimp" && ls *.jsonl | sed 's/\.jsonl$//' | paste -sd, -)"
export PARADIGMS
blimp() { # name device precision
  "$BIN" --device "$2" --blimp-dir "$PACK/data/blimp" eval blimp --checkpoint "$INIT" \
    --paradigms "$PARADIGMS" --out "$OUT/work/blimp-$1" --precision "$3" --force --format json
}
export -f blimp
step blimp-fp32-cpu 60 blimp fp32-cpu cpu fp32
step blimp-fp32-dev 60 blimp fp32-dev "$DEV" fp32
step blimp-bf16-dev 60 blimp bf16-dev "$DEV" bf16

# --- 8. GLUE fine-tuning on the device (bool mask, last-token pooling, backward through SDPA) ---
step glue 90 "$BIN" --device "$DEV" eval glue --checkpoint "$INIT" --data "$PACK/data/glue" \
  --tasks sst2 --epochs 1 --force --out "$OUT/work/glue"

# --- 9. the study's HF stack on the same card, eager and torch.compile, if time remains ---------
if [[ $DEV != cuda ]]; then
  record hf-baseline SKIPPED - "rehearsal: the HF stack is measured on the GPU only"
elif (($(left) < 200)); then
  record hf-baseline SKIPPED - "$(left) s left, under the 200 s it needs"
else
  step hf-baseline "$(($(left) - 10))" env STEPS=20 "$PY" "$PACK/bench/hf_train_bench.py" "$(IFS=,; echo "${SIZES[*]}")" eager,compile
fi

# --- figures --------------------------------------------------------------------------------------
"$PY" - "$OUT" "$DEV" >>"$SUMMARY" 2>&1 <<'EOF'
import glob, json, os, sys
out, dev = sys.argv[1], sys.argv[2]
def lines(name):
    try:
        return [json.loads(l) for l in open(os.path.join(out, name + ".out")) if l.startswith("{")]
    except OSError:
        return []
def mem(name):
    try:
        return open(os.path.join(out, name + ".mem")).read().strip() or "-"
    except OSError:
        return "-"
print("\nfigures")
for name in ["step-bf16", "step-fp32"]:
    for r in lines(name):
        print(f"  {name}: loss {r['loss']} tok/s {r['tokens_per_s']:.0f}")
print("  %-14s %-5s %-6s %12s %10s %10s" % ("step", "size", "vocab", "tok/s", "est GiB", "peak GiB"))
for name in sorted(n[:-4] for n in os.listdir(out) if n.endswith(".out") and (n.startswith("tok-") or n.startswith("vocab32k"))):
    for r in lines(name):
        print("  %-14s %-5s %-6s %12.0f %10s %10s" % (name, r["size"], r["vocab"], r["tokens_per_s"], r["estimated_peak_gib"], mem(name)))
hf = lines("hf-baseline")
ours = {r["size"]: r["tokens_per_s"] for n in os.listdir(out) if n.startswith("tok-") and n.endswith(".out") for r in lines(n[:-4])}
for r in hf:
    size, mode = r.get("size"), r.get("mode")
    tps = r.get("tokens_per_s") or r.get("tok_per_s")
    if size in ours and tps:
        print(f"  lmeff {size} vs HF {mode}: {ours[size]:.0f} / {tps:.0f} = {ours[size] / tps:.2f}x")
aten200, fused200 = lines("aten-200"), lines("fused-200")
if aten200 and fused200:
    a, f = aten200[0]["loss"], fused200[0]["loss"]
    print(f"  {fused200[0]['steps']} steps, mean loss: aten {a:.4f}, fused {f:.4f} (|diff| {abs(a - f):.4f}, {abs(a - f) / a:.2%})")
for size in ours:
    for r in lines("fused-" + size):
        hf_compile = [x.get("tokens_per_s") or x.get("tok_per_s") for x in hf if x.get("size") == size and x.get("mode") == "compile"]
        vs = f", vs HF compile {r['tokens_per_s'] / hf_compile[0]:.2f}x" if hf_compile and hf_compile[0] else ""
        print(f"  lmeff fused {size}: {r['tokens_per_s']:.0f} tok/s, {r['tokens_per_s'] / ours[size]:.2f}x aten, peak {mem('fused-' + size)} GiB{vs}")
for r in lines("fused-ops"):
    print(f"  fused {r['op']:22} {r['fused_ms']:8.2f} ms vs ATen {r['aten_ms']:8.2f} ms = {r['speedup']:.2f}x, peak {r['fused_peak_gib']} vs {r['aten_peak_gib']} GiB")
acc = {}
for name in ["blimp-fp32-cpu", "blimp-fp32-dev", "blimp-bf16-dev"]:
    try:
        acc[name] = json.load(open(os.path.join(out, name + ".out")))[0]["accuracy"]
    except Exception:
        acc[name] = None
print("  BLiMP accuracy (3 paradigms):", ", ".join(f"{k} {v}" for k, v in acc.items()))
try:
    import pyarrow.parquet as pq
    def pairs(name):
        files = sorted(glob.glob(os.path.join(out, "work", name, "**", "pairs.parquet"), recursive=True))
        return pq.read_table(files[0]).to_pydict() if files else None
    ref = pairs("blimp-fp32-cpu")
    for name in ["blimp-fp32-dev", "blimp-bf16-dev"]:
        other = pairs(name)
        if not (ref and other):
            continue
        worst = max(abs(x - y) for k in ["logp_good", "logp_bad"] for x, y in zip(ref[k], other[k]))
        same = sum(x == y for x, y in zip(ref["correct"], other["correct"]))
        print(f"  BLiMP fp32 cpu vs {name[6:]}: max |Δ log p| {worst:.2e}, decisions equal {same}/{len(ref['correct'])}")
except ImportError:
    print("  (no pyarrow here: BLiMP compared by accuracy only)")
m = [json.loads(l) for l in open(os.path.join(out, "train-metrics.jsonl"))] if os.path.exists(os.path.join(out, "train-metrics.jsonl")) else []
tps = [r["tokens_per_s"] for r in m if r.get("tokens_per_s")]
loss = [r["loss"] for r in m if r.get("loss") is not None]
if m:
    print(f"  train: loss {loss[0]:.3f} -> {loss[-1]:.3f}, trainer tok/s {round(tps[-1]) if tps else '-'}")
traces = glob.glob(os.path.join(out, "profile", "*.json"))
print("  profile:", ", ".join(os.path.basename(t) + f" ({os.path.getsize(t) // 1024} KiB)" for t in traces) or "none")
EOF
echo "total $(($(date +%s) - START)) s of ${BUDGET} s" | tee -a "$SUMMARY"
! grep -qE '^[^ ]+ +(FAIL|ABORTED)' "$SUMMARY"
