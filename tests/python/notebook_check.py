"""Runs the Python cells of the book's notebook page on a results folder, in order, in one
namespace (as a notebook would), with `results` pointed at that folder after the first cell, and
checks that pandas, polars and duckdb computed the same learning curves.

    python notebook_check.py docs/src/guide/notebook.md RESULTS_DIR
"""

import contextlib
import io
import os
import re
import sys
import tempfile
from pathlib import Path

import pandas as pd

page, results = Path(sys.argv[1]), Path(sys.argv[2]).resolve()
cells = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
assert len(cells) >= 6, f"{page}: {len(cells)} python cells"

ns = {}
os.chdir(tempfile.mkdtemp())  # no cell may lean on the folder it runs in
for i, cell in enumerate(cells):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(cell, f"{page} cell {i + 1}", "exec"), ns)
    if i == 0:
        assert isinstance(ns.get("results"), Path), "the first cell defines results"
        ns["results"] = results
    elif "print(" in cell:
        assert out.getvalue().strip(), f"cell {i + 1} printed nothing"
    sys.stdout.write(out.getvalue())

key = ["dataset", "model_size", "vocab_size", "schedule", "milestone"]


def frame(df):
    df = df[key + ["mean_acc"]].copy()
    df["vocab_size"] = df["vocab_size"].astype("int64")
    df["mean_acc"] = df["mean_acc"].astype("float64")
    return df.sort_values(key).reset_index(drop=True)


a = frame(ns["curves"])
b = frame(ns["curves_pl"].to_pandas())
c = frame(ns["curves_db"])
assert len(a) > 0 and a["mean_acc"].between(0, 1).all(), a
for name, other in (("polars", b), ("duckdb", c)):
    assert a[key].equals(other[key]), f"pandas and {name} disagree on the rows:\n{a}\n{other}"
    gap = (a["mean_acc"] - other["mean_acc"]).abs().max()
    assert gap < 1e-9, f"pandas and {name} disagree by {gap}"
assert len(ns["per_paradigm"]) > 0 and len(ns["decisions"]) > 0
print(f"notebook: {len(cells)} cells ran; {len(a)} curve points agree in pandas, polars and duckdb")
