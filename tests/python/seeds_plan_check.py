"""Recomputes lmeff's seeds plan (`data/seeds_plan.csv`) with numpy and scipy.

usage: seeds_plan_check.py OVERALL_CSV SEEDS_PLAN_CSV

The model (docs: *How many seeds*): per group and anchor, over the configurations with seeds
paired at the anchor and the final, σ² is the seed variance pooled within configurations at each
side; a pair's true difference is sign(Δ)·√max(0, Δ² − σ²(1/n_a + 1/n_b)); with s = σ·√(2/k) it is
resolved with probability Φ(|d|/s − 2) + Φ(−|d|/s − 2) and ordered alike with probability
Φ(δ/s_a)Φ(d/s_f) + Φ(−δ/s_a)Φ(−d/s_f) (scipy's `norm.cdf`); both averaged over pairs. Every `blimp`
row must equal it to 1e-12. Prints `ok ROWS`.
"""
import csv
import itertools
import os
import sys

import numpy as np
from scipy import stats

sys.path.insert(0, os.path.dirname(__file__))
from decisions_check import paired_at, study  # noqa: E402


def pooled(paired, side):
    ss = sum(((np.array([p[side] for p in c]) - np.mean([p[side] for p in c])) ** 2).sum() for c in paired)
    dof = sum(len(c) - 1 for c in paired)
    return ss / dof if dof else float("nan")


def true_difference(observed, var, na, nb):
    return np.copysign(np.sqrt(max(0.0, observed**2 - var * (1 / na + 1 / nb))), observed)


def main():
    overall, plan = sys.argv[1:3]
    configs, curves, groups = study(overall)
    got = [r for r in csv.DictReader(open(plan)) if r["measure"] == "blimp"]
    ks = sorted({int(r["seeds"]) for r in got})
    want = []
    for name, members in groups:
        anchors = sorted({t for i in members for t in curves[configs[i]]["at"]})
        for t in anchors:
            paired = [p for p in (paired_at(curves[configs[i]], t) for i in members) if p]
            va, vf = pooled(paired, 0), pooled(paired, 1)
            if len(paired) < 2 or np.isnan(va):
                continue
            for k in ks:
                sa, sf = np.sqrt(2 * va / k), np.sqrt(2 * vf / k)
                resolved = agree = 0.0
                pairs = list(itertools.combinations(paired, 2))
                for a, b in pairs:
                    mean = lambda c, side: sum(p[side] for p in c) / len(c)  # noqa: E731
                    delta = true_difference(mean(a, 0) - mean(b, 0), va, len(a), len(b))
                    d = true_difference(mean(a, 1) - mean(b, 1), vf, len(a), len(b))
                    resolved += stats.norm.cdf(abs(d) / sf - 2) + stats.norm.cdf(-abs(d) / sf - 2)
                    pa, pf = stats.norm.cdf(delta / sa), stats.norm.cdf(d / sf)
                    agree += pa * pf + (1 - pa) * (1 - pf)
                want.append((name, t / 1e6, k, np.sqrt(va), np.sqrt(vf),
                             resolved / len(pairs), agree / len(pairs)))
    assert len(got) == len(want), (len(got), len(want))
    for g, w in zip(got, want):
        assert (g["group"], float(g["milestone"]), int(g["seeds"])) == w[:3], (g, w[:3])
        for key, v in zip(("seed_sd_anchor", "seed_sd_final", "expected_pairs_resolved",
                           "expected_decision_accuracy"), w[3:]):
            assert abs(float(g[key]) - v) <= 1e-12, (w[:3], key, g[key], v)
    print("ok", len(want))


main()
