"""The study's data path in Python, against lmeff's study mode (`data.encoding = "study"`,
`data.tokenizer_recipe = "study"`).

    python study_encoding_check.py tokenizer TOKENIZER_JSON VOCAB FILE...
        trains a tokenizer by the study's recipe with Python `tokenizers` (the files copied through
        Python's text mode as its cleaning did, then Tokenizer.train over the copies; no initial
        alphabet) and checks lmeff's TOKENIZER_JSON equals it byte for byte.

    python study_encoding_check.py encode TOKENIZER_JSON BIN MAX_LENGTH FILE...
        encodes the files as the study's CustomDataset.process_file did — Python text reading,
        1024-character chunks, each through transformers.GPT2TokenizerFast (truncated at MAX_LENGTH
        tokens unless it is 0) — and checks lmeff's token file BIN holds the same ids, id for id.

Prints one JSON line.
"""

import json
import sys
from pathlib import Path

import numpy as np

mode = sys.argv[1]
if mode == "tokenizer":
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    ours, vocab, files = Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        min_frequency=2,
        show_progress=False,
        special_tokens=["<pad>", "<s>", "</s>"],
    )
    # The study's cleaning step copied each file through Python's text mode (its cleaner for the
    # train and dev folders is the identity): universal newlines, then training on the copies.
    import tempfile

    copies = []
    tmp = Path(tempfile.mkdtemp())
    for i, f in enumerate(files):
        copy = tmp / f"{i}-{Path(f).name}"
        with open(f, encoding="utf-8") as src, copy.open("w", encoding="utf-8") as dst:
            for line in src:
                dst.write(line)
        copies.append(str(copy))
    tok.train(copies, trainer)
    want = tok.to_str()
    got = ours.read_text(encoding="utf-8")
    if got != want:
        a, b = json.loads(got), json.loads(want)
        diff = [k for k in b["model"]["vocab"] if b["model"]["vocab"][k] != a["model"]["vocab"].get(k)]
        sys.exit(f"{ours} differs from the study's recipe in Python: {len(diff)} vocabulary entries, e.g. {diff[:5]}")
    print(json.dumps({"mode": mode, "vocab": tok.get_vocab_size(), "bytes": len(got)}))
elif mode == "encode":
    from transformers import GPT2TokenizerFast

    tok_path, bin_path, max_length, files = sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
    tokenizer = GPT2TokenizerFast(tokenizer_file=tok_path)
    want = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            text = fh.read()
        for i in range(0, len(text), 1024):
            chunk = text[i : i + 1024]
            if max_length:
                ids = tokenizer(chunk, truncation=True, max_length=max_length)["input_ids"]
            else:
                ids = tokenizer(chunk)["input_ids"]
            want.extend(ids)
    header = json.loads(bin_path.with_suffix(".json").read_text())
    got = np.fromfile(bin_path, dtype="<u2" if header["dtype"] == "u16" else "<u4")
    want = np.array(want, dtype=np.int64)
    if len(got) != len(want) or not np.array_equal(got.astype(np.int64), want):
        n = min(len(got), len(want))
        first = int(np.argmax(got[:n].astype(np.int64) != want[:n])) if n else 0
        sys.exit(f"{bin_path}: {len(got)} ids, the study's path {len(want)}; first difference at {first}")
    assert header["encoding"] == "study", header
    print(json.dumps({"mode": mode, "tokens": len(want), "file": str(bin_path)}))
else:
    sys.exit(f"unknown mode {mode}")
