"""Replays an lmeff GLUE fine-tuning trace in a plain PyTorch loop with transformers' model, and
compares every step's loss.

usage: glue_replay.py CHECKPOINT TRACE_DIR TRAIN_JSONL
The trace (lmeff eval glue --trace) gives the initial weights (init.safetensors: the checkpoint's
and the fresh head) and, per step, the training examples and lmeff's loss and learning rate. The
loop: LlamaForSequenceClassification from CHECKPOINT with those weights, the examples encoded by
AutoTokenizer(s1, s2, truncation=True, max_length=128), right-padded with an attention mask,
cross-entropy, clip_grad_norm_(1.0), torch.optim.AdamW(lr=5e-5, weight_decay=0) and
get_linear_schedule_with_warmup(0 warm-up steps) over the trace's steps (the HF Trainer recipe).
Prints one JSON object; exits 1 if a loss differs by more than 1e-4 relative or a learning rate
differs from transformers' schedule."""
import json, sys
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer, LlamaForSequenceClassification, get_linear_schedule_with_warmup

ckpt, trace, train = sys.argv[1], sys.argv[2], sys.argv[3]
init = load_file(f"{trace}/init.safetensors")
model = LlamaForSequenceClassification.from_pretrained(ckpt, num_labels=init["score.weight"].shape[0], dtype=torch.float32)
model.load_state_dict(init, strict=True)
model.train()
tok = AutoTokenizer.from_pretrained(ckpt)
rows = [json.loads(l) for l in open(train) if l.strip()]
def ids(r):
    if "sentence1" in r:
        return tok(r["sentence1"], r["sentence2"], truncation=True, max_length=128)["input_ids"]
    return tok(r["sentence"], truncation=True, max_length=128)["input_ids"]
encoded = [ids(r) for r in rows]
steps = [json.loads(l) for l in open(f"{trace}/steps.jsonl")]
opt = torch.optim.AdamW(model.parameters(), lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
sched = get_linear_schedule_with_warmup(opt, 0, len(steps))
pad = model.config.pad_token_id
worst_loss, worst_lr = 0.0, 0.0
for st in steps:
    worst_lr = max(worst_lr, abs(sched.get_last_lr()[0] - st["lr"]))
    batch = [encoded[i] for i in st["rows"]]
    longest = max(map(len, batch))
    input_ids = torch.tensor([b + [pad] * (longest - len(b)) for b in batch])
    mask = torch.tensor([[1] * len(b) + [0] * (longest - len(b)) for b in batch])
    labels = torch.tensor([int(rows[i]["label"]) for i in st["rows"]])
    loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    opt.zero_grad()
    worst_loss = max(worst_loss, abs(loss.item() - st["loss"]) / abs(st["loss"]))
ok = worst_loss <= 1e-4 and worst_lr <= 1e-12 and len(steps) > 0
print(json.dumps({"steps": len(steps), "epochs": steps[-1]["epoch"], "max_rel_loss_diff": worst_loss,
                  "max_lr_diff": worst_lr, "first_loss": steps[0]["loss"], "last_loss": steps[-1]["loss"], "ok": ok}))
sys.exit(0 if ok else 1)
