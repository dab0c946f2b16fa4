"""Recomputes lmeff's decisions between configurations with numpy and scipy.

usage: decisions_check.py OVERALL_CSV DECISIONS_CSV DRAWS SEED MODELS_DIR [MEASURE]

OVERALL_CSV is lmeff's `data/overall.csv` (one row per checkpoint's overall accuracy), or a table
in its columns holding another measure (noise_check.py's margins); every MEASURE (default
`blimp`) row of DECISIONS_CSV must equal, to 1e-12, what the definitions in the docs give:
configurations are every identity column but the seed, full runs only; per group and anchor the
seeds with a value at both the anchor and the final are paired; decision accuracy is the mean of
sign(Δ at the anchor) == sign(Δ at the final) over pairs of configuration means (np.sign); the
interval is a hierarchical bootstrap drawn from SplitMix64 in the order the docs give; Spearman is
scipy's; the noise ceiling and the resolved pairs follow their definitions; the compute fraction
is Σ 6·N·min(t, T) / Σ 6·N·T over the group's runs, N counted by transformers (a
LlamaForCausalLM of the preset in MODELS_DIR, on the meta device), T the final's token count
(`milestone_millions` of the final rows; unknown in imported tables). Prints `ok N`.
"""
import csv
import itertools
import sys
from collections import defaultdict

import numpy as np
import torch
import yaml
from scipy import stats
from transformers import LlamaConfig, LlamaForCausalLM

MASK = (1 << 64) - 1


class SplitMix:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        return (self.next() * n) >> 64


def decision_accuracy(at, fin, pairs):
    agree = [np.sign(at[i] - at[j]) == np.sign(fin[i] - fin[j]) for i, j in pairs]
    return float(np.mean(agree)) if agree else float("nan")


def all_pairs(n):
    return list(itertools.combinations(range(n), 2))


def bootstrap(paired, draws, seed):
    rng = SplitMix(seed)
    n = len(paired)
    values = []
    for _ in range(draws):
        picks, at, fin = [], [], []
        for _ in range(n):
            p = rng.below(n)
            picks.append(p)
            c = paired[p]
            idx = [rng.below(len(c)) for _ in range(len(c))]
            at.append(sum(c[k][0] for k in idx) / len(c))
            fin.append(sum(c[k][1] for k in idx) / len(c))
        pairs = [(i, j) for i, j in all_pairs(n) if picks[i] != picks[j]]
        if pairs:
            values.append(decision_accuracy(at, fin, pairs))
    if not values:
        return float("nan"), float("nan")
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def noise_ceiling(finals):
    many = [f for f in finals if len(f) >= 2]
    if len(many) < 2:
        return float("nan")
    k = min(len(f) for f in many)
    out = []
    for j in range(k):
        one = [f[j] for f in many]
        rest = [(sum(f) - f[j]) / (len(f) - 1) for f in many]
        out.append(decision_accuracy(one, rest, all_pairs(len(many))))
    return float(np.mean(out))


def pairs_resolved(paired):
    finals = [np.array([p[1] for p in c]) for c in paired]
    dof = sum(len(f) - 1 for f in finals)
    if len(finals) < 2 or dof == 0:
        return float("nan")
    sigma = np.sqrt(sum(((f - f.mean()) ** 2).sum() for f in finals) / dof)
    hits = [
        abs(finals[a].mean() - finals[b].mean())
        > 2 * sigma * np.sqrt(1 / len(finals[a]) + 1 / len(finals[b]))
        for a, b in all_pairs(len(finals))
    ]
    return float(np.mean(hits))


PARAMS = {}


def parameters(models_dir, model, vocab):
    """Trainable parameters of the preset `model` at `vocab` tokens, as transformers builds it."""
    key = (model, vocab)
    if key not in PARAMS:
        shape = yaml.safe_load(open(f"{models_dir}/{model}.yaml"))["model"]
        config = LlamaConfig(vocab_size=vocab, **shape)
        with torch.device("meta"):
            PARAMS[key] = sum(p.numel() for p in LlamaForCausalLM(config).parameters())
    return PARAMS[key]


def compute_fraction(members, t, models_dir):
    spent = full = 0.0
    for config, curve in members:
        n = parameters(models_dir, config[1], config[2])
        for total in curve["tokens"].values():
            if total is None:
                return float("nan")
            spent += 6.0 * n * min(t, total)
            full += 6.0 * n * total
    return spent / full


def size_key(s):
    s = s.lower()
    scale = {"k": 1e3, "m": 1e6, "b": 1e9}.get(s[-1:], None)
    try:
        return (False, float(s[:-1]) * scale if scale else float(s), s)
    except ValueError:
        return (True, 0.0, s)


def study(overall):
    """Configurations of the full runs in OVERALL_CSV (sorted), their curves and the groups."""
    # configuration -> {"at": {tokens: {seed: acc}}, "final": {seed: acc}, "tokens": {seed: T}}
    curves = defaultdict(lambda: {"at": defaultdict(dict), "final": {}, "tokens": {}})
    for r in csv.DictReader(open(overall)):
        if r["anchor"] != "full":
            continue
        config = (r["dataset"], r["model_size"], int(r["vocab_size"]), r["anchor"], r["schedule"])
        s = int(r["seed"])
        if r["milestone"] == "final":
            curves[config]["final"][s] = float(r["acc"])
            m = r["milestone_millions"]
            curves[config]["tokens"][s] = round(float(m) * 1e6) if m else None
        elif float(r["milestone"]) > 0:
            curves[config]["at"][round(float(r["milestone"]) * 1e6)][s] = float(r["acc"])
    configs = sorted(curves)
    groups = [("global", list(range(len(configs))))]
    sizes = sorted({c[1] for c in configs}, key=size_key)
    if len(sizes) > 1:
        groups += [(f"model_size={m}", [i for i, c in enumerate(configs) if c[1] == m]) for m in sizes]
    datasets = sorted({c[0] for c in configs})
    if len(datasets) > 1:
        groups += [(f"dataset={d}", [i for i, c in enumerate(configs) if c[0] == d]) for d in datasets]
    for v in sorted({c[2] for c in configs}):
        members = [i for i, c in enumerate(configs) if c[2] == v]
        if len({configs[i][1] for i in members}) > 1:
            groups.append((f"across_sizes,vocab_size={v}", members))
    return configs, curves, groups


def paired_at(curve, t):
    """The seeds with a value at anchor t and at the final: (anchor, final), seed order."""
    at = curve["at"].get(t, {})
    return [(at[s], curve["final"][s]) for s in sorted(at) if s in curve["final"]]


def main():
    overall, decisions, draws, seed, models_dir = sys.argv[1:6]
    measure = sys.argv[6] if len(sys.argv) > 6 else "blimp"
    draws, seed = int(draws), int(seed)
    configs, curves, groups = study(overall)
    want = []
    for name, members in groups:
        finals = [[curves[configs[i]]["final"][s] for s in sorted(curves[configs[i]]["final"])] for i in members]
        ceiling = noise_ceiling(finals)
        anchors = sorted({t for i in members for t in curves[configs[i]]["at"]})
        for t in anchors:
            paired = [p for p in (paired_at(curves[configs[i]], t) for i in members) if p]
            if not paired:
                continue
            at_m = [sum(p[0] for p in c) / len(c) for c in paired]
            fin_m = [sum(p[1] for p in c) / len(c) for c in paired]
            winner = int(np.argmax(fin_m))
            lo, hi = bootstrap(paired, draws, seed)
            want.append({
                "group": name,
                "milestone": t / 1e6,
                "n_configs": len(paired),
                "n_seeds_min": min(len(c) for c in paired),
                "decision_accuracy": decision_accuracy(at_m, fin_m, all_pairs(len(paired))),
                "ci_low": lo,
                "ci_high": hi,
                "spearman_configs": float(stats.spearmanr(at_m, fin_m).statistic),
                "winner_rank": 1 + sum(a > at_m[winner] for a in at_m),
                "noise_ceiling": ceiling,
                "pairs_resolved": pairs_resolved(paired),
                "compute_fraction": compute_fraction(
                    [(configs[i], curves[configs[i]]) for i in members], t, models_dir),
            })

    got = [r for r in csv.DictReader(open(decisions)) if r["measure"] == measure]
    assert len(got) == len(want), (len(got), len(want))
    for g, w in zip(got, want):
        assert g["group"] == w["group"], (g["group"], w["group"])
        for k, v in w.items():
            if k == "group":
                continue
            cell = g[k]
            if isinstance(v, float) and np.isnan(v):
                assert cell == "", (w["group"], w["milestone"], k, cell)
                continue
            assert cell != "", (w["group"], w["milestone"], k)
            assert abs(float(cell) - v) <= 1e-12, (w["group"], w["milestone"], k, cell, v)
    print("ok", len(want))


if __name__ == "__main__":
    main()
