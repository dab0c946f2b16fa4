//! The study's own result tables (`<out>/study/`), beside lmeff's, so the study's plotting scripts
//! read lmeff's output unchanged: `blimp_all_overall.csv`, `blimp_all_tasks.csv`,
//! `blimp_global_spearman.csv`, `blimp_global_r2.csv`, with a plan `missing_files_report.csv`, and
//! with GLUE results `glue_all_results.csv` and `glue_overall_by_task.csv`.
//! They hold full runs of the study's cosine schedule only (its milestone runs), task names
//! lowercased, milestones as the study writes them: `25`, `0.05`, `final` in BLiMP's tables,
//! `25M`, `final` in GLUE's. GLUE's are fine-tuned on whole training sets and carry the study's
//! metric per task: `glue_all_results.csv` names it in `metric` with its value in `value` and
//! leaves its own column empty, as the study's table does.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::glue::GlueRow;
use super::predictiveness::Row;
use super::record::{Milestone, Record};
use super::rows::MissingRow;
use crate::config::{Anchor, ScheduleKind};
use crate::data::glue::tasks::Metric;

/// The files [`write`] and [`write_glue`] may write.
pub const FILES: [&str; 7] = [
    "blimp_all_overall.csv",
    "blimp_all_tasks.csv",
    "blimp_global_spearman.csv",
    "blimp_global_r2.csv",
    "missing_files_report.csv",
    "glue_all_results.csv",
    "glue_overall_by_task.csv",
];

/// A row of `blimp_all_overall.csv` (no task) or `blimp_all_tasks.csv`.
#[derive(Serialize)]
struct AccRow<'a> {
    dataset: &'a str,
    model_size: &'a str,
    milestone: String,
    vocab_size: i64,
    seed: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    task: Option<String>,
    acc: f64,
}

impl<'a> AccRow<'a> {
    /// The row of `r`, its task lowercased as the study writes it.
    fn of(r: &'a Record) -> AccRow<'a> {
        AccRow {
            dataset: &r.run.dataset,
            model_size: &r.run.model,
            milestone: r.milestone.to_string(),
            vocab_size: i64::from(r.run.vocab_size),
            seed: r.run.seed as i64,
            task: r.task.as_ref().map(|t| t.to_lowercase()),
            acc: r.acc,
        }
    }
}

#[derive(Serialize)]
struct GlobalRow {
    milestone: String,
    global: f64,
}

#[derive(Serialize)]
struct MissingStudyRow<'a> {
    dataset: &'a str,
    model_size: &'a str,
    milestone: &'a str,
    vocab_size: &'a str,
    seed: &'a str,
    anchor: Anchor,
}

fn csv_file<T: Serialize>(dir: &Path, name: &str, rows: impl IntoIterator<Item = T>) -> Result<()> {
    let path = dir.join(name);
    let mut w =
        csv::Writer::from_path(&path).with_context(|| format!("writing {}", path.display()))?;
    for row in rows {
        w.serialize(row)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    w.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Writes the study's tables into `dir` (the aggregate's staging folder).
pub(super) fn write(
    dir: &Path,
    overall: &[&Record],
    tasks: &[&Record],
    global: &[&Row],
    missing: Option<&[MissingRow]>,
) -> Result<()> {
    fs_err::create_dir_all(dir)?;
    let full = |r: &&&Record| r.run.is_full() && r.run.schedule == ScheduleKind::Cosine;
    csv_file(
        dir,
        FILES[0],
        overall.iter().filter(full).map(|r| AccRow::of(r)),
    )?;
    csv_file(
        dir,
        FILES[1],
        tasks.iter().filter(full).map(|r| AccRow::of(r)),
    )?;
    let by_anchor = |value: fn(&Row) -> f64| {
        global.iter().map(move |r| GlobalRow {
            milestone: Milestone::Millions(r.milestone).to_string(),
            global: value(r),
        })
    };
    csv_file(dir, FILES[2], by_anchor(|r| r.spearman))?;
    csv_file(dir, FILES[3], by_anchor(|r| r.r2))?;
    if let Some(missing) = missing {
        csv_file(
            dir,
            FILES[4],
            missing.iter().map(|m| MissingStudyRow {
                dataset: &m.dataset,
                model_size: &m.model_size,
                milestone: &m.milestone,
                vocab_size: &m.vocab_size,
                seed: &m.seed,
                anchor: m.anchor,
            }),
        )?;
    }
    Ok(())
}

/// A row of `glue_all_results.csv`: the study's metric named, its value in `value`, its own
/// column left empty.
#[derive(Serialize)]
struct GlueResultRow<'a> {
    dataset: &'a str,
    model_size: &'a str,
    milestone: String,
    vocab_size: i64,
    seed: i64,
    task: &'a str,
    split: &'a str,
    metric: &'a str,
    value: Option<f64>,
    accuracy: Option<f64>,
    f1: Option<f64>,
    mcc: Option<f64>,
}

/// A row of `glue_overall_by_task.csv`: every metric in its column.
#[derive(Serialize)]
struct GlueByTaskRow<'a> {
    dataset: &'a str,
    model_size: &'a str,
    milestone: String,
    vocab_size: i64,
    seed: i64,
    task: &'a str,
    split: &'a str,
    accuracy: Option<f64>,
    f1: Option<f64>,
    mcc: Option<f64>,
}

fn by_task(r: &GlueRow) -> GlueByTaskRow<'_> {
    GlueByTaskRow {
        dataset: &r.dataset,
        model_size: &r.model_size,
        milestone: glue_milestone(&r.milestone),
        vocab_size: r.vocab_size,
        seed: r.seed,
        task: &r.task,
        split: &r.split,
        accuracy: r.accuracy,
        f1: r.f1,
        mcc: r.mcc,
    }
}

/// A milestone as the study's GLUE tables write it: `25M`, `0.05M`, `final`.
fn glue_milestone(m: &str) -> String {
    match Milestone::parse(m) {
        Some(Milestone::Millions(v)) => format!("{v}M"),
        Some(Milestone::Final) => "final".into(),
        None => m.to_owned(),
    }
}

/// Writes `glue_all_results.csv` and `glue_overall_by_task.csv` (full cosine runs fine-tuned on
/// whole training sets) into `dir`, when there are such results.
pub(super) fn write_glue(dir: &Path, rows: &[GlueRow]) -> Result<()> {
    let rows: Vec<&GlueRow> = rows
        .iter()
        .filter(|r| r.anchor == Anchor::Full && r.schedule == ScheduleKind::Cosine)
        .filter(|r| r.max_train_examples.is_none())
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    fs_err::create_dir_all(dir)?;
    let mut results = Vec::new();
    for r in &rows {
        let reported = r.task_def()?.reported;
        let own = |m: Metric, v: Option<f64>| if m == reported { None } else { v };
        results.push(GlueResultRow {
            dataset: &r.dataset,
            model_size: &r.model_size,
            milestone: glue_milestone(&r.milestone),
            vocab_size: r.vocab_size,
            seed: r.seed,
            task: &r.task,
            split: &r.split,
            metric: reported.name(),
            value: reported.pick(r.accuracy, r.f1, r.mcc),
            accuracy: own(Metric::Accuracy, r.accuracy),
            f1: own(Metric::F1, r.f1),
            mcc: own(Metric::Mcc, r.mcc),
        });
    }
    csv_file(dir, FILES[5], results)?;
    csv_file(dir, FILES[6], rows.iter().map(|r| by_task(r)))
}
