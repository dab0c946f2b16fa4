"""Cross-checks lmeff's BLiMP results against the study's scoring loop run with transformers
(study_loop.py).

usage: hf_blimp_check.py CHECKPOINT_DIR RESULTS_DIR BLIMP_DIR PARADIGM[,PARADIGM...] [auto]
With `auto`, the tokenizer is loaded with AutoTokenizer (as the study's released models are).
The study's loop: 128 pairs a batch, good and bad sentences padded together, "<s>" + sentence,
log_softmax in fp32, summed log-probabilities of the tokens after <s>; correct iff good > bad.
Reads lmeff's pairs.parquet and summary.parquet with pyarrow and compares per pair: log-probs to
1e-4 and identical decisions. Prints one JSON object; exits 1 on any mismatch."""
import json, sys
import pyarrow.parquet as pq
from transformers import AutoTokenizer, PreTrainedTokenizerFast
from study_loop import score

ckpt, results, blimp_dir, paradigms = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
tokenizer_class = AutoTokenizer if sys.argv[5:] == ["auto"] else PreTrainedTokenizerFast
pairs, good_lp, bad_lp, _ = score(ckpt, blimp_dir, paradigms, tokenizer_class)

table = pq.read_table(f"{results}/pairs.parquet").to_pydict()
summary = pq.read_table(f"{results}/summary.parquet").to_pydict()
keys = list(zip(table["paradigm"], table["pair_id"]))
assert keys == [(p["UID"], int(p["pairID"])) for p in pairs], "pairs.parquet rows are not BLiMP's pairs in order"
assert str(pq.read_schema(f"{results}/pairs.parquet").field("pair_id").type) == "int64"
diff = max(max(abs(a - b) for a, b in zip(good_lp, table["logp_good"])),
           max(abs(a - b) for a, b in zip(bad_lp, table["logp_bad"])))
ours = table["correct"]
theirs = [g > b for g, b in zip(good_lp, bad_lp)]
disagree = sum(a != b for a, b in zip(ours, theirs))
acc = {p: sum(c for c, q in zip(theirs, table["paradigm"]) if q == p) / 1000 for p in paradigms}
summary_ok = all(abs(acc[p] - a) < 1e-12 for p, a in zip(summary["paradigm"], summary["accuracy"]))
ok = diff <= 1e-4 and disagree == 0 and summary_ok and len(table["correct"]) == len(pairs)
print(json.dumps({"pairs": len(pairs), "max_abs_diff": diff, "disagreements": disagree,
                  "hf_accuracy": acc, "summary_ok": summary_ok, "ok": ok}))
sys.exit(0 if ok else 1)
