"""Cross-checks lmeff's BLiMP results against the study's scoring loop run with transformers.

usage: hf_blimp_check.py CHECKPOINT_DIR RESULTS_DIR BLIMP_DIR PARADIGM[,PARADIGM...]
The study's loop: 128 pairs a batch, good and bad sentences padded together, "<s>" + sentence,
log_softmax in fp32, summed log-probabilities of the tokens after <s>; correct iff good > bad.
Reads lmeff's pairs.parquet and summary.parquet with pyarrow and compares per pair: log-probs to
1e-4 and identical decisions. Prints one JSON object; exits 1 on any mismatch."""
import json, sys
import pyarrow.parquet as pq
import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

ckpt, results, blimp_dir, paradigms = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
tok = PreTrainedTokenizerFast.from_pretrained(ckpt)
model = LlamaForCausalLM.from_pretrained(ckpt, dtype=torch.float32).eval()
pairs = [json.loads(l) for p in paradigms for l in open(f"{blimp_dir}/{p}.jsonl")]


@torch.no_grad()
def lls(sents):
    enc = tok(sents, return_tensors="pt", padding=True)
    ids, mask = enc["input_ids"], enc["attention_mask"]
    logits = model(ids, attention_mask=mask).logits
    lp = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    return (lp * mask[:, 1:]).sum(1)


good_lp, bad_lp = [], []
for b in range(0, len(pairs), 128):
    batch = pairs[b:b + 128]
    s = lls(["<s>" + p["sentence_good"] for p in batch] + ["<s>" + p["sentence_bad"] for p in batch])
    good_lp += s[:len(batch)].tolist()
    bad_lp += s[len(batch):].tolist()

table = pq.read_table(f"{results}/pairs.parquet").to_pydict()
summary = pq.read_table(f"{results}/summary.parquet").to_pydict()
keys = list(zip(table["paradigm"], table["pair_id"]))
assert keys == [(p["UID"], str(p["pairID"])) for p in pairs], "pairs.parquet rows are not BLiMP's pairs in order"
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
