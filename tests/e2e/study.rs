//! End-to-end: the study's exact behaviour when asked for. The study-mode tokenizer and token
//! files of the sample corpora equal, byte for byte and id for id, what the study's Python path
//! makes of them (Python `tokenizers` with its recipe; `transformers.GPT2TokenizerFast` over
//! 1024-character chunks); `train.seed_mode = "study"` reads the same batches under every seed and
//! starts each from its own weights.

use std::path::Path;
use std::process::Command;

use crate::common;
use crate::common::{copy_tree, python, run, shared_data, Scratch};

const VOCAB: &str = "2000";

fn study_env(cmd: &mut Command) -> &mut Command {
    cmd.env("LMEFF_DATA__ENCODING", "study")
        .env("LMEFF_DATA__TOKENIZER_RECIPE", "study")
}

fn check(args: &[&str], files: &[std::path::PathBuf]) -> String {
    let out = Command::new(python())
        .arg(common::repo().join("tests/python/study_encoding_check.py"))
        .args(args)
        .args(files)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn files(dir: &Path, endings: &[&str]) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            endings
                .iter()
                .any(|e| p.extension().is_some_and(|x| x == *e))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn study_mode_tokens_and_tokenizers_equal_the_studys_python_path() {
    let s = Scratch::new();
    let data = s.path().join("data");
    for dataset in ["tinystories", "babylm"] {
        copy_tree(
            &shared_data().join("corpora").join(dataset),
            &data.join(dataset),
        );
        for step in ["tokenizer", "tokenize"] {
            let (ok, _, err) = run(study_env(&mut s.lmeff())
                .args(["--data-dir", "data", "data", step, "--dataset", dataset])
                .args(["--vocab-sizes", VOCAB]));
            assert!(ok, "{dataset} {step}: {err}");
        }
        let root = data.join(dataset);
        assert!(
            !root.join("train_clean").exists(),
            "the study's path reads the raw text: nothing to clean"
        );
        // The tokenizer: trained on .train, .txt and .jsonl of both splits (BabyLM's .dev left
        // out), no initial alphabet.
        let tokenizer = root.join(format!("tokenizers/tokenizer_{VOCAB}-study.json"));
        let mut trained_on = files(&root.join("train"), &["train", "txt", "jsonl"]);
        trained_on.extend(files(&root.join("dev"), &["train", "txt", "jsonl"]));
        assert_eq!(trained_on.len(), if dataset == "babylm" { 3 } else { 2 });
        let tok = tokenizer.to_str().unwrap();
        check(&["tokenizer", tok, VOCAB], &trained_on);
        // The token files, split by split, id for id; TinyStories cut at 256 tokens a chunk.
        let cut = if dataset == "tinystories" { "256" } else { "0" };
        for split in ["train", "dev"] {
            let bin = root.join(format!("tokens/{VOCAB}-study/{split}.bin"));
            let header: serde_json::Value =
                serde_json::from_slice(&std::fs::read(bin.with_extension("json")).unwrap())
                    .unwrap();
            assert_eq!(header["encoding"], "study", "{header}");
            assert_eq!(
                header["truncated_at"],
                if cut == "0" {
                    serde_json::Value::Null
                } else {
                    serde_json::json!(256)
                }
            );
            let raw = files(&root.join(split), &["train", "dev", "txt", "jsonl"]);
            let out = check(&["encode", tok, bin.to_str().unwrap(), cut], &raw);
            assert!(out.contains("\"tokens\""), "{out}");
        }
    }
    // lmeff's own recipe writes other files, and differs from the study's on the same text.
    let (ok, _, err) = run(s
        .lmeff()
        .args([
            "--data-dir",
            "data",
            "data",
            "prepare",
            "--dataset",
            "tinystories",
        ])
        .args(["--vocab-sizes", VOCAB]));
    assert!(ok, "{err}");
    let tokenizers = data.join("tinystories/tokenizers");
    let ours = std::fs::read(tokenizers.join(format!("tokenizer_{VOCAB}.json"))).unwrap();
    let study = std::fs::read(tokenizers.join(format!("tokenizer_{VOCAB}-study.json"))).unwrap();
    assert_ne!(ours, study);
    assert!(data
        .join(format!("tinystories/tokens/{VOCAB}/train.bin"))
        .is_file());
}

/// `lmeff train` of the tiny model on the prepared tinystories sample, seeded `seed` under
/// `seed_mode`.
fn train(s: &Scratch, seed: &str, seed_mode: &str) -> Command {
    let mut cmd = s.lmeff();
    cmd.env("LMEFF_TRAIN__SEED_MODE", seed_mode)
        .env("LMEFF_THREADS", "1")
        .arg("--data-dir")
        .arg(common::prepared_tinystories())
        .args(["train", "--dataset", "tinystories", "--model", "tiny"])
        .args(["--vocab", "1000", "--seq-len", "64", "--anchor", "0.03"])
        .args(["--seed", seed]);
    cmd
}

fn digests(s: &Scratch, seed: &str, seed_mode: &str) -> String {
    let (ok, out, err) = run(train(s, seed, seed_mode).args(["--batch-digests", "3"]));
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    out
}

fn init(s: &Scratch, seed: &str, seed_mode: &str) -> (Vec<u8>, serde_json::Value) {
    let (ok, _, err) = run(train(s, seed, seed_mode).arg("--init-only"));
    assert!(ok, "{err}");
    let dir = s.path().join(format!(
        "output/models/tinystories/llama-tiny/tokenizer-1000-seed-{seed}/budget-0.03M/init"
    ));
    let meta = serde_json::from_slice(&std::fs::read(dir.join("milestone_meta.json")).unwrap());
    (
        std::fs::read(dir.join("model.safetensors")).unwrap(),
        meta.unwrap(),
    )
}

#[test]
fn seed_mode_study_reads_the_same_batches_from_different_weights() {
    let s = Scratch::new();
    // The study's mode: one data order (seed 42) for every seed …
    assert_eq!(digests(&s, "0", "study"), digests(&s, "1", "study"));
    assert_eq!(
        digests(&s, "0", "study"),
        digests(&s, "42", "both"),
        "the study's data order is seed 42's"
    );
    // … where lmeff's default orders the data by the seed.
    assert_ne!(digests(&s, "0", "both"), digests(&s, "1", "both"));
    // The study's kind of draw, epochs of consecutive windows, is another order.
    let (ok, epochs, err) = run(train(&s, "0", "both")
        .env("LMEFF_TRAIN__BATCHES", "epochs")
        .args(["--batch-digests", "3"]));
    assert!(ok, "{err}");
    assert_ne!(epochs, digests(&s, "0", "both"));
    assert!(
        !s.path().join("output").exists(),
        "--batch-digests writes nothing"
    );

    // Each seed its own initial weights, recorded beside the fixed data seed.
    let (w0, meta0) = init(&s, "0", "study");
    let (w1, meta1) = init(&s, "1", "study");
    assert_ne!(w0, w1);
    assert_eq!(
        (&meta0["data_seed"], &meta0["init_seed"]),
        (&42.into(), &0.into())
    );
    assert_eq!(
        (&meta1["data_seed"], &meta1["init_seed"]),
        (&42.into(), &1.into())
    );
    // The data-seed mode: the weights fixed (seed 42), the data order the seed's.
    let d = Scratch::new();
    let (v0, _) = init(&d, "0", "data");
    let (v1, meta) = init(&d, "1", "data");
    assert_eq!(v0, v1);
    assert_eq!(meta["init_seed"], 42);
    assert_ne!(digests(&d, "0", "data"), digests(&d, "1", "data"));
}

#[test]
fn a_budget_run_evaluates_on_the_studys_tenth_of_its_budget() {
    // 0.03M tokens: a tenth is 3,000 dev tokens, 3000 // 64 = 46 windows of 64 targets (2,944).
    let s = Scratch::new();
    let (ok, _, err) = run(train(&s, "0", "study")
        .env("LMEFF_TRAIN__EVAL_TOKENS", "budget10")
        .env("LMEFF_TRAIN__BATCHES", "epochs"));
    assert!(ok, "{err}");
    assert!(
        err.contains("data_seed=42")
            && err.contains("init_seed=0")
            && err.contains("eval_tokens=2944"),
        "{err}"
    );
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.path().join(
            "output/models/tinystories/llama-tiny/tokenizer-1000-seed-0/budget-0.03M/final/milestone_meta.json",
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(meta["seed_mode"], "study");
    assert!(
        meta["eval_loss"].as_f64().is_some_and(f64::is_finite),
        "{meta}"
    );
    // The results say what the seed varied, and the report reads it.
    let (ok, _, err) = run(s
        .lmeff()
        .arg("--blimp-dir")
        .arg(shared_data().join("blimp"))
        .args(["eval", "blimp", "--run"])
        .arg("output/models/tinystories/llama-tiny/tokenizer-1000-seed-0/budget-0.03M")
        .args(["--paradigms", "anaphor_gender_agreement"]));
    assert!(ok, "{err}");
    let (ok, _, err) = run(s.lmeff().args(["aggregate", "--results", "results"]));
    assert!(ok, "{err}");
    let report = std::fs::read_to_string(s.path().join("results/report.md")).unwrap();
    assert!(
        report.contains("The seeds are weight-seed replicates"),
        "{report}"
    );
}
