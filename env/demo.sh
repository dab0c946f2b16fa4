#!/usr/bin/env bash
# `make demo` / `make demo-slurm`: the whole study in miniature, with the exact commands a study runs.
#   data:  the sample corpora when LMEFF_SAMPLE_DATA points at them (a folder holding tinystories/
#          and babylm/ in the study's layout), otherwise TinyStories and BabyLM downloaded by
#          `lmeff data fetch` and cut to 2M words each by `lmeff data mix`; BLiMP from LMEFF_BLIMP_DIR,
#          data/blimp, or downloaded.
#   then:  prepare → 2 datasets × tiny model × 2 seeds with milestones → BLiMP on every checkpoint →
#          aggregate → results/demo/report.html. With --slurm, training, evaluation and aggregation
#          run as chained array jobs on the Slurm cluster through `lmeff launch`.
# LMEFF_MIRROR=URL fetches from a mirror (`lmeff data fetch --mirror`); LMEFF_BIN picks the binary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source env/lmeff.env
SETTINGS=configs/demo/lmeff.toml
DATA=data/demo
say() { if [[ -t 1 ]]; then printf '\n\033[1m== %s\033[0m\n' "$*"; else printf '\n== %s\n' "$*"; fi; }
run() { printf '$ %s\n' "$*"; "$@"; }
LMEFF_BIN=${LMEFF_BIN:-lmeff}
lm() { run "$LMEFF_BIN" --config "$SETTINGS" "$@"; }
fetch() { lm data fetch "$@" ${LMEFF_MIRROR:+--mirror "$LMEFF_MIRROR"}; }

say "data"
for d in tinystories babylm; do
  if [[ -d $DATA/$d/train ]]; then
    echo "$DATA/$d is there"
  elif [[ -n ${LMEFF_SAMPLE_DATA:-} ]]; then
    run mkdir -p "$DATA/$d"
    run cp -r "$LMEFF_SAMPLE_DATA/$d/train" "$LMEFF_SAMPLE_DATA/$d/dev" "$DATA/$d/"
    chmod -R u+w "$DATA/$d"
  else
    source_name=$([[ $d == babylm ]] && echo babylm3 || echo tinystories)
    fetch "$source_name" --dest "$DATA/download"
    lm data mix --name "$d" --source "$d=$DATA/download/$d/train:1" --words 2000000
  fi
done
if [[ -z ${LMEFF_BLIMP_DIR:-} ]]; then
  if (($(ls data/blimp/*.jsonl 2>/dev/null | wc -l) < 67)); then
    fetch blimp --dest data
  fi
fi
for d in tinystories babylm; do
  lm data prepare --dataset "$d"   # vocab_sizes = [1000] from configs/demo/lmeff.toml
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
    lm -q eval blimp --run "$run_dir"
  done < <("$LMEFF_BIN" --config "$SETTINGS" plan --format tsv)
  say "aggregate"
  lm aggregate
fi

say "done"
echo "report: results/demo/report.html (and report.md); tables in results/demo/data/; checkpoints in output/demo/"
