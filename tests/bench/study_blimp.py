"""The seed study's BLiMP scoring loop (src/models/eval/blimp_flexible.py logic, as in
../shared/bench/hf_blimp_bench.py) on a given checkpoint, for `make bench-blimp`: 128 pairs a
batch, good+bad padded together, "<s>" + sentence, fp32 log_softmax, summed log-probs.

usage: study_blimp.py CHECKPOINT BLIMP_DIR PARADIGM[,...] [LMEFF_PAIRS_PARQUET...]
Prints one JSON object: pairs/s, accuracy, and per given lmeff pairs.parquet the share of pairs
with the same decision and the largest log-prob difference."""
import json, sys, time
import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

ckpt, blimp_dir, paradigms, ours = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4:]
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


good, bad = [], []
t0 = time.perf_counter()
for b in range(0, len(pairs), 128):
    batch = pairs[b:b + 128]
    s = lls(["<s>" + p["sentence_good"] for p in batch] + ["<s>" + p["sentence_bad"] for p in batch])
    good += s[:len(batch)].tolist()
    bad += s[len(batch):].tolist()
secs = time.perf_counter() - t0
decisions = [g > b for g, b in zip(good, bad)]
report = {"pairs": len(pairs), "pairs_per_s": len(pairs) / secs, "acc": sum(decisions) / len(pairs)}
for path in ours:
    import pyarrow.parquet as pq
    t = pq.read_table(path).to_pydict()
    same = sum(a == b for a, b in zip(t["correct"], decisions)) / len(pairs)
    diff = max(max(abs(a - b) for a, b in zip(t["logp_good"], good)), max(abs(a - b) for a, b in zip(t["logp_bad"], bad)))
    report.setdefault("vs_lmeff", []).append({"file": path, "same_decisions": same, "max_abs_logp_diff": diff})
print(json.dumps(report))
