#!/usr/bin/env bash
# make bench-glue: lmeff's GLUE fine-tuning (`lmeff eval glue`: length-bucketed batches padded to
# their longest example, the trainer's step) vs the BabyLM pipeline's (tests/bench/study_glue.py: HF
# Trainer, every example padded to 128) on the same task, checkpoint and epochs. The task is made
# from the sample corpora (TinyStories or web line?, 60% TinyStories). Checkpoints: `tiny` trained
# on 50,000 TinyStories tokens (it learns the task, so the metrics say something), and the seeded
# initialisations of the study's presets (vocabulary 16000). Prints examples/s of both, the ratio,
# and each side's test accuracy and F1.
#
#   DEVICE=cpu|cuda  SIZES=tiny,20m  N_TRAIN=640   (the defaults: this CPU)
#   EPOCHS=N         at most N epochs (default: the recipe's 10 for tiny, 3 for the presets on a CPU)
#   LMEFF_BIN=… PYTHON=…  for a machine without env/lmeff.env (make gpu-check sets them)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [[ -z "${LMEFF_BIN:-}" ]]; then source "$ROOT/env/lmeff.env"; fi
BIN="${LMEFF_BIN:-$ROOT/target/release/lmeff}"
PY="${PYTHON:-$LMEFF_VENV/bin/python}"
DEVICE="${DEVICE:-cpu}" SIZES="${SIZES:-tiny,20m}" N_TRAIN="${N_TRAIN:-640}"
SHARED="${LMEFF_SHARED_DATA:-$ROOT/../shared/data}"
export LMEFF_MODELS_DIR="$ROOT/configs/models"
# HF Trainer needs accelerate, which make setup does not install: it goes into the venv here.
HF=yes
if ! "$PY" -c "import accelerate" 2>/dev/null; then
  "$PY" -m pip install -q --retries 0 --timeout 20 "accelerate>=1.1" 2>/dev/null || HF=no
fi
WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
mkdir -p data && cp -r "$SHARED/corpora/tinystories" data/ && chmod -R u+w data
"$BIN" -q --data-dir data data prepare --dataset tinystories --vocab-sizes 1000,16000 >/dev/null 2>&1
"$PY" "$ROOT/tests/bench/study_glue.py" task "$SHARED/corpora" glue "$N_TRAIN"
field() { "$PY" -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }
echo "== GLUE fine-tuning on $DEVICE, $N_TRAIN training examples, $(nproc) cores"
printf '%-6s %12s %12s %7s  %-24s %-24s\n' model "lmeff ex/s" "HF ex/s" ratio "lmeff test acc / F1" "HF test acc / F1"
for size in ${SIZES//,/ }; do
  if [[ "$size" == tiny ]]; then E="${EPOCHS:-10}"; else E="${EPOCHS:-3}"; fi
  if [[ "$size" == tiny ]]; then
    LMEFF_TRAIN__EVAL_TOKENS=2000 "$BIN" -q --data-dir data train --dataset tinystories --model tiny \
      --vocab 1000 --seq-len 64 --anchor 0.05 --seed 0 >/dev/null 2>&1
    CK="output/models/tinystories/llama-tiny/tokenizer-1000-seed-0/budget-0.05M/final"
  else
    "$BIN" -q --data-dir data train --dataset tinystories --model "$size" --vocab 16000 --seed 0 --init-only >/dev/null
    CK="output/models/tinystories/llama-$size/tokenizer-16000-seed-0/init"
  fi
  t0=$(date +%s.%N)
  "$BIN" -q --device "$DEVICE" eval glue --checkpoint "$CK" --data glue --tasks sst2 --epochs "$E" \
    --out "res-$size" --force >/dev/null
  t1=$(date +%s.%N)
  S="res-$size/glue_results.json"
  ran=$(field "$S" 'r["tasks"]["sst2"]["epochs"]')
  ours=$(awk -v e="$ran" -v n="$N_TRAIN" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", e*n/(b-a)}')
  ours_m=$(field "$S" '"%.3f / %.3f (%d ep)" % (r["tasks"]["sst2"]["test"]["accuracy"], r["tasks"]["sst2"]["test"]["f1"], r["tasks"]["sst2"]["epochs"])')
  if [[ "$HF" == yes ]]; then
    "$PY" "$ROOT/tests/bench/study_glue.py" run "$CK" glue "$E" "$DEVICE" 2>/dev/null | tail -1 >"hf-$size.json"
    theirs=$(field "hf-$size.json" '"%.1f" % r["examples_per_s"]')
    theirs_m=$(field "hf-$size.json" '"%.3f / %.3f (%d ep)" % (r["test_accuracy"], r["test_f1"], r["epochs"])')
    ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN{printf "%.2fx", a/b}')
  else
    theirs="-" theirs_m="(no accelerate: HF Trainer not run)" ratio="-"
  fi
  printf '%-6s %12s %12s %7s  %-24s %-24s\n' "$size" "$ours" "$theirs" "$ratio" "$ours_m" "$theirs_m"
done
