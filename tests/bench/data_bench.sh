#!/usr/bin/env bash
# make bench-data: lmeff's data path vs the seed study's Python path, same machine, same files.
#  1. tokenize: the tinystories sample (train replicated to ~30 MB) with the same 16k tokenizer;
#     lmeff `data tokenize` vs the study's CustomDataset.process_file loop; MB/s of cleaned text.
#     Both are timed over the same window (encoding and writing, after the tokenizer is loaded:
#     lmeff's own log line, the Python script's perf_counter); lmeff's whole-command wall clock,
#     which adds ~0.3 s of process start-up (mostly loading libtorch), is printed too.
#  2. BPE training of the 16k tokenizer on the cleaned sample corpora (tinystories + babylm + web):
#     lmeff `data tokenizer` vs Python tokenizers with the same recipe.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/env/lmeff.env"
BIN="$ROOT/target/release/lmeff"
PY="$LMEFF_VENV/bin/python"
SHARED="${LMEFF_SHARED_DATA:-$ROOT/../shared/data}"
WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT
now() { date +%s%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", (b-a)/1e9}'; }

# A ~30 MB tinystories corpus from the sample.
mkdir -p "$WORK/data/big/train" "$WORK/data/big/dev"
for i in $(seq 1 30); do cat "$SHARED/corpora/tinystories/train/TinyStories-sample.txt"; done >"$WORK/data/big/train/stories.txt"
cp "$SHARED/corpora/tinystories/dev/TinyStories-valid-sample.txt" "$WORK/data/big/dev/"
lm() { "$BIN" -q --data-dir "$WORK/data" "$@"; }
lm data clean --dataset big
lm data tokenizer --dataset big --vocab-sizes 16000

echo "== tokenize (train ~30 MB, 16k tokenizer, $(nproc) cores)"
t0=$(now); "$BIN" --data-dir "$WORK/data" data tokenize --dataset big --vocab-sizes 16000 2>"$WORK/tok.log"; t1=$(now)
bytes=$(cat "$WORK"/data/big/{train,dev}_clean/* | wc -c)
wall_secs=$(secs "$t0" "$t1")
lm_secs=$(grep -o 'secs="[0-9.]*"' "$WORK/tok.log" | tr -dc '0-9.\n' | awk '{s+=$1} END{printf "%.3f", s}')
lm_mbs=$(awk -v b="$bytes" -v s="$lm_secs" 'BEGIN{printf "%.2f", b/1e6/s}')
wall_mbs=$(awk -v b="$bytes" -v s="$wall_secs" 'BEGIN{printf "%.2f", b/1e6/s}')
py=$("$PY" "$ROOT/tests/bench/study_data.py" tokenize "$WORK/data/big/tokenizers/tokenizer_16000.json" "$WORK"/data/big/train_clean/* "$WORK"/data/big/dev_clean/*)
py_mbs=$(echo "$py" | "$PY" -c 'import json,sys; print("%.2f" % json.load(sys.stdin)["mb_per_s"])')
echo "lmeff data tokenize:          $lm_mbs MB/s ($bytes bytes in $lm_secs s)"
echo "  whole command, wall clock:  $wall_mbs MB/s ($wall_secs s)"
echo "study process_file (Python):  $py_mbs MB/s"
awk -v a="$lm_mbs" -v b="$py_mbs" 'BEGIN{printf "ratio lmeff/study:            %.1fx\n", a/b}'
awk -v a="$wall_mbs" -v b="$py_mbs" 'BEGIN{printf "  wall-clock ratio:           %.1fx\n", a/b}'

echo "== BPE training, vocab 16000, cleaned sample corpora (tinystories + babylm + web)"
for d in tinystories babylm web; do cp -r "$SHARED/corpora/$d" "$WORK/data/$d"; chmod -R u+w "$WORK/data/$d"; lm data clean --dataset "$d"; done
mkdir -p "$WORK/data/all/train" "$WORK/data/all/dev"
for d in tinystories babylm web; do
  for s in train dev; do for f in "$WORK/data/$d/${s}_clean"/*; do cp "$f" "$WORK/data/all/${s}_clean_$(basename "$f")" 2>/dev/null || true; done; done
done
mkdir -p "$WORK/data/all/train_clean" "$WORK/data/all/dev_clean"
mv "$WORK"/data/all/train_clean_* "$WORK/data/all/train_clean/" 2>/dev/null || true
mv "$WORK"/data/all/dev_clean_* "$WORK/data/all/dev_clean/" 2>/dev/null || true
t0=$(now); lm data tokenizer --dataset all --vocab-sizes 16000; t1=$(now)
lm_train=$(secs "$t0" "$t1")
py=$("$PY" "$ROOT/tests/bench/study_data.py" train 16000 "$WORK"/data/all/train_clean/* "$WORK"/data/all/dev_clean/*)
py_train=$(echo "$py" | "$PY" -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["secs"])')
echo "lmeff data tokenizer:         $lm_train s (whole command, start-up included)"
echo "Python tokenizers (same recipe): $py_train s"
awk -v a="$lm_train" -v b="$py_train" 'BEGIN{printf "speed-up lmeff/Python:        %.2fx\n", b/a}'
