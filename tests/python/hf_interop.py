"""Loads an lmeff checkpoint with transformers and compares with lmeff's own forward pass.

usage: hf_interop.py CHECKPOINT_DIR LMEFF_DUMP_JSON
The dump holds the text lines lmeff encoded, its ids [batch, time] and its fp32 logits (a raw
little-endian file next to the JSON). Checks: PreTrainedTokenizerFast gives the same ids, and
LlamaForCausalLM's logits equal lmeff's to 1e-4. Prints one JSON object; exits 1 on a mismatch."""
import json, sys
import numpy as np
import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

ckpt, dump_path = sys.argv[1], sys.argv[2]
dump = json.load(open(dump_path))
tok = PreTrainedTokenizerFast.from_pretrained(ckpt)
model = LlamaForCausalLM.from_pretrained(ckpt, dtype=torch.float32, attn_implementation="sdpa").eval()
ids = torch.tensor(dump["ids"], dtype=torch.long)
t = ids.shape[1]
hf_ids = [tok(line, add_special_tokens=False)["input_ids"][:t] for line in dump["lines"]]
same_ids = hf_ids == dump["ids"]
with torch.no_grad():
    logits = model(ids).logits.float().numpy()
ours = np.fromfile(dump["logits_file"], dtype="<f4").reshape(logits.shape)
diff = float(np.abs(logits - ours).max())
ok = same_ids and diff <= 1e-4
print(json.dumps({"same_ids": same_ids, "max_abs_diff": diff, "shape": list(logits.shape),
                  "architectures": model.config.architectures, "ok": ok}))
sys.exit(0 if ok else 1)
