"""Recomputes lmeff's noise tables (chance, learning, signal_noise) with numpy and scipy.

usage: noise_check.py DATA_DIR [RESULTS_DIR MARGINS_CSV]

DATA_DIR is an aggregate's `data/`. With RESULTS_DIR (lmeff's own result files), each
checkpoint's mean margin log p(good) − log p(bad) is recomputed from its `pairs.parquet` and
written to MARGINS_CSV in `overall.csv`'s columns (for decisions_check.py), and the
`blimp_margin` rows are checked too. Definitions (docs book, "Noise"):
- chance: per configuration (every identity column but the seed) and checkpoint, with two seeds
  or more (and a spread) scipy's two-sided `ttest_1samp` against chance (0.5 for accuracy, 0 for
  the margin); with one seed, 2·Φ(−|z|) of z = (mean − 0.5) / (√Σ 0.25/n / k);
- learning: full runs, final minus the first milestone after 0; the seed variance of the changes
  pooled within configurations, df = Σ (k − 1), se = √(s² / runs), noise = t.ppf(0.975, df)·se,
  p = 2·t.sf(|Δ/se|, df);
- signal_noise: per task and milestone over full runs' configurations (two at least): signal =
  max − min of configuration means, noise = mean seed SD (ddof 1) over configurations with two
  seeds, snr = signal / noise.
Prints `ok CHANCE LEARNING SIGNAL_NOISE`.
"""
import csv
import glob
import os
import sys
from collections import defaultdict

import numpy as np
import pyarrow.parquet as pq
from scipy import stats

IDENTITY = ("dataset", "model_size", "vocab_size", "schedule", "anchor")


def rows(path):
    return list(csv.DictReader(open(path)))


def config(r):
    return tuple(r[c] for c in IDENTITY)


def close(a, b):
    if isinstance(b, float) and np.isnan(b):
        return a == ""
    return a != "" and abs(float(a) - b) <= 1e-12 * max(1.0, abs(b))


def chance(records, measure, level):
    cells = defaultdict(list)
    for r in records:
        cells[(config(r), r["milestone"])].append(r)
    want = {}
    for key, rs in cells.items():
        v = np.array([float(r["acc"]) for r in rs])
        k, m = len(v), v.mean()
        sd = v.std(ddof=1) if k >= 2 else float("nan")
        if k >= 2 and sd > 0:
            p, basis = stats.ttest_1samp(v, level).pvalue, "seeds"
        elif all(r.get("n") for r in rs):
            var = sum(0.25 / float(r["n"]) for r in rs) / k**2
            p, basis = 2 * stats.norm.sf(abs(m - level) / np.sqrt(var)), "binomial"
        else:
            continue
        verdict = "within chance" if p >= 0.05 else ("above chance" if m > level else "below chance")
        want[(measure,) + key[0] + (key[1],)] = {"n_seeds": k, "mean": m, "seed_sd": sd, "chance": level,
                                  "p_value": float(p), "basis": basis, "verdict": verdict}
    return want


def learning(records, measure):
    runs = defaultdict(dict)
    for r in records:
        if r["anchor"] == "full":
            runs[(config(r), r["seed"])][r["milestone"]] = r
    changes = defaultdict(list)
    binomial = 0.0
    for (c, _), ms in runs.items():
        early = [m for m in ms if m != "final" and float(m) > 0]
        if not early or "final" not in ms:
            continue
        first = ms[min(early, key=float)]
        last = ms["final"]
        changes[c].append(float(last["acc"]) - float(first["acc"]))
        if first.get("n") and last.get("n") and binomial is not None:
            binomial += 0.25 / float(first["n"]) + 0.25 / float(last["n"])
        else:
            binomial = None
    allc = [d for c in changes.values() for d in c]
    if not allc:
        return {}
    n, delta = len(allc), float(np.mean(allc))
    df = sum(len(c) - 1 for c in changes.values())
    ss = sum(((np.array(c) - np.mean(c)) ** 2).sum() for c in changes.values())
    if df > 0 and ss > 0:
        se = np.sqrt(ss / df / n)
        out = {"noise": stats.t.ppf(0.975, df) * se, "df": df,
               "p_value": 2 * stats.t.sf(abs(delta / se), df), "basis": "seeds"}
    else:
        se = np.sqrt(binomial) / n
        out = {"noise": stats.norm.ppf(0.975) * se, "df": float("nan"),
               "p_value": 2 * stats.norm.sf(abs(delta / se)), "basis": "binomial"}
    out.update({"n_runs": n, "n_configs": len(changes), "delta": delta})
    return {(measure,): out}


def signal_noise(records, measure, task_of):
    cells = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r["anchor"] == "full":
            cells[(task_of(r), r["milestone"])][config(r)].append(float(r["acc"]))
    want = {}
    for (task, m), configs in cells.items():
        if len(configs) < 2:
            continue
        means = [np.mean(v) for v in configs.values()]
        sds = [np.std(v, ddof=1) for v in configs.values() if len(v) >= 2]
        noise = float(np.mean(sds)) if sds else float("nan")
        signal = float(max(means) - min(means))
        want[(measure, task, m)] = {"n_configs": len(configs),
                                    "n_seeds_min": min(len(v) for v in configs.values()),
                                    "signal": signal, "noise": noise, "snr": signal / noise}
    return want


def margins(results, out):
    """One overall-like row per checkpoint of lmeff's results: its mean margin."""
    written = []
    for summary in sorted(glob.glob(os.path.join(results, "**", "summary.parquet"), recursive=True)):
        s = pq.read_table(summary).to_pylist()[0]
        pairs = pq.read_table(os.path.join(os.path.dirname(summary), "pairs.parquet"))
        good, bad = np.array(pairs["logp_good"]), np.array(pairs["logp_bad"])
        m = s["milestone"]
        millions = float(m) if m != "final" else s["tokens_seen"] / 1e6
        written.append({
            "dataset": s["dataset"], "model_size": s["model_size"],
            "vocab_size": s["vocab_size"], "seed": s["seed"], "schedule": s["schedule"] or "cosine",
            "anchor": s["anchor"] or "full", "milestone": m, "milestone_millions": millions,
            "acc": float(np.sum(good - bad) / len(good)), "n": "",
        })
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(written[0]))
        w.writeheader()
        w.writerows(written)
    return [{k: str(v) for k, v in r.items()} for r in written]


def check(got_rows, keys, want, name):
    got = {tuple(r[k] for k in keys): r for r in got_rows}
    assert set(got) == set(want), (name, sorted(set(got) ^ set(want), key=str)[:5])
    for key, w in want.items():
        g = got[key]
        for k, v in w.items():
            if isinstance(v, str):
                assert g[k] == v, (name, key, k, g[k], v)
            elif isinstance(v, int):
                assert g[k] == str(v), (name, key, k, g[k], v)
            else:
                assert close(g[k], float(v)), (name, key, k, g[k], v)
    return len(want)


def main():
    data = sys.argv[1]
    overall = rows(os.path.join(data, "overall.csv"))
    paradigms = rows(os.path.join(data, "per_paradigm.csv"))
    want_chance = chance(overall, "blimp", 0.5)
    want_learning = learning(overall, "blimp")
    want_sn = signal_noise(overall, "blimp", lambda r: "overall")
    want_sn.update(signal_noise(paradigms, "blimp", lambda r: r["paradigm"]))
    if len(sys.argv) > 2:
        margin = margins(sys.argv[2], sys.argv[3])
        want_chance.update(chance(margin, "blimp_margin", 0.0))
        want_learning.update(learning(margin, "blimp_margin"))
        want_sn.update(signal_noise(margin, "blimp_margin", lambda r: "overall"))
    n_chance = check(rows(os.path.join(data, "chance.csv")), ("measure",) + IDENTITY + ("milestone",),
                     want_chance, "chance")
    n_learning = check(rows(os.path.join(data, "learning.csv")), ("measure",), want_learning, "learning")
    n_sn = check(rows(os.path.join(data, "signal_noise.csv")), ("measure", "task", "milestone"),
                 want_sn, "signal_noise")
    print("ok", n_chance, n_learning, n_sn)


main()
