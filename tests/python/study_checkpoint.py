"""Builds a checkpoint the study's way, as its released models were made: a BPE tokenizer trained
with the study's recipe (NFKC, ByteLevel with the prefix space, specials <pad> <s> </s>,
min_frequency 2) wrapped in a GPT2TokenizerFast and saved with save_pretrained, and a
LlamaForCausalLM saved with save_pretrained, plus the study's milestone_meta.json.

usage: study_checkpoint.py OUT CORPUS_FILE VOCAB"""
import json, sys
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, decoders, trainers
from transformers import GPT2TokenizerFast, LlamaConfig, LlamaForCausalLM

out, corpus, vocab = sys.argv[1], sys.argv[2], int(sys.argv[3])
tok = Tokenizer(models.BPE())
tok.normalizer = normalizers.NFKC()
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
tok.post_processor = processors.ByteLevel(trim_offsets=True)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=vocab, min_frequency=2, special_tokens=["<pad>", "<s>", "</s>"],
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
tok.train([corpus], trainer)
wrapped = GPT2TokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<s>")
wrapped.save_pretrained(out)

torch.manual_seed(0)
config = LlamaConfig(vocab_size=len(wrapped), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
                     bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=False,
                     initializer_range=0.3)
LlamaForCausalLM(config).save_pretrained(out, safe_serialization=True)
json.dump({"tokens_seen": 25_000_000, "global_step": 48, "milestone": "25M", "dataset": "babylm3",
           "model_config": "20m", "seed": 0, "tokenizer_vocab_size": vocab},
          open(f"{out}/milestone_meta.json", "w"), indent=2)
print(json.dumps({"vocab": len(wrapped)}))
