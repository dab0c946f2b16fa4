"""The seed study's Python data path, for side-by-side timing with lmeff (make bench-data).

tokenize: CustomDataset.process_file: read the file, cut it into 1024-character chunks, one
          tokenizer.encode per chunk.
train:    the study's tokenizer recipe with HF tokenizers' Python API on the same cleaned files.
Prints one JSON object."""
import json, sys, time
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, decoders, processors, trainers

mode = sys.argv[1]
if mode == "tokenize":
    tok_path, files = sys.argv[2], sys.argv[3:]
    tok = Tokenizer.from_file(tok_path)
    t0 = time.perf_counter()
    n_bytes = n_tokens = 0
    for f in files:
        text = open(f, encoding="utf-8").read()
        n_bytes += len(text.encode("utf-8"))
        for i in range(0, len(text), 1024):
            n_tokens += len(tok.encode(text[i:i + 1024]).ids)
    secs = time.perf_counter() - t0
    print(json.dumps({"mode": mode, "bytes": n_bytes, "tokens": n_tokens, "secs": secs, "mb_per_s": n_bytes / 1e6 / secs}))
elif mode == "train":
    vocab, files = int(sys.argv[2]), sys.argv[3:]
    t0 = time.perf_counter()
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab, min_frequency=2, show_progress=False,
                                  special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train(files, trainer)
    secs = time.perf_counter() - t0
    print(json.dumps({"mode": mode, "vocab": tok.get_vocab_size(), "secs": secs}))
