//! GLUE results in the aggregate: every `glue_results.json` under `<results>/glue/` as lmeff's
//! tables `data/glue` (one row per checkpoint, task and split) and `data/glue_macro` (per
//! checkpoint, the mean over its tasks of each task's watched metric: F1, accuracy for MNLI), and
//! the study's `study/glue_all_results.csv` (full runs of the cosine schedule, the study's columns).

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::record::COSINE;
use crate::data::glue::tasks::{Task, Watch};
use crate::results::glue::{Summary, SUMMARY};

/// One checkpoint's result on one task and split (`val`: the dev set early stopping watched;
/// `test`: the official validation set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlueRow {
    pub dataset: String,
    pub model_size: String,
    pub vocab_size: i64,
    pub seed: i64,
    pub anchor: String,
    pub schedule: String,
    pub milestone: String,
    pub task: String,
    pub split: String,
    /// The task's watched metric, `f1` or `accuracy`, and its value.
    pub metric: String,
    pub value: f64,
    pub accuracy: f64,
    pub f1: f64,
    pub mcc: f64,
}

/// Per checkpoint: the mean over its tasks of the watched metric, on dev (`val`) and test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MacroRow {
    pub dataset: String,
    pub model_size: String,
    pub vocab_size: i64,
    pub seed: i64,
    pub anchor: String,
    pub schedule: String,
    pub milestone: String,
    pub tasks: i64,
    pub val: f64,
    pub test: f64,
}

/// The rows of every summary under `results/glue` whose identity is known (results written with
/// `--out` elsewhere are not there).
pub fn collect(results: &Path) -> Result<Vec<GlueRow>> {
    let root = results.join("glue");
    let mut rows = Vec::new();
    if !root.is_dir() {
        return Ok(rows);
    }
    for entry in walkdir::WalkDir::new(&root).sort_by_file_name() {
        let entry = entry.with_context(|| format!("walking {}", root.display()))?;
        if entry.file_name() != SUMMARY {
            continue;
        }
        let text = fs_err::read_to_string(entry.path())?;
        let s: Summary = serde_json::from_str(&text)
            .with_context(|| format!("{}: not an lmeff GLUE summary", entry.path().display()))?;
        let id = &s.identity;
        let (Some(dataset), Some(model_size), Some(vocab), Some(seed)) =
            (&id.dataset, &id.model_size, id.vocab_size, id.seed)
        else {
            continue;
        };
        for (task, r) in &s.tasks {
            let watch = Task::named(task).map_or(Watch::F1, |t| t.watch);
            for (split, sc) in [("val", &r.dev), ("test", &r.test)] {
                let (metric, value) = match watch {
                    Watch::F1 => ("f1", sc.f1),
                    Watch::Accuracy => ("accuracy", sc.accuracy),
                };
                rows.push(GlueRow {
                    dataset: dataset.clone(),
                    model_size: model_size.clone(),
                    vocab_size: i64::from(vocab),
                    seed: seed as i64,
                    anchor: id.anchor.clone().unwrap_or_else(|| "full".into()),
                    schedule: id.schedule.clone().unwrap_or_else(|| COSINE.into()),
                    milestone: id.milestone.clone(),
                    task: task.clone(),
                    split: split.into(),
                    metric: metric.into(),
                    value,
                    accuracy: sc.accuracy,
                    f1: sc.f1,
                    mcc: sc.mcc,
                });
            }
        }
    }
    Ok(rows)
}

/// The macro-average per checkpoint of `rows` (in their order).
pub fn macro_rows(rows: &[GlueRow]) -> Vec<MacroRow> {
    let mut out: Vec<MacroRow> = Vec::new();
    for r in rows {
        let same = |m: &MacroRow| {
            (
                &m.dataset,
                &m.model_size,
                m.vocab_size,
                m.seed,
                &m.anchor,
                &m.schedule,
                &m.milestone,
            ) == (
                &r.dataset,
                &r.model_size,
                r.vocab_size,
                r.seed,
                &r.anchor,
                &r.schedule,
                &r.milestone,
            )
        };
        if !out.last().is_some_and(same) {
            out.push(MacroRow {
                dataset: r.dataset.clone(),
                model_size: r.model_size.clone(),
                vocab_size: r.vocab_size,
                seed: r.seed,
                anchor: r.anchor.clone(),
                schedule: r.schedule.clone(),
                milestone: r.milestone.clone(),
                tasks: 0,
                val: 0.0,
                test: 0.0,
            });
        }
        let m = out.last_mut().expect("just pushed");
        match r.split.as_str() {
            "val" => {
                m.tasks += 1;
                m.val += r.value;
            }
            _ => m.test += r.value,
        }
    }
    for m in &mut out {
        m.val /= m.tasks.max(1) as f64;
        m.test /= m.tasks.max(1) as f64;
    }
    out
}
