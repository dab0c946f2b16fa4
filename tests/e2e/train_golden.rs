//! The trainer's output pinned to recorded bytes: a budget run with milestones and resume saves, a
//! full run that stops early (its `final/` is the best evaluation) and an `--init-only` run are
//! trained on the tinystories sample, and the sha256 of every checkpoint's files together with the
//! deterministic fields of `milestone_meta.json` and `metrics.jsonl` are compared with
//! `tests/golden/train/checkpoints.json`, recorded before the trainer was reshaped into
//! components. A change in what training computes or writes fails here.
//! `LMEFF_UPDATE_GOLDEN=1` rewrites the file after a deliberate change.
//!
//! Computed numbers (weights, losses, gradient norms) are compared to a relative 1e-4, not
//! bitwise: CPUs of one machine kind differ in the last bits of libtorch's kernels (seen between
//! two Xeons, with every ISA override of MKL, oneDNN and ATen tried), while a change in what is
//! computed moves them by far more. The weights are fingerprinted per tensor (L2 norm, sum of
//! absolute values, and four entries); every other file by its sha256, and every other field exactly.

use std::path::Path;
use std::process::Command;

use crate::common;
use crate::common::{repo, run, Scratch};
use serde_json::{json, Value};

fn train(s: &Scratch, envs: &[(&str, &str)], args: &[&str]) {
    let mut cmd: Command = s.lmeff();
    cmd.env("LMEFF_THREADS", "1")
        .env("LMEFF_TRAIN__EVAL_TOKENS", "2000");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.arg("--data-dir")
        .arg(common::prepared_tinystories())
        .args(["train", "--dataset", "tinystories", "--model", "tiny"])
        .args(["--vocab", "1000", "--seq-len", "64"])
        .args(args);
    let (ok, _, err) = run(&mut cmd);
    assert!(ok, "{err}");
}

fn sha256(path: &Path) -> String {
    lmeff::io::sha256_file(path).unwrap_or_else(|e| panic!("{e:#}"))
}

/// What must not change in a run folder: the bytes of each checkpoint's files (but the wall time
/// in `milestone_meta.json` and the checksums that cover it) and every metric but the timings.
fn fingerprint(run_dir: &Path) -> Value {
    let mut checkpoints = serde_json::Map::new();
    let mut names: Vec<String> = std::fs::read_dir(run_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| run_dir.join(n).join("model.safetensors").is_file())
        .collect();
    names.sort();
    for name in names {
        let dir = run_dir.join(&name);
        let meta: Value =
            serde_json::from_slice(&std::fs::read(dir.join("milestone_meta.json")).unwrap())
                .unwrap();
        let weights = lmeff::model::weights::load(&dir.join("model.safetensors")).unwrap();
        let tensors: serde_json::Map<String, Value> = weights
            .iter()
            .map(|(name, t)| {
                let flat = t.reshape([-1]);
                let n = flat.size()[0];
                let picks: Vec<f64> = [0, n / 3, 2 * n / 3, n - 1]
                    .iter()
                    .map(|&i| flat.double_value(&[i]))
                    .collect();
                let l2 = flat.norm().double_value(&[]);
                let l1 = flat.abs().sum(tch::Kind::Double).double_value(&[]);
                (name.clone(), json!({"l2": l2, "l1": l1, "picks": picks}))
            })
            .collect();
        let mut files = serde_json::Map::new();
        for f in [
            "config.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
        ] {
            files.insert(f.into(), sha256(&dir.join(f)).into());
        }
        let keep = [
            "run_id",
            "name",
            "dataset",
            "model",
            "seed",
            "anchor",
            "vocab_size",
            "model_vocab_size",
            "tokens_seen",
            "step",
            "learning_rate",
            "train_loss",
            "eval_loss",
        ];
        let meta: serde_json::Map<String, Value> = keep
            .iter()
            .map(|k| (k.to_string(), meta[*k].clone()))
            .collect();
        checkpoints.insert(
            name,
            json!({"files": files, "weights": tensors, "meta": meta}),
        );
    }
    let metrics: Vec<Value> = std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            let line = v.as_object_mut().unwrap();
            // Timings, and the stamp every line carries (tested in train.rs).
            for volatile in ["tokens_per_s", "time", "run_id"] {
                line.remove(volatile);
            }
            v
        })
        .collect();
    json!({"checkpoints": checkpoints, "metrics": metrics})
}

#[test]
fn checkpoints_and_metrics_equal_the_recorded_ones() {
    let budget = Scratch::new();
    train(
        &budget,
        &[
            ("LMEFF_MILESTONES", "[0.01,0.02]"),
            ("LMEFF_TRAIN__SAVE_EVERY", "7"),
            ("LMEFF_TRAIN__LOG_EVERY", "5"),
        ],
        &["--anchor", "0.03", "--seed", "3"],
    );
    let full = Scratch::new();
    train(
        &full,
        &[
            ("LMEFF_MILESTONES", "[0.01]"),
            ("LMEFF_TRAIN__EARLY_STOPPING_AFTER", "0.01"),
            ("LMEFF_TRAIN__EARLY_STOPPING_PATIENCE", "2"),
            ("LMEFF_TRAIN__EARLY_STOPPING_THRESHOLD", "0.05"),
        ],
        &["--anchor", "-1", "--seed", "1", "--max-steps", "400"],
    );
    let init = Scratch::new();
    train(
        &init,
        &[],
        &["--anchor", "0.03", "--seed", "5", "--init-only"],
    );
    let runs = "output/models/tinystories/llama-tiny";
    let got = json!({
        "budget": fingerprint(&budget.path().join(runs).join("tokenizer-1000-seed-3/budget-0.03M")),
        "full": fingerprint(&full.path().join(runs).join("tokenizer-1000-seed-1")),
        "init": fingerprint(&init.path().join(runs).join("tokenizer-1000-seed-5/budget-0.03M")),
    });
    for (run, n) in [("budget", 3), ("full", 2), ("init", 1)] {
        assert_eq!(
            got[run]["checkpoints"].as_object().unwrap().len(),
            n,
            "{run}: {got:#}"
        );
    }
    let path = repo().join("tests/golden/train/checkpoints.json");
    if std::env::var_os("LMEFF_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
    }
    let want: Value = serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap();
    for run in ["budget", "full", "init"] {
        let mut diffs = Vec::new();
        close(&got[run], &want[run], run, &mut diffs);
        assert!(
            diffs.is_empty(),
            "{run}: the trainer's output changed (LMEFF_UPDATE_GOLDEN=1 rewrites {} after a deliberate change):\n{}",
            path.display(),
            diffs.join("\n")
        );
    }
}

/// Where `got` and `want` differ: numbers by more than a relative 1e-4 (absolute 1e-7 near 0),
/// anything else at all.
fn close(got: &Value, want: &Value, at: &str, diffs: &mut Vec<String>) {
    match (got, want) {
        (Value::Number(a), Value::Number(b)) if a.is_f64() || b.is_f64() => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            if (a - b).abs() > 1e-4 * a.abs().max(b.abs()) + 1e-7 {
                diffs.push(format!("{at}: {a} != {b}"));
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                close(
                    &a.get(k).cloned().unwrap_or(Value::Null),
                    &b.get(k).cloned().unwrap_or(Value::Null),
                    &format!("{at}.{k}"),
                    diffs,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                close(x, y, &format!("{at}[{i}]"), diffs);
            }
        }
        _ if got == want => {}
        _ => diffs.push(format!("{at}: {got} != {want}")),
    }
}
