"""Recomputes lmeff's race replay with scipy.

usage: race_check.py OVERALL_CSV RACE_CSV RACE_JSON GROUP_BY MIN_ANCHOR ALPHA KEEP MODELS_DIR

OVERALL_CSV is an aggregate's `data/overall.csv` of the same results. The rule (docs book,
"Racing"): configurations (every identity column but the seed) of full runs, grouped by the
GROUP_BY columns (comma-separated; `-` for none); the rungs are the group's anchors from
MIN_ANCHOR millions of tokens on; at each rung, among the configurations still racing that have
seeds there, the leader is the highest seed mean; every other is tested with scipy's
`ttest_ind(it, leader, equal_var=False, alternative="less")` (left out when undefined: one seed
or no spread); p-values Holm-adjusted over the rung's tests; rejected at ALPHA, at most
(racing − KEEP) of them, the largest gap first (then the smaller adjusted p). The final rank is by
the final seed mean; compute is Σ N·tokens with stopped runs at their rung, N counted by
transformers. Prints `ok ROWS ELIMINATED`.
"""
import csv
import json
import os
import sys
from collections import defaultdict

import numpy as np
from scipy import stats

sys.path.insert(0, os.path.dirname(__file__))
from decisions_check import parameters  # noqa: E402

IDENTITY = ("dataset", "model_size", "vocab_size", "anchor", "schedule")


def holm(p):
    m = len(p)
    order = sorted(range(m), key=lambda i: (p[i], i))
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def main():
    overall, race_csv, race_json, group_by, min_anchor, alpha, keep, models = sys.argv[1:9]
    by = [] if group_by == "-" else group_by.split(",")
    min_anchor, alpha, keep = float(min_anchor), float(alpha), int(keep)
    curves = defaultdict(lambda: {"at": defaultdict(dict), "final": {}, "tokens": {}})
    for r in csv.DictReader(open(overall)):
        if r["anchor"] != "full":
            continue
        c = tuple(r[k] for k in IDENTITY)
        s = int(r["seed"])
        if r["milestone"] == "final":
            curves[c]["final"][s] = float(r["acc"])
            m = r["milestone_millions"]
            curves[c]["tokens"][s] = round(float(m) * 1e6) if m else None
        elif float(r["milestone"]) > 0:
            curves[c]["at"][round(float(r["milestone"]) * 1e6)][s] = float(r["acc"])
    groups = defaultdict(list)
    for c in sorted(curves, key=lambda c: (c[0], c[1], int(c[2]), c[3], c[4])):
        name = ",".join(f"{k}={c[IDENTITY.index(k)]}" for k in by) or "all"
        groups[name].append(c)
    got = {(r["group"], r["dataset"], r["model_size"], r["vocab_size"]): r
           for r in csv.DictReader(open(race_csv))}
    outcome = {g["group"]: g for g in json.load(open(race_json))["groups"]}
    rows = eliminated = 0
    for name, members in groups.items():
        rungs = sorted({t for c in members for t in curves[c]["at"] if t >= round(min_anchor * 1e6)})
        out = {}
        for t in rungs:
            alive = [c for c in members if c not in out]
            entries = [(c, [curves[c]["at"][t][s] for s in sorted(curves[c]["at"][t])])
                       for c in alive if t in curves[c]["at"]]
            k = max(1, keep - (len(alive) - len(entries)))
            means = [np.mean(v) for _, v in entries]
            lead = int(np.argmax(means))
            tests = []
            for i, (c, v) in enumerate(entries):
                if i == lead or len(v) < 2 or len(entries[lead][1]) < 2:
                    continue
                if np.var(v) == 0 and np.var(entries[lead][1]) == 0:
                    continue
                p = stats.ttest_ind(v, entries[lead][1], equal_var=False, alternative="less").pvalue
                tests.append((i, float(p)))
            adj = holm([p for _, p in tests])
            rejected = [(a, means[i] - means[lead], i, p) for (i, p), a in zip(tests, adj) if a <= alpha]
            rejected.sort(key=lambda x: (x[1], x[0], x[2]))
            for a, gap, i, p in rejected[:max(0, len(entries) - k)]:
                out[entries[i][0]] = (t, gap, p, a)
        finals = {c: np.mean(list(curves[c]["final"].values())) for c in members if curves[c]["final"]}
        spent = full = 0.0
        for c in members:
            r = got[(name, c[0], c[1], c[2])]
            rank = 1 + sum(f > finals[c] for f in finals.values())
            assert r["final_rank"] == str(rank), (name, c, r["final_rank"], rank)
            n = parameters(models, c[1], int(c[2]))
            for total in curves[c]["tokens"].values():
                if total is None:
                    spent = full = float("nan")
                    break
                spent += n * (min(out[c][0], total) if c in out else total)
                full += n * total
            if c not in out:
                assert r["eliminated_at"] == "", (name, c, r)
                continue
            t, gap, p, a = out[c]
            assert float(r["eliminated_at"]) == t / 1e6, (name, c, r["eliminated_at"], t)
            for key, want in (("gap", gap), ("p_value", p), ("p_holm", a)):
                assert abs(float(r[key]) - want) <= 1e-12 * max(1.0, abs(want)), (name, c, key, r[key], want)
            eliminated += 1
        rows += len(members)
        frac = outcome[name]["compute_fraction"]
        if np.isnan(spent):
            assert frac is None, (name, frac)
        else:
            assert abs(frac - spent / full) <= 1e-12, (name, frac, spent / full)
        best = max(finals, key=finals.get)
        assert outcome[name]["best_survived"] == (best not in out), name
    assert rows == len(got), (rows, len(got))
    print("ok", rows, eliminated)


main()
