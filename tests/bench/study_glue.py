"""The BabyLM pipeline's GLUE fine-tuning (its finetune_classification.py: HF Trainer on
AutoModelForSequenceClassification, every example padded to 128 tokens), timed, for make bench-glue.

usage:
  study_glue.py task CORPORA OUT_DIR N_TRAIN
      writes OUT_DIR/sst2/{train,dev,test}.jsonl: is a line from TinyStories (1) or the web (0)?
      (N_TRAIN training examples, a quarter as many dev and test examples; 60% TinyStories)
  study_glue.py run CHECKPOINT TASK_DIR EPOCHS DEVICE
      fine-tunes with the pipeline's recipe (batch 64, lr 5e-5, linear decay, no warm-up, weight
      decay 0, evaluation and a save each epoch, the best epoch by F1 kept, early stopping after 3,
      seed 12; bf16 on CUDA) and prints one JSON object: examples/s (the epochs' training examples
      over the time from loading the checkpoint to the test predictions) and the test metrics.
"""
import json, os, sys, tempfile, time


def make_task(corpora, out, n_train):
    def lines(path):
        with open(path) as f:
            return [l.strip() for l in f if len(l.split()) >= 6 and not l.strip().startswith("=")]
    stories = lines(f"{corpora}/tinystories/train/TinyStories-sample.txt")
    web = lines(f"{corpora}/web/train/wikitext-2-raw.test.txt")
    n = n_train + 2 * (n_train // 4)
    rows = []
    for i in range(n):
        story = i % 5 < 3
        line = (stories if story else web)[i % len(stories if story else web)]
        rows.append({"sentence": " ".join(line.split()[:30]), "label": int(story)})
    os.makedirs(f"{out}/sst2", exist_ok=True)
    q = n_train // 4
    for name, part in [("train", rows[:n_train]), ("dev", rows[n_train:n_train + q]), ("test", rows[n_train + q:])]:
        with open(f"{out}/sst2/{name}.jsonl", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in part)


def metrics(pred):
    import numpy as np
    y, p = pred.label_ids, pred.predictions.argmax(-1)
    tp = float(((p == 1) & (y == 1)).sum()); fp = float(((p == 1) & (y == 0)).sum())
    fn = float(((p == 0) & (y == 1)).sum()); tn = float(((p == 0) & (y == 0)).sum())
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    d = ((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)) ** 0.5
    return {"accuracy": float((p == y).mean()), "f1": f1, "mcc": (tp * tn - fp * fn) / d if d else 0.0}


def run(ckpt, task_dir, epochs, device):
    import torch
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, EarlyStoppingCallback,
                              Trainer, TrainingArguments, set_seed)
    torch.set_num_threads(os.cpu_count())
    set_seed(12)
    # Timed as lmeff's command is: loading the checkpoint, encoding, training, predicting the test set.
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(ckpt)
    model = AutoModelForSequenceClassification.from_pretrained(ckpt, num_labels=2)
    if tok.pad_token is None:
        tok.pad_token_id = model.config.pad_token_id

    def split(name):
        rows = [json.loads(l) for l in open(f"{task_dir}/sst2/{name}.jsonl")]
        enc = tok([r["sentence"] for r in rows], padding="max_length", truncation=True, max_length=128)
        return [{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i],
                 "labels": r["label"]} for i, r in enumerate(rows)]
    train, dev, test = split("train"), split("dev"), split("test")
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=64, per_device_eval_batch_size=64,
            learning_rate=5e-5, num_train_epochs=epochs, eval_strategy="epoch", save_strategy="epoch",
            load_best_model_at_end=True, metric_for_best_model="f1", greater_is_better=True, seed=12,
            report_to=[], disable_tqdm=True, logging_strategy="no", use_cpu=device == "cpu",
            bf16=device == "cuda", save_total_limit=2)
        trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=dev,
                          compute_metrics=metrics, callbacks=[EarlyStoppingCallback(3)])
        trainer.train()
        result = trainer.predict(test)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    done = trainer.state.epoch
    print(json.dumps({"examples_per_s": done * len(train) / seconds, "seconds": seconds, "epochs": done,
                      "train": len(train), "test_accuracy": result.metrics["test_accuracy"],
                      "test_f1": result.metrics["test_f1"], "test_mcc": result.metrics["test_mcc"]}))


if __name__ == "__main__":
    if sys.argv[1] == "task":
        make_task(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        run(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5])
