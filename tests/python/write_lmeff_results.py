"""Writes a study long table as lmeff's own BLiMP result files.

usage: write_lmeff_results.py STUDY_CSV RESULTS_DIR FINAL_MILLIONS

Each row of STUDY_CSV (dataset,model_size,milestone,vocab_size,seed,acc,anchor) becomes one
checkpoint's `summary.parquet` in lmeff's results layout, with one paradigm whose pair counts give
exactly that accuracy (correct / 10^6) and the tokens it had seen (a final: FINAL_MILLIONS, or the
budget of a budget run). Prints the number of files written.
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
        "paradigm": "anaphor_gender_agreement", "field": "morphology",
        "linguistics_term": "anaphor_agreement", "n": N, "correct": correct,
        "accuracy": p, "stderr": (p * (1 - p) / N) ** 0.5,
    }
    table = pa.Table.from_pylist([row], schema=SCHEMA)
    pq.write_table(table, os.path.join(folder, "summary.parquet"))
    written += 1
print(written)
