#!/usr/bin/env bash
# make bench-blimp: lmeff's BLiMP scoring vs the study's loop (tests/bench/study_blimp.py: HF
# transformers, 128 pairs a batch, padded, fp32 log_softmax) on this CPU, the same 20m checkpoint
# (the seeded initialisation of a 20m run on the tinystories sample tokenizer), the same first 10
# paradigms (10,000 pairs, as ../shared/bench/hf_blimp_bench.py). Prints pairs/s of both, the ratio,
# whether the fp32 decisions are identical, and how often bf16 agrees with fp32.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/env/lmeff.env"
BIN="$ROOT/target/release/lmeff"
PY="$LMEFF_VENV/bin/python"
SHARED="${LMEFF_SHARED_DATA:-$ROOT/../shared/data}"
BLIMP="$SHARED/blimp"
WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT
export LMEFF_MODELS_DIR="$ROOT/configs/models"
cd "$WORK"
mkdir -p data && cp -r "$SHARED/corpora/tinystories" data/ && chmod -R u+w data
"$BIN" -q --data-dir data data prepare --dataset tinystories --vocab-sizes 16000 2>/dev/null
"$BIN" -q --data-dir data train --dataset tinystories --model 20m --vocab 16000 --seed 0 --init-only >/dev/null
CK="$(find output -type d -name init | head -1)"
PARADIGMS="$(ls "$BLIMP"/*.jsonl | head -10 | xargs -n1 basename | sed 's/\.jsonl$//' | paste -sd,)"
score() { "$BIN" --blimp-dir "$BLIMP" eval blimp --checkpoint "$CK" --paradigms "$PARADIGMS" --force --out "$1" --precision "$2" 2>/dev/null | sed -E 's/.*\(([0-9.]+) pairs\/s\).*/\1/'; }
echo "== BLiMP scoring, 20m checkpoint, 10 paradigms (10,000 pairs), $(nproc) cores"
fp32=$(score fp32 fp32)
bf16=$(score bf16 bf16)
py=$("$PY" "$ROOT/tests/bench/study_blimp.py" "$CK" "$BLIMP" "$PARADIGMS" fp32/pairs.parquet bf16/pairs.parquet 2>/dev/null)
get() { echo "$py" | "$PY" -c "import json,sys; r=json.load(sys.stdin); print($1)"; }
study=$(get 'round(r["pairs_per_s"], 1)')
printf '%-36s %8s pairs/s\n' "study loop (HF transformers, fp32):" "$study" "lmeff, fp32:" "$fp32" "lmeff, bf16:" "$bf16"
awk -v a="$fp32" -v b="$bf16" -v s="$study" 'BEGIN{printf "ratio lmeff fp32 / study:            %.2fx\nratio lmeff bf16 / study:            %.2fx\n", a/s, b/s}'
echo "fp32 decisions equal to the study's:  $(get 'r["vs_lmeff"][0]["same_decisions"]') (max |Δ log p| $(get '"%.1e" % r["vs_lmeff"][0]["max_abs_logp_diff"]'))"
echo "bf16 decisions equal to fp32 study:   $(get 'r["vs_lmeff"][1]["same_decisions"]')"
