//! GLUE result files of one checkpoint, beside BLiMP's: `glue/<dataset>/<size>/seed-<S>/tok-<V>/
//! [budget-<M>M/]<milestone>/` holds per task `<task>.parquet` (every dev and test example: its
//! file line, gold label and prediction) and `<task>_epochs.parquet` (each epoch's training loss
//! and dev metrics), and `glue_results.json`, the summary of every task evaluated there; with
//! `--keep-heads`, `heads/<task>/` holds the fine-tuned classifier.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_arrow::schema::{SchemaLike, TracingOptions};

use super::blimp::ResultKey;
use super::parquet_io;
use crate::io::write_json_atomic;

/// The summary file.
pub const SUMMARY: &str = "glue_results.json";
/// With `--keep-heads`: `heads/<task>/`, each fine-tuned classifier as a transformers folder.
pub const HEADS: &str = "heads";

/// One example's prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// `dev` or `test`.
    pub split: String,
    /// Its line in the split's file.
    pub line: i64,
    pub label: i64,
    pub prediction: i64,
    /// Its length in tokens, as encoded.
    pub n_tokens: i64,
    /// The classifier's logits.
    pub logits: Vec<f32>,
}

/// One epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    pub epoch: i64,
    pub train_loss: f64,
    pub dev_accuracy: f64,
    pub dev_f1: f64,
    pub dev_mcc: f64,
}

/// A task's outcome in `glue_results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    pub best_epoch: u32,
    pub epochs: u32,
    pub dev: Scores,
    pub test: Scores,
    /// What decides whether the result is up to date: weights, tokenizer, data and recipe.
    pub config_sha256: String,
    pub source: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub accuracy: f64,
    pub f1: f64,
    pub mcc: f64,
}

/// `glue_results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub identity: ResultKey,
    pub tasks: BTreeMap<String, TaskResult>,
    pub lmeff_version: String,
}

impl ResultKey {
    /// `glue/<dataset>/<size>/seed-<S>/tok-<V>[-wsd]/[budget-<M>M/]<milestone>` under `results`.
    pub fn glue_dir(&self, results: &Path) -> Option<PathBuf> {
        let blimp = self.results_dir(results)?;
        let rel = blimp.strip_prefix(results.join("blimp")).ok()?;
        Some(results.join("glue").join(rel))
    }
}

fn write_rows<T: Serialize + for<'de> Deserialize<'de>>(path: &Path, rows: &[T]) -> Result<()> {
    let options = TracingOptions::default().strings_as_large_utf8(false);
    let fields = Vec::<arrow_schema::FieldRef>::from_type::<T>(options)?;
    let batch = serde_arrow::to_record_batch(&fields, &rows)?;
    parquet_io::write(path, &batch)
}

/// The summary in `dir`, when there is one.
pub fn read_summary(dir: &Path) -> Option<Summary> {
    let text = std::fs::read_to_string(dir.join(SUMMARY)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The lock that GLUE tasks of one checkpoint, fine-tuned side by side (one Slurm array per task),
/// take around their read-modify-write of the summary.
pub const LOCK: &str = ".glue_results.lock";

/// Writes one task's files into `dir` and adds it to the summary (other tasks kept), under the
/// folder's lock. A folder holding files lmeff did not write there is refused.
pub fn write_task(
    dir: &Path,
    id: &ResultKey,
    task: &str,
    result: TaskResult,
    predictions: &[Prediction],
    epochs: &[EpochRow],
) -> Result<()> {
    if dir.is_dir() {
        for e in fs_err::read_dir(dir)? {
            let name = e?.file_name().to_string_lossy().into_owned();
            // Besides the results: the lock, and a file another task is writing at this moment.
            let ours = name == SUMMARY
                || name == HEADS
                || name == LOCK
                || crate::io::is_temp_name(&name)
                || name.ends_with(".parquet");
            if !ours {
                bail!(
                    "{}: holds {name}, which lmeff did not write; GLUE results go to a folder of their own (--out)",
                    dir.display()
                );
            }
        }
    }
    fs_err::create_dir_all(dir)?;
    let lock_path = dir.join(LOCK);
    let lock = fs_err::File::create(&lock_path)?;
    lock.file()
        .lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;
    write_rows(&dir.join(format!("{task}.parquet")), predictions)?;
    write_rows(&dir.join(format!("{task}_epochs.parquet")), epochs)?;
    let mut summary = read_summary(dir).unwrap_or(Summary {
        identity: id.clone(),
        tasks: BTreeMap::new(),
        lmeff_version: env!("CARGO_PKG_VERSION").into(),
    });
    summary.identity = id.clone();
    summary.tasks.insert(task.to_owned(), result);
    write_json_atomic(&dir.join(SUMMARY), &summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ResultKey {
        ResultKey {
            dataset: Some("tinystories".into()),
            model_size: Some("tiny".into()),
            vocab_size: Some(1000),
            seed: Some(0),
            anchor: Some("full".into()),
            schedule: None,
            milestone: "final".into(),
            tokens_seen: None,
            checkpoint: PathBuf::new(),
            checkpoint_sha256: String::new(),
        }
    }

    fn result(accuracy: f64) -> TaskResult {
        let s = Scores {
            accuracy,
            f1: accuracy,
            mcc: 0.0,
        };
        TaskResult {
            best_epoch: 1,
            epochs: 1,
            dev: s,
            test: s,
            config_sha256: String::new(),
            source: PathBuf::new(),
        }
    }

    /// Tasks of one checkpoint written side by side (as their Slurm arrays do) all stay in the
    /// summary.
    #[test]
    fn tasks_written_at_once_are_all_kept() {
        let dir = tempfile::tempdir().unwrap();
        let tasks = [
            "rte", "wsc", "boolq", "mrpc", "qqp", "mnli", "multirc", "cola",
        ];
        std::thread::scope(|s| {
            for (i, task) in tasks.iter().enumerate() {
                let dir = dir.path();
                s.spawn(move || {
                    for round in 0..10 {
                        let r = result(i as f64 + round as f64 / 100.0);
                        write_task(dir, &key(), task, r, &[], &[]).unwrap();
                    }
                });
            }
        });
        let summary = read_summary(dir.path()).unwrap();
        assert_eq!(
            summary.tasks.len(),
            tasks.len(),
            "{:?}",
            summary.tasks.keys()
        );
        // Each task's entry is its last write, not one a stale read of another task put back.
        for (i, task) in tasks.iter().enumerate() {
            assert_eq!(
                summary.tasks[*task].test.accuracy,
                i as f64 + 0.09,
                "{task}"
            );
        }
    }
}
