"""Recomputes the `global` rows of lmeff's `data/prediction.csv` with numpy and scipy.

usage: prediction_check.py DATA_DIR

From `fits.csv` (each full run's predicted and actual final per last anchor used) and
`overall.csv` (the raw accuracy at that anchor), over the runs with a fit: the mean absolute
error, Spearman ρ of predicted and of raw against the finals (scipy's `spearmanr`), and the
share of run pairs each orders as the finals do (np.sign, a tie being sign 0). The fits
themselves are lmeff's least squares; what is checked is everything computed from them.
Prints `ok ROWS`.
"""
import csv
import itertools
import os
import sys
from collections import defaultdict

import numpy as np
from scipy import stats


def agree(x, y):
    pairs = list(itertools.combinations(range(len(x)), 2))
    same = [np.sign(x[i] - x[j]) == np.sign(y[i] - y[j]) for i, j in pairs]
    return float(np.mean(same)) if same else float("nan")


def main():
    data = sys.argv[1]
    rows = lambda f: list(csv.DictReader(open(os.path.join(data, f))))  # noqa: E731
    raw = {}
    for r in rows("overall.csv"):
        if r["anchor"] == "full" and r["milestone"] != "final":
            key = (r["dataset"], r["model_size"], r["vocab_size"], r["seed"], float(r["milestone"]))
            raw[key] = float(r["acc"])
    by_m = defaultdict(list)
    for f in rows("fits.csv"):
        if f["predicted_final"]:
            key = (f["dataset"], f["model_size"], f["vocab_size"], f["seed"], float(f["milestone"]))
            by_m[float(f["milestone"])].append(
                (float(f["predicted_final"]), float(f["actual_final"]), raw[key]))
    got = {float(r["milestone"]): r for r in rows("prediction.csv") if r["group"] == "global"}
    checked = 0
    for m, runs in sorted(by_m.items()):
        pred, actual, anchor = (np.array(v) for v in zip(*runs))
        g = got[m]
        want = {
            "n_fits": len(runs),
            "mae": float(np.mean(np.abs(pred - actual))),
            "spearman_predicted": float(stats.spearmanr(pred, actual).statistic),
            "spearman_raw": float(stats.spearmanr(anchor, actual).statistic),
            "decision_accuracy_predicted": agree(pred, actual),
            "decision_accuracy_raw": agree(anchor, actual),
        }
        for k, v in want.items():
            assert abs(float(g[k]) - v) <= 1e-12, (m, k, g[k], v)
        checked += 1
    assert checked == sum(1 for r in got.values() if int(r["n_fits"]) > 0), (checked, len(got))
    print("ok", checked)


main()
