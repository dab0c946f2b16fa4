"""Writes a study long table as lmeff's own BLiMP result files.

usage: write_lmeff_results.py STUDY_CSV RESULTS_DIR FINAL_MILLIONS

Each row of STUDY_CSV (dataset,model_size,milestone,vocab_size,seed,acc,anchor) becomes one
checkpoint's `summary.parquet` in lmeff's results layout, with one paradigm whose pair counts give
exactly that accuracy (correct / 10^6) and the tokens it had seen (a final: FINAL_MILLIONS, or the
budget of a budget run), and a `pairs.parquet` of four pairs whose margins log p(good) − log p(bad)
are spread around 4·(acc − ½), so that the margin ranks the configurations a little differently.
Prints the number of checkpoints written.
"""
import csv
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema([
    ("dataset", pa.string()), ("model_size", pa.string()), ("vocab_size", pa.int64()),
    ("seed", pa.int64()), ("anchor", pa.string()), ("schedule", pa.string()),
    ("milestone", pa.string()), ("tokens_seen", pa.int64()), ("checkpoint", pa.string()),
    ("checkpoint_sha256", pa.string()), ("paradigm", pa.string()), ("field", pa.string()),
    ("linguistics_term", pa.string()), ("n", pa.int64()), ("correct", pa.int64()),
    ("accuracy", pa.float64()), ("stderr", pa.float64()),
])
N = 1_000_000

study, results, final_millions = sys.argv[1], sys.argv[2], float(sys.argv[3])
written = 0
for r in csv.DictReader(open(study)):
    anchor = r.get("anchor") or "full"
    budget = "" if anchor == "full" else f"budget-{anchor}"
    folder = os.path.join(
        results, "blimp", r["dataset"], r["model_size"], f"seed-{r['seed']}",
        f"tok-{r['vocab_size']}", budget, r["milestone"])
    os.makedirs(folder, exist_ok=True)
    correct = round(float(r["acc"]) * N)
    if r["milestone"] != "final":
        tokens = round(float(r["milestone"]) * 1e6)
    elif anchor == "full":
        tokens = round(final_millions * 1e6)
    else:
        tokens = round(float(anchor.rstrip("M")) * 1e6)
    p = correct / N
    row = {
        "dataset": r["dataset"], "model_size": r["model_size"],
        "vocab_size": int(r["vocab_size"]), "seed": int(r["seed"]), "anchor": anchor,
        "schedule": None, "milestone": r["milestone"], "tokens_seen": tokens,
        "checkpoint": folder, "checkpoint_sha256": "0" * 64,
        "paradigm": "passive_1", "field": "syntax",
        "linguistics_term": "argument_structure", "n": N, "correct": correct,
        "accuracy": p, "stderr": (p * (1 - p) / N) ** 0.5,
    }
    table = pa.Table.from_pylist([row], schema=SCHEMA)
    pq.write_table(table, os.path.join(folder, "summary.parquet"))
    centre = 4 * (p - 0.5) + 0.01 * ((int(r["seed"]) * 7 + len(r["milestone"])) % 5 - 2)
    margins = [centre - 0.3, centre + 0.1, centre + 0.05, centre + 0.15]
    good = [-30.0 - j for j in range(4)]
    pairs = pa.table({
        "paradigm": ["passive_1"] * 4, "pair_id": [str(j) for j in range(4)],
        "field": ["syntax"] * 4, "linguistics_term": ["argument_structure"] * 4,
        "logp_good": good, "logp_bad": [g - m for g, m in zip(good, margins)],
        "n_tokens_good": [8] * 4, "n_tokens_bad": [8] * 4,
        "correct": [m > 0 for m in margins],
    })
    pq.write_table(pairs, os.path.join(folder, "pairs.parquet"))
    written += 1
print(written)
