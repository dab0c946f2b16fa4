#!/usr/bin/env bash
# `make demo` / `make demo-slurm`: the whole study in miniature, with the exact commands a study runs.
#   data:  the sample corpora when LMEFF_SAMPLE_DATA points at them (a folder holding
#          tinystories/train/ and babylm/train/), otherwise small downloads by `lmeff data fetch`:
#          TinyStories' validation file and BabyLM 2025's 10M-word archive (the study's babylm3);
#          either cut to 400,000 words (with a 5% dev split) by `lmeff data mix`; and BLiMP unless
#          LMEFF_BLIMP_DIR or data/blimp holds it. The fetch says how much it downloads first.
#   then:  prepare → 4 configurations (2 datasets × 2 vocabulary sizes, tiny model) × 2 seeds with
#          milestones → BLiMP on every checkpoint → aggregate → results/demo/report.html. With
#          --slurm, training, evaluation and aggregation run as chained array jobs on the Slurm
#          cluster through `lmeff launch`.
# LMEFF_MIRROR=URL fetches from a mirror (`lmeff data fetch --mirror`); LMEFF_BIN picks the binary;
# LMEFF_DEMO_PARADIGMS=a,b,… fetches and scores only these BLiMP paradigms (the end-to-end test's
# shorter demo).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source env/lmeff.env
SETTINGS=configs/demo/lmeff.toml
DATA=data/demo
say() { if [[ -t 1 && -z ${NO_COLOR:-} ]]; then printf '\n\033[1m== %s\033[0m\n' "$*"; else printf '\n== %s\n' "$*"; fi; }
run() { printf '$ %s\n' "$*"; "$@"; }
LMEFF_BIN=${LMEFF_BIN:-lmeff}
lm() { run "$LMEFF_BIN" --config "$SETTINGS" "$@"; }
fetch() { lm data fetch "$@" ${LMEFF_MIRROR:+--mirror "$LMEFF_MIRROR"}; }

say "data"
blimp=blimp
only=()
if [[ -n ${LMEFF_DEMO_PARADIGMS:-} ]]; then
  blimp="blimp:$(sed -E 's/([^,]+)/\1.jsonl/g' <<<"$LMEFF_DEMO_PARADIGMS")"
  only=(--paradigms "$LMEFF_DEMO_PARADIGMS")
fi
# What the demo downloads when it must: source:file of configs/sources.toml, and the folder each
# lands in under $DATA/download.
declare -A PICK=([tinystories]=tinystories:TinyStoriesV2-GPT4-valid.txt [babylm]=babylm3:train_10M.zip)
declare -A LANDS=([tinystories]=tinystories/dev [babylm]=babylm2025_10m/train)
# Where each dataset's text comes from, and how much of it the demo trains on.
declare -A FROM=()
WORDS=400000
picks=()
for d in tinystories babylm; do
  if [[ -d $DATA/$d/train ]]; then
    echo "$DATA/$d is there"
  elif [[ -n ${LMEFF_SAMPLE_DATA:-} ]]; then
    FROM[$d]=$LMEFF_SAMPLE_DATA/$d/train
  else
    picks+=("${PICK[$d]}")
    FROM[$d]=$DATA/download/${LANDS[$d]}
  fi
done
if [[ -z ${LMEFF_BLIMP_DIR:-} ]] && (($(ls data/blimp/*.jsonl 2>/dev/null | wc -l) < 67)); then
  picks+=("$blimp")
  export LMEFF_BLIMP_DIR=$PWD/$DATA/download/blimp
fi
if ((${#picks[@]})); then
  if ! fetch "${picks[@]}" --dest "$DATA/download"; then
    cat >&2 <<EOF

The demo could not download its data (the error above says what it tried).
Without network, point it at local text instead:
  LMEFF_SAMPLE_DATA=DIR make demo
where DIR holds tinystories/train/ and babylm/train/ with plain text files (one example per
line; BabyLM's *.train files as they come), and put BLiMP's 67 paradigm files
(<paradigm>.jsonl) in data/blimp or set LMEFF_BLIMP_DIR to their folder.
EOF
    exit 1
  fi
fi
for d in tinystories babylm; do
  if [[ -n ${FROM[$d]:-} ]]; then
    lm data mix --name "$d" --source "$d=${FROM[$d]}:1" --words "$WORDS"
  fi
done
for d in tinystories babylm; do
  lm data prepare --dataset "$d"   # vocab_sizes = [1000, 2000] from configs/demo/lmeff.toml
done

say "the plan"
lm plan

if [[ ${1:-} == --slurm ]]; then
  say "Slurm: train → eval (aftercorr) → aggregate (afterany)"
  lm launch
  lm status --wait --interval 5
else
  say "training and BLiMP, run by run"
  while IFS=$'\t' read -r task run_id run_dir; do
    echo "-- $run_id"
    lm -q train --task-index "$task"
    lm -q eval blimp --run "$run_dir" "${only[@]}"
  done < <("$LMEFF_BIN" --config "$SETTINGS" plan --format tsv)
  say "aggregate"
  lm aggregate
fi

say "done"
echo "report: results/demo/report.html (and report.md); tables in results/demo/data/; checkpoints in output/demo/"
