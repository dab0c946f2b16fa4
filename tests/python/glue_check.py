"""Cross-checks a fine-tuned lmeff classifier against transformers.

usage: glue_check.py HEAD_DIR SPLIT_JSONL PREDICTIONS_PARQUET
Loads HEAD_DIR with AutoModelForSequenceClassification (it must be a LlamaForSequenceClassification
with no missing or unexpected weights) and AutoTokenizer, encodes every example of SPLIT_JSONL as
the BabyLM pipeline does (tokenizer(s1, s2, truncation=True, max_length=128)), and compares with
lmeff's test predictions: the number of tokens of every example, and the logits to 1e-4. Prints
one JSON object; exits 1 on any mismatch."""
import json, sys
import torch
import pyarrow.parquet as pq
from transformers import AutoModelForSequenceClassification, AutoTokenizer

head, split, preds = sys.argv[1], sys.argv[2], sys.argv[3]
model, info = AutoModelForSequenceClassification.from_pretrained(head, output_loading_info=True, dtype=torch.float32)
model.eval()
tok = AutoTokenizer.from_pretrained(head)
rows = [json.loads(l) for l in open(split) if l.strip()]
table = pq.read_table(preds).to_pylist()
ours = [r for r in table if r["split"] == "test"]
KEYS = [("sentence1", "sentence2"), ("question1", "question2"), ("premise", "hypothesis"), ("question", "passage"), ("question", "sentence")]
def texts(r):
    for a, b in KEYS:
        if a in r and b in r:
            return r[a], r[b]
    return r["sentence"], None
diff, length_mismatch = 0.0, 0
with torch.no_grad():
    for r, o in zip(rows, ours):
        s1, s2 = texts(r)
        ids = tok(s1, s2, truncation=True, max_length=128)["input_ids"] if s2 is not None else tok(s1, truncation=True, max_length=128)["input_ids"]
        length_mismatch += len(ids) != o["n_tokens"]
        logits = model(torch.tensor([ids])).logits[0].tolist()
        diff = max(diff, max(abs(a - b) for a, b in zip(logits, o["logits"])))
ok = (type(model).__name__ == "LlamaForSequenceClassification" and not info["missing_keys"]
      and not info["unexpected_keys"] and len(ours) == len(rows) and length_mismatch == 0 and diff <= 1e-4)
print(json.dumps({"class": type(model).__name__, "missing": info["missing_keys"], "unexpected": info["unexpected_keys"],
                  "examples": len(rows), "length_mismatches": length_mismatch, "max_abs_diff": diff, "ok": ok}))
sys.exit(0 if ok else 1)
