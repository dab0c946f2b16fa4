//! The study's own result tables (`<out>/study/`), beside lmeff's, so the study's plotting scripts
//! read lmeff's output unchanged: `blimp_all_overall.csv`, `blimp_all_tasks.csv`,
//! `blimp_global_spearman.csv`, `blimp_global_r2.csv`, with a plan `missing_files_report.csv`, and
//! with GLUE results `glue_all_results.csv`.
//! They hold full runs of the study's cosine schedule only (its milestone runs), milestones as
//! the study writes them (`25`, `0.05`, `final`) and task names lowercased.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::predictiveness::Row;
use super::record::{Milestone, Record};
use super::rows::MissingRow;

/// The files [`write`] and [`write_glue`] may write.
pub const FILES: [&str; 6] = [
    "blimp_all_overall.csv",
    "blimp_all_tasks.csv",
    "blimp_global_spearman.csv",
    "blimp_global_r2.csv",
    "missing_files_report.csv",
    "glue_all_results.csv",
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
            model_size: &r.run.model_size,
            milestone: r.milestone.to_string(),
            vocab_size: r.run.vocab_size,
            seed: r.run.seed,
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
    anchor: &'a str,
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
    let full = |r: &&&Record| r.anchor == "full" && r.run.schedule == super::record::COSINE;
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
                anchor: &m.anchor,
            }),
        )?;
    }
    Ok(())
}

/// A row of `glue_all_results.csv`.
#[derive(Serialize)]
struct GlueStudyRow<'a> {
    dataset: &'a str,
    model_size: &'a str,
    milestone: String,
    vocab_size: i64,
    seed: i64,
    task: &'a str,
    split: &'a str,
    metric: &'a str,
    value: f64,
    accuracy: f64,
    f1: f64,
    mcc: f64,
}

/// Writes `glue_all_results.csv` (full cosine runs; milestones as the study writes them) into
/// `dir`, when there are GLUE results.
pub(super) fn write_glue(dir: &Path, rows: &[super::glue::GlueRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    fs_err::create_dir_all(dir)?;
    let full =
        |r: &&super::glue::GlueRow| r.anchor == "full" && r.schedule == super::record::COSINE;
    csv_file(
        dir,
        FILES[5],
        rows.iter().filter(full).map(|r| GlueStudyRow {
            dataset: &r.dataset,
            model_size: &r.model_size,
            milestone: r.milestone.clone(),
            vocab_size: r.vocab_size,
            seed: r.seed,
            task: &r.task,
            split: &r.split,
            metric: &r.metric,
            value: r.value,
            accuracy: r.accuracy,
            f1: r.f1,
            mcc: r.mcc,
        }),
    )
}
