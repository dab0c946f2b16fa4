//! GLUE result files of one checkpoint, beside BLiMP's: `glue/<dataset>/<size>/seed-<S>/tok-<V>/
//! [budget-<M>M/]<milestone>/` holds per task `<task>.parquet` (every dev and test example: its
//! file line, gold label and prediction) and `<task>_epochs.parquet` (each epoch's training loss
//! and dev metrics), and `glue_results.json`, the summary of every task evaluated there; with
//! `--keep-heads`, `heads/<task>/` holds the fine-tuned classifier. Results of a subsampled
//! training set (`--max-train-examples N`) go to `max-train-<N>/` below, never beside the full
//! ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_arrow::schema::{SchemaLike, TracingOptions};

use super::blimp::ResultKey;
use super::parquet_io;
use crate::config::layout::ResultLayout;
use crate::data::glue::tasks::Metric;
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
    /// The metric early stopping watched (absent from results before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watched_metric: Option<Metric>,
    /// The metric the study reports for the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_metric: Option<Metric>,
    /// Training examples fine-tuned on (after the dev split and any subsampling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_examples: Option<u64>,
    /// `--max-train-examples`: the training set was subsampled to at most this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_train_examples: Option<u64>,
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

/// The folder below a checkpoint's GLUE folder for results of a training set subsampled to at
/// most `n` examples.
pub fn subsampled_dir(n: u64) -> String {
    format!("{SUBSAMPLED_PREFIX}{n}")
}

const SUBSAMPLED_PREFIX: &str = "max-train-";

/// Whether `name` is a folder name [`subsampled_dir`] gives.
pub fn is_subsampled_dir(name: &str) -> bool {
    name.strip_prefix(SUBSAMPLED_PREFIX)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl ResultKey {
    /// `glue/<dataset>/<size>/seed-<S>/tok-<V>[-wsd]/[budget-<M>M/]<milestone>` under `results`.
    pub fn glue_dir(&self, results: &Path) -> Option<PathBuf> {
        Some(ResultLayout::at(results).glue(&self.place()?))
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

/// Whether `name` is a file a task's results are written to: `<task>.parquet` or
/// `<task>_epochs.parquet` of a GLUE task.
fn is_task_file(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".parquet") else {
        return false;
    };
    let task = stem.strip_suffix("_epochs").unwrap_or(stem);
    crate::data::glue::tasks::Task::named(task).is_ok()
}

/// Refuses `dir` as a destination of GLUE results unless it holds only what lmeff writes there:
/// its summary, lock, `heads/`, subsampled results and, in a folder lmeff's results are in (it
/// has their summary or lock), the tasks' Parquet files. Checked before anything is fine-tuned,
/// so a user's file is never overwritten, nor a fine-tuning wasted.
pub fn check_destination(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        bail!(
            "{} is not a folder: GLUE results go to a folder of their own (--out)",
            dir.display()
        );
    }
    let ours = dir.join(SUMMARY).is_file() || dir.join(LOCK).is_file();
    for e in fs_err::read_dir(dir)? {
        let name = e?.file_name().to_string_lossy().into_owned();
        let known = name == SUMMARY
            || name == HEADS
            || name == LOCK
            || is_subsampled_dir(&name)
            || crate::io::is_temp_name(&name)
            || (ours && is_task_file(&name));
        if !known {
            bail!(
                "{}: holds {name}, which lmeff did not write there; GLUE results go to a folder of \
                 their own (--out): nothing was fine-tuned",
                dir.display()
            );
        }
    }
    Ok(())
}

/// Writes one task's files into `dir` and adds it to the summary under the folder's lock. Tasks
/// of the same checkpoint are kept; those of another checkpoint (an earlier training of the run,
/// or another checkpoint sent to the same `--out`) are removed with their files.
pub fn write_task(
    dir: &Path,
    id: &ResultKey,
    task: &str,
    result: TaskResult,
    predictions: &[Prediction],
    epochs: &[EpochRow],
) -> Result<()> {
    check_destination(dir)?;
    fs_err::create_dir_all(dir)?;
    let lock_path = dir.join(LOCK);
    let lock = fs_err::File::create(&lock_path)?;
    lock.file()
        .lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;
    write_rows(&dir.join(format!("{task}.parquet")), predictions)?;
    write_rows(&dir.join(format!("{task}_epochs.parquet")), epochs)?;
    let fresh = || Summary {
        identity: id.clone(),
        tasks: BTreeMap::new(),
        lmeff_version: env!("CARGO_PKG_VERSION").into(),
    };
    let mut summary = match read_summary(dir) {
        Some(s) if s.identity.checkpoint_sha256 == id.checkpoint_sha256 => s,
        Some(old) => {
            for t in old.tasks.keys().filter(|t| *t != task) {
                tracing::warn!(
                    "{}: removing {t}'s results of another checkpoint ({})",
                    dir.display(),
                    old.identity.checkpoint.display()
                );
                remove_task_files(dir, t)?;
            }
            fresh()
        }
        None => fresh(),
    };
    summary.identity = id.clone();
    summary.tasks.insert(task.to_owned(), result);
    write_json_atomic(&dir.join(SUMMARY), &summary)
}

/// Removes a task's files from `dir` (those that are there).
fn remove_task_files(dir: &Path, task: &str) -> Result<()> {
    for f in [format!("{task}.parquet"), format!("{task}_epochs.parquet")] {
        match fs_err::remove_file(dir.join(f)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    let head = dir.join(HEADS).join(task);
    if head.is_dir() {
        fs_err::remove_dir_all(head)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Anchor;

    fn key() -> ResultKey {
        ResultKey {
            dataset: Some("tinystories".into()),
            model_size: Some("tiny".into()),
            vocab_size: Some(1000),
            seed: Some(0),
            anchor: Some(Anchor::Full),
            schedule: None,
            seed_mode: None,
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
            watched_metric: Some(Metric::F1),
            reported_metric: Some(Metric::Accuracy),
            train_examples: Some(10),
            max_train_examples: None,
        }
    }

    #[test]
    fn subsampled_folders_are_named_by_their_cap() {
        assert_eq!(subsampled_dir(10_000), "max-train-10000");
        assert!(is_subsampled_dir("max-train-10000"));
        assert!(!is_subsampled_dir("max-train-"));
        assert!(!is_subsampled_dir("max-train-1x"));
        assert!(!is_subsampled_dir("final"));
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

    /// Another checkpoint's results in the same folder are replaced, never kept under the new
    /// checkpoint's identity; a user's Parquet file is refused.
    #[test]
    fn results_of_one_checkpoint_only() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_task(d, &key(), "rte", result(0.1), &[], &[]).unwrap();
        write_task(d, &key(), "wsc", result(0.2), &[], &[]).unwrap();
        let mut other = key();
        other.checkpoint_sha256 = "retrained".into();
        write_task(d, &other, "wsc", result(0.3), &[], &[]).unwrap();
        let s = read_summary(d).unwrap();
        assert_eq!(s.tasks.keys().collect::<Vec<_>>(), ["wsc"]);
        assert_eq!(s.identity.checkpoint_sha256, "retrained");
        assert!(!d.join("rte.parquet").exists() && d.join("wsc.parquet").exists());
        let user = tempfile::tempdir().unwrap();
        std::fs::write(user.path().join("rte.parquet"), "mine").unwrap();
        let e = check_destination(user.path()).unwrap_err().to_string();
        assert!(
            e.contains("holds rte.parquet, which lmeff did not write"),
            "{e}"
        );
        assert!(check_destination(d).is_ok());
    }
}
