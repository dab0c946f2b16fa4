//! GLUE's rankings of the runs: how early the ranking by GLUE score (the macro-average, and each
//! task) predicts the final one, measured as BLiMP's is ([`predictiveness::table`]); and how far
//! BLiMP and GLUE rank the runs alike at each anchor. Scores are the test split's (the official
//! validation set, as the study reports them), each task's measure (`aggregate.glue_measure`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::glue::{GlueRow, MacroRow};
use super::inputs::{Milestone, Record, RunKey};
use super::predictiveness::{self, Earliest, Row, Series};
use super::{significance, stats};

/// The macro-average's name in `glue_predictiveness`.
pub const MACRO: &str = "macro";

/// One row of `data/glue_predictiveness`: a predictiveness row of one GLUE measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GluePredictivenessRow {
    /// `macro`, or a task.
    pub measure: String,
    pub group: String,
    pub milestone: f64,
    pub n: usize,
    pub spearman: f64,
    pub spearman_lo: f64,
    pub spearman_hi: f64,
    pub p_value: Option<f64>,
    pub p_method: String,
    pub r2: f64,
    pub kendall_tau_b: f64,
    pub decision_accuracy: f64,
}

/// One row of `data/glue_agreement`: at one anchor, how alike BLiMP accuracy and the GLUE
/// macro-average rank the full runs that have both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementRow {
    /// Millions of tokens, or `final`.
    pub milestone: String,
    pub n: usize,
    pub spearman: f64,
    pub spearman_lo: f64,
    pub spearman_hi: f64,
    pub p_value: Option<f64>,
    pub p_method: String,
    pub kendall_tau_b: f64,
}

fn record(run: RunKey, milestone: &str, task: Option<&str>, value: f64) -> Option<Record> {
    Some(Record {
        run,
        milestone: Milestone::parse(milestone)?,
        task: task.map(str::to_owned),
        field: None,
        phenomenon: None,
        acc: value,
        n: None,
        tokens: None,
        paradigms: None,
        source: PathBuf::new(),
    })
}

/// Test scores as records: the macro-average (`task` = None) of each checkpoint that has every
/// task some checkpoint has — a mean over fewer tasks does not rank with the others — and each
/// task's score.
pub fn records(rows: &[GlueRow], macros: &[MacroRow]) -> (Vec<Record>, Vec<Record>) {
    let all: BTreeSet<&str> = rows.iter().map(|r| r.task.as_str()).collect();
    let macro_records = macros
        .iter()
        .filter(|m| m.tasks as usize == all.len())
        .filter_map(|m| record(m.run(), &m.milestone, None, m.test?))
        .collect();
    let task_records = rows
        .iter()
        .filter(|r| r.split == "test")
        .filter_map(|r| record(r.run(), &r.milestone, Some(&r.task), r.value))
        .collect();
    (macro_records, task_records)
}

/// Predictiveness rows of the macro-average, then of each task, per group and anchor, each with
/// its measure (`macro` or the task).
pub fn predictiveness(
    macro_records: &[Record],
    task_records: &[Record],
    draws: usize,
    seed: u64,
) -> Vec<(String, Row)> {
    let mut by_task: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
    for r in task_records {
        by_task
            .entry(r.task.as_deref().unwrap_or_default())
            .or_default()
            .push(r);
    }
    std::iter::once((MACRO, macro_records.iter().collect::<Vec<_>>()))
        .chain(by_task)
        .flat_map(|(measure, rs)| {
            let s = predictiveness::series(rs.into_iter());
            predictiveness::table(&s, draws, seed)
                .into_iter()
                .map(move |r| (measure.to_owned(), r))
        })
        .collect()
}

/// The rows of `data/glue_predictiveness`.
pub fn table_rows(rows: &[(String, Row)]) -> Vec<GluePredictivenessRow> {
    rows.iter()
        .map(|(measure, r)| GluePredictivenessRow {
            measure: measure.clone(),
            group: r.group.clone(),
            milestone: r.milestone,
            n: r.n,
            spearman: r.spearman,
            spearman_lo: r.spearman_lo,
            spearman_hi: r.spearman_hi,
            p_value: r.p_value,
            p_method: r.p_method.clone(),
            r2: r.r2,
            kendall_tau_b: r.kendall_tau_b,
            decision_accuracy: r.decision_accuracy,
        })
        .collect()
}

/// The earliest reliable anchor of the macro-average per group, judged as BLiMP's is
/// ([`predictiveness::earliest`]: no verdict for a group of fewer than `min_runs` runs).
pub fn earliest_macro(rows: &[(String, Row)], threshold: f64, min_runs: usize) -> Vec<Earliest> {
    let macro_rows: Vec<Row> = rows
        .iter()
        .filter(|(m, _)| m == MACRO)
        .map(|(_, r)| r.clone())
        .collect();
    predictiveness::earliest(&macro_rows, threshold, min_runs)
}

/// BLiMP against the GLUE macro-average at every anchor (in token order, `final` last) where at
/// least two full runs have both.
pub fn agreement(
    blimp: &[Record],
    glue_macro: &[Record],
    draws: usize,
    seed: u64,
) -> Vec<AgreementRow> {
    let (b, g): (Series, Series) = (
        predictiveness::series(blimp.iter()),
        predictiveness::series(glue_macro.iter()),
    );
    let mut anchors: Vec<Milestone> = g.values().flatten().map(|(m, _)| *m).collect();
    anchors.sort_by(|x, y| x.order().total_cmp(&y.order()));
    anchors.dedup();
    let at = |s: &Series, run: &RunKey, m: Milestone| {
        s.get(run)?.iter().find(|(k, _)| *k == m).map(|(_, v)| *v)
    };
    anchors
        .into_iter()
        .filter_map(|m| {
            let (x, y): (Vec<f64>, Vec<f64>) = g
                .keys()
                .filter_map(|run| Some((at(&b, run, m)?, at(&g, run, m)?)))
                .unzip();
            if x.len() < 2 {
                return None;
            }
            let (lo, hi) = stats::bootstrap_spearman(&x, &y, draws, seed);
            let p = significance::spearman_p(&x, &y);
            Some(AgreementRow {
                milestone: m.to_string(),
                n: x.len(),
                spearman: stats::spearman(&x, &y),
                spearman_lo: lo,
                spearman_hi: hi,
                p_value: p.map(|p| p.0),
                p_method: p.map_or("", |p| p.1.name()).to_owned(),
                kendall_tau_b: stats::kendall_tau_b(&x, &y),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Anchor, ScheduleKind};

    /// A task's val and test rows (test = `value`), as `glue::collect` makes them.
    fn rows_of(seed: i64, milestone: &str, task: &str, value: f64) -> [GlueRow; 2] {
        let val = GlueRow {
            split: "val".into(),
            value: 0.5,
            ..row(seed, milestone, task, value)
        };
        [val, row(seed, milestone, task, value)]
    }

    fn row(seed: i64, milestone: &str, task: &str, value: f64) -> GlueRow {
        GlueRow {
            dataset: "babylm".into(),
            model_size: "20m".into(),
            vocab_size: 8000,
            seed,
            anchor: Anchor::Full,
            schedule: ScheduleKind::Cosine,
            milestone: milestone.into(),
            task: task.into(),
            split: "test".into(),
            metric: "accuracy".into(),
            value,
            accuracy: Some(value),
            f1: Some(value),
            mcc: Some(0.0),
            watched_metric: "f1".into(),
            reported_metric: "accuracy".into(),
            max_train_examples: None,
            train_examples: None,
            source: PathBuf::new(),
        }
    }

    fn blimp(seed: i64, milestone: &str, acc: f64) -> Record {
        let run = RunKey {
            dataset: "babylm".into(),
            model: "20m".into(),
            vocab_size: 8000,
            seed: seed as u64,
            anchor: Anchor::Full,
            schedule: ScheduleKind::Cosine,
        };
        record(run, milestone, None, acc).unwrap()
    }

    /// Five runs whose rte ranking at 25M is the final one reversed, whose wsc ranking is the
    /// final one; BLiMP ranks them as the GLUE macro-average at 25M and reversed at the end.
    #[test]
    fn glue_rankings_are_measured_per_task_and_against_blimp() {
        let mut rows = Vec::new();
        for s in 0..5 {
            let v = s as f64 / 10.0;
            rows.extend(rows_of(s, "25", "rte", 0.9 - v));
            rows.extend(rows_of(s, "25", "wsc", 0.1 + v));
            rows.extend(rows_of(s, "final", "rte", 0.5 + v));
            rows.extend(rows_of(s, "final", "wsc", 0.5 + v));
        }
        // A checkpoint with one task only: no macro-average for it.
        rows.extend(rows_of(9, "final", "rte", 0.7));
        let macros = super::super::glue::macro_rows(&rows);
        let (m, t) = records(&rows, &macros);
        assert_eq!(m.len(), 10, "run 9's final has one of two tasks");
        assert_eq!(t.len(), 21, "test rows only");
        let p = predictiveness(&m, &t, 200, 1);
        let rho = |measure: &str| {
            p.iter()
                .find(|(m, r)| m == measure && r.group == "global" && r.milestone == 25.0)
                .map(|(_, r)| (r.n, r.spearman))
                .unwrap()
        };
        assert_eq!(rho("rte"), (5, -1.0));
        assert_eq!(rho("wsc"), (5, 1.0));
        // The macro at 25M is 0.5 for every run: a tie throughout, so ρ is undefined.
        assert!(rho(MACRO).1.is_nan());
        let b: Vec<Record> = (0..5)
            .flat_map(|s| {
                let v = s as f64 / 10.0;
                [blimp(s, "25", 0.6 + v), blimp(s, "final", 0.9 - v)]
            })
            .collect();
        let a = agreement(&b, &m, 200, 1);
        let final_row = a.iter().find(|r| r.milestone == "final").unwrap();
        assert_eq!((final_row.n, final_row.spearman), (5, -1.0));
        assert_eq!(final_row.kendall_tau_b, -1.0);
        assert_eq!(a.last().unwrap().milestone, "final");
    }
}
