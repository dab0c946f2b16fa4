#!/usr/bin/env bash
# make bench-aggregate: `lmeff aggregate` on study-sized inputs — 54 full runs (3 datasets x 3 sizes
# x 6 vocab/seed combinations) x 13 checkpoints (12 milestones + final): 702 overall rows and
# 47,034 per-paradigm rows — with 10,000 bootstrap draws per (group, milestone). Prints the time
# (goal: under 1 s on 2 cores).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/env/lmeff.env"
BIN="$ROOT/target/release/lmeff"
WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT
"$LMEFF_VENV/bin/python" - "$WORK" <<'PY'
import random, sys
random.seed(1)
out = sys.argv[1]
ms = [25, 50, 75, 100, 250, 500, 750, 1000, 1250, 1500, 1750, 2000, "final"]
with open(f"{out}/overall.csv", "w") as o, open(f"{out}/tasks.csv", "w") as t:
    o.write("dataset,model_size,milestone,vocab_size,seed,acc\n")
    t.write("dataset,model_size,milestone,vocab_size,seed,task,acc\n")
    for ds in ["tinystories", "babylm", "web"]:
        for size in ["20m", "60m", "180m"]:
            for vocab, seed in [(8000, 0), (8000, 1), (16000, 0), (16000, 1), (32000, 0), (32000, 1)]:
                skill = random.random()
                for i, m in enumerate(ms):
                    acc = 0.5 + 0.25 * skill * (i + 1) / len(ms) + random.gauss(0, 0.01)
                    o.write(f"{ds},{size},{m},{vocab},{seed},{acc:.4f}\n")
                    for p in range(67):
                        t.write(f"{ds},{size},{m},{vocab},{seed},blimp_paradigm_{p},{acc + random.gauss(0, 0.05):.4f}\n")
PY
echo "== lmeff aggregate: $(($(wc -l <"$WORK/overall.csv") - 1)) overall rows, $(($(wc -l <"$WORK/tasks.csv") - 1)) per-paradigm rows, 10,000 bootstrap draws, $(nproc) cores"
(cd "$WORK" && "$BIN" -q aggregate --import-csv "$WORK/overall.csv" --import-csv "$WORK/tasks.csv" --out "$WORK/out" --bootstrap 10000) | head -1
echo "predictiveness rows: $(($(wc -l <"$WORK/out/data/predictiveness.csv") - 1))"
