//! The race's records: a row per configuration (`race.csv`), each group's outcome and the whole
//! replay (`race.json`), the curves the figure draws, and the comparison group of a
//! configuration.

use serde::{Deserialize, Serialize};

use crate::analysis::decisions::Curve;
use crate::config::{Configuration, GroupColumn, RaceSettings, ScheduleKind};

/// One row of `race.csv`: a configuration and where the race stopped it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaceRow {
    pub group: String,
    pub configuration: String,
    pub dataset: String,
    pub model_size: String,
    pub vocab_size: i64,
    pub schedule: ScheduleKind,
    /// The rung (millions of tokens) it was stopped at; empty: it ran to the end.
    pub eliminated_at: Option<f64>,
    /// Its seed mean minus the leader's there.
    pub gap: Option<f64>,
    /// The one-sided Welch p-value against the leader, and Holm's adjustment of it.
    pub p_value: Option<f64>,
    pub p_holm: Option<f64>,
    /// Its rank in the group by the final seed mean (1 = best), when it has a final.
    pub final_rank: Option<i64>,
    pub final_mean: Option<f64>,
}

/// What the race did to one group (`race.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupOutcome {
    pub group: String,
    pub configurations: usize,
    pub eliminated: usize,
    /// The rungs, in millions of tokens.
    pub rungs: Vec<f64>,
    /// The training compute the race spends (6·N·tokens; stopped runs up to their rung) as a
    /// share of running everything to the end; missing where a run's tokens or its model's
    /// parameters are unknown.
    pub compute_fraction: Option<f64>,
    /// Whether the configuration best at the final survived, and every one of the final top 3.
    pub best_survived: bool,
    pub top3_survived: bool,
}

/// The replay's answer (`race.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Replay {
    pub measure: String,
    pub settings: RaceSettings,
    pub groups: Vec<GroupOutcome>,
    /// Over every group.
    pub compute_fraction: Option<f64>,
    #[serde(skip)]
    pub rows: Vec<RaceRow>,
    /// Every configuration's seed means, for the figure.
    #[serde(skip)]
    pub curves: Vec<RaceCurve>,
}

/// A configuration's seed mean at each anchor and at its final (millions of tokens, when known).
#[derive(Debug, Clone, PartialEq)]
pub struct RaceCurve {
    pub group: String,
    pub configuration: String,
    pub points: Vec<(f64, f64)>,
    pub eliminated_at: Option<f64>,
}

impl RaceCurve {
    pub(super) fn of(row: &RaceRow, curve: &Curve) -> RaceCurve {
        let mut points: Vec<(f64, f64)> = curve
            .at
            .iter()
            .filter_map(|(t, seeds)| Some((*t as f64 / 1e6, mean(seeds.values().copied())?)))
            .collect();
        let tokens: Option<Vec<u64>> = curve.final_tokens.values().copied().collect();
        let end = tokens.and_then(|t| mean(t.iter().map(|&t| t as f64)));
        if let (Some(t), Some(m)) = (end, row.final_mean) {
            points.push((t / 1e6, m));
        }
        RaceCurve {
            group: row.group.clone(),
            configuration: row.configuration.clone(),
            points,
            eliminated_at: row.eliminated_at,
        }
    }
}

/// The comparison group of `c` under `by`: `model_size=20m`, `dataset=babylm,model_size=20m`, or
/// `all` without columns.
pub fn group_of(c: &Configuration, by: &[GroupColumn]) -> String {
    let parts: Vec<String> = by
        .iter()
        .map(|col| {
            let v = match col {
                GroupColumn::Dataset => c.dataset.clone(),
                GroupColumn::ModelSize => c.model.clone(),
                GroupColumn::VocabSize => c.vocab_size.to_string(),
                GroupColumn::Schedule => c.schedule.to_string(),
            };
            format!("{}={v}", col.name())
        })
        .collect();
    match parts.is_empty() {
        true => "all".into(),
        false => parts.join(","),
    }
}

pub(super) fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}
