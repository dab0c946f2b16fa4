"""The seed study's BLiMP scoring loop (src/models/eval/blimp_flexible.py logic) with transformers:
128 pairs a batch, good and bad sentences padded together, "<s>" + sentence, fp32 log_softmax,
summed log-probabilities of the tokens after <s>; a pair is correct iff good > bad. Shared by the
cross-check (hf_blimp_check.py) and the benchmark (tests/bench/study_blimp.py)."""
import json, time
import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast


def score(ckpt, blimp_dir, paradigms, tokenizer_class=PreTrainedTokenizerFast):
    """Returns (pairs, good log-probs, bad log-probs, seconds spent scoring)."""
    tok = tokenizer_class.from_pretrained(ckpt)
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
    return pairs, good, bad, time.perf_counter() - t0
