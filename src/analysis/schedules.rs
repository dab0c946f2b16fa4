//! WSD against cosine budgets (`schedules` table): for a study that trained the same budget runs
//! both ways, whether the cheaper warmup–stable–decay plan ranks runs as the study's cosine runs
//! do. Per budget anchor, the runs (dataset, size, vocabulary, seed) with a final accuracy under
//! both schedules are paired: Spearman's ρ of the two accuracies and its p-value, and the mean
//! difference WSD − cosine.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::record::{Milestone, Record};
use super::significance;
use super::stats;
use crate::config::{Anchor, ScheduleKind};

/// One budget anchor's comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleRow {
    /// The budget, e.g. `25M`.
    pub anchor: Anchor,
    /// Runs with a final accuracy under both schedules.
    pub n: i64,
    pub spearman: f64,
    pub p_value: Option<f64>,
    /// `exact` or `t` (see the predictiveness table).
    pub p_method: String,
    /// Mean final accuracy of the WSD runs minus that of the cosine runs.
    pub mean_difference: f64,
}

/// A run apart from its schedule: dataset, size, vocabulary, seed.
type RunOf<'a> = (&'a str, &'a str, u32, u64);
/// A run's final accuracy under [cosine, WSD].
type Pair = [Option<f64>; 2];

/// The comparison of every budget anchor trained both ways (none when no run was).
pub fn compare(overall: &[Record]) -> Vec<ScheduleRow> {
    let mut by: BTreeMap<Anchor, BTreeMap<RunOf, Pair>> = BTreeMap::new();
    for r in overall
        .iter()
        .filter(|r| !r.run.is_full() && r.milestone == Milestone::Final)
    {
        let side = usize::from(r.run.schedule != ScheduleKind::Cosine);
        let run = (
            r.run.dataset.as_str(),
            r.run.model.as_str(),
            r.run.vocab_size,
            r.run.seed,
        );
        by.entry(r.run.anchor).or_default().entry(run).or_default()[side] = Some(r.acc);
    }
    let mut rows = Vec::new();
    for (anchor, runs) in by {
        let (cosine, wsd): (Vec<f64>, Vec<f64>) = runs
            .values()
            .filter_map(|[c, w]| Some((c.as_ref().copied()?, w.as_ref().copied()?)))
            .unzip();
        if cosine.len() < 2 {
            continue;
        }
        let rho = stats::spearman(&cosine, &wsd);
        let p = significance::spearman_p(&cosine, &wsd);
        rows.push(ScheduleRow {
            anchor,
            n: cosine.len() as i64,
            spearman: rho,
            p_value: p.map(|p| p.0),
            p_method: p.map_or("", |p| p.1.name()).to_owned(),
            mean_difference: wsd.iter().zip(&cosine).map(|(w, c)| w - c).sum::<f64>()
                / cosine.len() as f64,
        });
    }
    rows
}
