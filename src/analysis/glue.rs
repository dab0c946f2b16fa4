//! GLUE results in the aggregate: every `glue_results.json` (and the study's imported GLUE
//! tables, [`super::glue_import`]) as lmeff's tables `data/glue` (one row per checkpoint, task and
//! split, with the measure the aggregate uses in `metric`/`value`) and `data/glue_macro` (per
//! checkpoint, the mean of that measure over its tasks). The measure is the study's reported
//! metric per task by default (`aggregate.glue_measure = "study"`), or the metric early stopping
//! watched (`"watched"`). Results of a subsampled training set are kept apart from the full ones.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::record::{size_order, Milestone, RunKey};
use crate::config::{Anchor, GlueMeasure, ScheduleKind};
use crate::data::glue::tasks::{Metric, Task};
use crate::results::glue::Summary;

/// One checkpoint's result on one task and split (`val`: the dev set early stopping watched;
/// `test`: the official validation set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlueRow {
    pub dataset: String,
    pub model_size: String,
    pub vocab_size: i64,
    pub seed: i64,
    pub anchor: Anchor,
    pub schedule: ScheduleKind,
    pub milestone: String,
    pub task: String,
    pub split: String,
    /// The measure the aggregate ranks and averages by ([`GlueMeasure`]), and its value.
    pub metric: String,
    pub value: f64,
    pub accuracy: Option<f64>,
    pub f1: Option<f64>,
    pub mcc: Option<f64>,
    /// The metric early stopping watched, and the one the study reports.
    pub watched_metric: String,
    pub reported_metric: String,
    /// The training set's cap (`--max-train-examples`; empty: the whole set) and the examples
    /// fine-tuned on (when known).
    pub max_train_examples: Option<i64>,
    pub train_examples: Option<i64>,
    /// The file it was read from.
    #[serde(skip)]
    pub source: PathBuf,
}

/// Per checkpoint (and training-set cap): the mean of the measure over its tasks, on dev (`val`)
/// and test, when every task has that split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MacroRow {
    pub dataset: String,
    pub model_size: String,
    pub vocab_size: i64,
    pub seed: i64,
    pub anchor: Anchor,
    pub schedule: ScheduleKind,
    pub milestone: String,
    pub tasks: i64,
    pub val: Option<f64>,
    pub test: Option<f64>,
    pub max_train_examples: Option<i64>,
    /// Training examples of all its tasks together (when known for each).
    pub train_examples: Option<i64>,
}

/// The run of a GLUE table row's identity columns (the tables' numbers were written from a run
/// key or checked on import, so they fit).
fn run_of(
    dataset: &str,
    model: &str,
    (vocab, seed): (i64, i64),
    anchor: Anchor,
    schedule: ScheduleKind,
) -> RunKey {
    RunKey {
        dataset: dataset.to_owned(),
        model: model.to_owned(),
        vocab_size: vocab as u32,
        seed: seed as u64,
        anchor,
        schedule,
    }
}

impl MacroRow {
    /// The run it belongs to.
    pub fn run(&self) -> RunKey {
        let numbers = (self.vocab_size, self.seed);
        run_of(
            &self.dataset,
            &self.model_size,
            numbers,
            self.anchor,
            self.schedule,
        )
    }
}

/// What identifies a checkpoint's GLUE result, training-set cap included.
pub type CheckpointOf<'a> = (
    &'a str,
    &'a str,
    i64,
    i64,
    Anchor,
    ScheduleKind,
    &'a str,
    Option<i64>,
);

impl GlueRow {
    pub fn checkpoint(&self) -> CheckpointOf<'_> {
        (
            &self.dataset,
            &self.model_size,
            self.vocab_size,
            self.seed,
            self.anchor,
            self.schedule,
            &self.milestone,
            self.max_train_examples,
        )
    }

    /// The run it belongs to.
    pub fn run(&self) -> RunKey {
        let numbers = (self.vocab_size, self.seed);
        run_of(
            &self.dataset,
            &self.model_size,
            numbers,
            self.anchor,
            self.schedule,
        )
    }

    /// Its task's definition (rows are only made for known tasks).
    pub fn task_def(&self) -> Result<Task> {
        Task::named(&self.task)
    }

    /// Sets `metric`/`value` to `measure`'s metric of the task; an error when the row lacks it.
    pub fn measure_by(&mut self, measure: GlueMeasure) -> Result<()> {
        let task = self.task_def()?;
        let metric = match measure {
            GlueMeasure::Study => task.reported,
            GlueMeasure::Watched => task.watch,
        };
        let value = metric
            .pick(self.accuracy, self.f1, self.mcc)
            .ok_or_else(|| {
                anyhow!(
                    "{}: {} {} at {} ({}) has no {}, which glue_measure = \"{}\" needs",
                    self.source.display(),
                    self.task,
                    self.split,
                    self.milestone,
                    self.dataset,
                    metric.name(),
                    measure.name()
                )
            })?;
        self.metric = metric.name().into();
        self.value = value;
        Ok(())
    }

    /// The sort key: run, checkpoint (by tokens), cap, task, split.
    fn order(&self) -> impl Ord + '_ {
        let ms = Milestone::parse(&self.milestone).map_or(u64::MAX, |m| {
            (m.order().min(1e15) * 1e3) as u64 // `final` sorts last
        });
        (
            (&self.dataset, size_order_key(&self.model_size)),
            (self.vocab_size, self.seed, self.schedule, self.anchor),
            (ms, self.max_train_examples, &self.task, &self.split),
        )
    }
}

fn size_order_key(size: &str) -> (bool, u64, String) {
    let (named, v, s) = size_order(size);
    (named, v as u64, s)
}

/// Checks that a metric's value is one it can take; `what` says where it was read.
pub fn check_metric(metric: Metric, v: f64, what: &str) -> Result<f64> {
    match metric.range().contains(&v) {
        true => Ok(v),
        false => bail!(
            "{what}: {} {v} is impossible (it lies in {}–{})",
            metric.name(),
            metric.range().start(),
            metric.range().end()
        ),
    }
}

/// The rows of one `glue_results.json` (none when the checkpoint's identity is unknown: results
/// written with `--out` for a folder lmeff cannot name). Unknown tasks and impossible metrics
/// are errors.
pub fn read_summary(path: &Path) -> Result<Vec<GlueRow>> {
    let text = fs_err::read_to_string(path)?;
    let s: Summary = serde_json::from_str(&text).context("not an lmeff GLUE summary")?;
    let id = &s.identity;
    let (Some(dataset), Some(model_size), Some(vocab), Some(seed)) =
        (&id.dataset, &id.model_size, id.vocab_size, id.seed)
    else {
        return Ok(Vec::new());
    };
    let mut rows = Vec::new();
    for (name, r) in &s.tasks {
        let task = Task::named(name).with_context(|| format!("task `{name}`"))?;
        for (split, sc) in [("val", &r.dev), ("test", &r.test)] {
            for (m, v) in [
                (Metric::Accuracy, sc.accuracy),
                (Metric::F1, sc.f1),
                (Metric::Mcc, sc.mcc),
            ] {
                check_metric(m, v, &format!("tasks.{name} {split}"))?;
            }
            rows.push(GlueRow {
                dataset: dataset.clone(),
                model_size: model_size.clone(),
                vocab_size: i64::from(vocab),
                seed: seed as i64,
                anchor: id.anchor.unwrap_or(Anchor::Full),
                schedule: id.schedule.unwrap_or_default(),
                milestone: id.milestone.clone(),
                task: name.clone(),
                split: split.into(),
                metric: task.reported.name().into(),
                value: sc.accuracy,
                accuracy: Some(sc.accuracy),
                f1: Some(sc.f1),
                mcc: Some(sc.mcc),
                watched_metric: task.watch.name().into(),
                reported_metric: task.reported.name().into(),
                max_train_examples: r.max_train_examples.map(|n| n as i64),
                train_examples: r.train_examples.map(|n| n as i64),
                source: path.to_owned(),
            });
        }
    }
    Ok(rows)
}

/// `rows` measured by `measure` and sorted by run, checkpoint, cap, task and split.
pub fn measured(mut rows: Vec<GlueRow>, measure: GlueMeasure) -> Result<Vec<GlueRow>> {
    for r in &mut rows {
        r.measure_by(measure)?;
    }
    rows.sort_by(|a, b| a.order().cmp(&b.order()));
    Ok(rows)
}

/// The training-set cap the rankings and figures use: the whole training set when some results
/// have it, else the largest cap present (None without rows).
pub fn primary_cap(rows: &[GlueRow]) -> Option<Option<i64>> {
    let caps: BTreeSet<Option<i64>> = rows.iter().map(|r| r.max_train_examples).collect();
    match caps.contains(&None) {
        true => Some(None),
        false => caps.into_iter().next_back(),
    }
}

/// The macro-average per checkpoint and cap of sorted `rows` ([`measured`]).
pub fn macro_rows(rows: &[GlueRow]) -> Vec<MacroRow> {
    let mut out: Vec<MacroRow> = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let key = rows[i].checkpoint();
        let n = rows[i..]
            .iter()
            .take_while(|r| r.checkpoint() == key)
            .count();
        let group = &rows[i..i + n];
        i += n;
        let tasks: BTreeSet<&str> = group.iter().map(|r| r.task.as_str()).collect();
        let split_mean = |split: &str| {
            let vs: BTreeMap<&str, f64> = group
                .iter()
                .filter(|r| r.split == split)
                .map(|r| (r.task.as_str(), r.value))
                .collect();
            (vs.len() == tasks.len()).then(|| vs.values().sum::<f64>() / vs.len() as f64)
        };
        let examples: BTreeMap<&str, Option<i64>> = group
            .iter()
            .map(|r| (r.task.as_str(), r.train_examples))
            .collect();
        let r = &group[0];
        out.push(MacroRow {
            dataset: r.dataset.clone(),
            model_size: r.model_size.clone(),
            vocab_size: r.vocab_size,
            seed: r.seed,
            anchor: r.anchor,
            schedule: r.schedule,
            milestone: r.milestone.clone(),
            tasks: tasks.len() as i64,
            val: split_mean("val"),
            test: split_mean("test"),
            max_train_examples: r.max_train_examples,
            train_examples: examples.values().copied().sum(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(task: &str, split: &str, acc: f64, f1: f64, mcc: f64) -> GlueRow {
        GlueRow {
            dataset: "babylm".into(),
            model_size: "20m".into(),
            vocab_size: 8000,
            seed: 0,
            anchor: Anchor::Full,
            schedule: ScheduleKind::Cosine,
            milestone: "final".into(),
            task: task.into(),
            split: split.into(),
            metric: String::new(),
            value: f64::NAN,
            accuracy: Some(acc),
            f1: Some(f1),
            mcc: Some(mcc),
            watched_metric: String::new(),
            reported_metric: String::new(),
            max_train_examples: None,
            train_examples: Some(100),
            source: PathBuf::new(),
        }
    }

    /// The study's measure: accuracy for WSC (a majority-class classifier's F1 is 0), F1 for MRPC,
    /// MCC for CoLA; the watched measure: F1 for all three.
    #[test]
    fn the_macro_average_uses_the_chosen_measure() {
        let rows = vec![
            row("wsc", "test", 0.635, 0.0, 0.0),
            row("mrpc", "test", 0.7, 0.8, 0.3),
            row("cola", "test", 0.69, 0.81, 0.12),
            row("wsc", "val", 0.6, 0.1, 0.0),
        ];
        let study = measured(rows.clone(), GlueMeasure::Study).unwrap();
        let m = macro_rows(&study);
        assert_eq!(m.len(), 1);
        assert!((m[0].test.unwrap() - (0.635 + 0.8 + 0.12) / 3.0).abs() < 1e-15);
        assert_eq!(m[0].val, None, "val of one task of three: no macro");
        assert_eq!(m[0].train_examples, Some(300));
        let wsc = study.iter().find(|r| r.task == "wsc").unwrap();
        assert_eq!((wsc.metric.as_str(), wsc.value), ("accuracy", 0.635));
        let watched = macro_rows(&measured(rows, GlueMeasure::Watched).unwrap());
        assert!((watched[0].test.unwrap() - (0.0 + 0.8 + 0.81) / 3.0).abs() < 1e-15);
    }

    /// Results of a subsampled training set form their own checkpoint rows, never mixed with the
    /// full set's; the full set is the primary one.
    #[test]
    fn training_set_caps_are_kept_apart() {
        let mut cheap = row("rte", "test", 0.5, 0.5, 0.0);
        cheap.max_train_examples = Some(1000);
        let rows = measured(
            vec![cheap.clone(), row("rte", "test", 0.7, 0.7, 0.0)],
            GlueMeasure::Study,
        )
        .unwrap();
        let m = macro_rows(&rows);
        assert_eq!(m.len(), 2);
        assert_eq!(
            m.iter().map(|m| m.test.unwrap()).collect::<Vec<_>>(),
            [0.7, 0.5]
        );
        assert_eq!(primary_cap(&rows), Some(None));
        assert_eq!(primary_cap(&[cheap]), Some(Some(1000)));
        assert_eq!(primary_cap(&[]), None);
    }

    #[test]
    fn a_missing_metric_is_named() {
        let mut r = row("mrpc", "test", 0.7, 0.8, 0.3);
        r.f1 = None;
        let e = format!("{:#}", r.measure_by(GlueMeasure::Study).unwrap_err());
        assert!(e.contains("has no f1"), "{e}");
        assert!(check_metric(Metric::Accuracy, 1.7, "x").is_err());
        assert!(check_metric(Metric::Mcc, -0.5, "x").is_ok());
    }
}
