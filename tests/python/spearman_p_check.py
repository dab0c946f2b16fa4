"""Checks lmeff's Spearman p-values against scipy.

usage: spearman_p_check.py OVERALL_CSV PREDICTIVENESS_CSV

OVERALL_CSV is a study long table (dataset,model_size,milestone,vocab_size,seed,acc) of one
configuration; each `global` row of lmeff's predictiveness.csv must carry the p-value scipy gives
for that milestone's accuracies against the finals: the exact permutation test (every pairing) for
`exact`, spearmanr's t approximation for `t approximation`. Prints `ok`.
"""
import csv
import sys

import numpy as np
from scipy import stats

overall, predictiveness = sys.argv[1:]
acc = {}
for r in csv.DictReader(open(overall)):
    acc.setdefault(r["milestone"], {})[int(r["seed"])] = float(r["acc"])
final = acc["final"]
checked = 0
for r in csv.DictReader(open(predictiveness)):
    if r["group"] != "global":
        continue
    at = acc[r["milestone"]] if r["milestone"] in acc else acc[str(int(float(r["milestone"])))]
    seeds = sorted(set(at) & set(final))
    x = np.array([at[s] for s in seeds])
    y = np.array([final[s] for s in seeds])
    if r["p_method"] == "exact":
        want = stats.permutation_test(
            (x,), lambda x: stats.spearmanr(x, y).statistic,
            permutation_type="pairings", n_resamples=np.inf,
        ).pvalue
    else:
        want = stats.spearmanr(x, y).pvalue
    got = float(r["p_value"])
    assert abs(want - got) <= 1e-12 + 1e-9 * abs(want), (r["milestone"], want, got)
    checked += 1
assert checked > 0, "no global rows"
print("ok")
