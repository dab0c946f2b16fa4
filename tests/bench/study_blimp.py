"""The seed study's BLiMP scoring loop (tests/python/study_loop.py, as in
../shared/bench/hf_blimp_bench.py) on a given checkpoint, for `make bench-blimp`.

usage: study_blimp.py CHECKPOINT BLIMP_DIR PARADIGM[,...] [LMEFF_PAIRS_PARQUET...]
Prints one JSON object: pairs/s, accuracy, and per given lmeff pairs.parquet the share of pairs
with the same decision and the largest log-prob difference."""
import json, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from study_loop import score

ckpt, blimp_dir, paradigms, ours = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4:]
pairs, good, bad, secs = score(ckpt, blimp_dir, paradigms)
decisions = [g > b for g, b in zip(good, bad)]
report = {"pairs": len(pairs), "pairs_per_s": len(pairs) / secs, "acc": sum(decisions) / len(pairs)}
for path in ours:
    import pyarrow.parquet as pq
    t = pq.read_table(path).to_pydict()
    same = sum(a == b for a, b in zip(t["correct"], decisions)) / len(pairs)
    diff = max(max(abs(a - b) for a, b in zip(t["logp_good"], good)), max(abs(a - b) for a, b in zip(t["logp_bad"], bad)))
    report.setdefault("vs_lmeff", []).append({"file": path, "same_decisions": same, "max_abs_logp_diff": diff})
print(json.dumps(report))
