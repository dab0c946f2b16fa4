//! The aggregate's tables as row structs: each struct is a table's schema (its fields, in order,
//! are the columns; see [`Table::from_rows`]).

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::record::{Milestone, Record};
use super::table::Table;
use crate::config::{Anchor, ScheduleKind};

/// The columns that place a record: its run and checkpoint.
#[derive(Serialize, Deserialize)]
pub(super) struct CheckpointCols {
    pub dataset: String,
    pub model_size: String,
    pub vocab_size: i64,
    pub seed: i64,
    pub schedule: ScheduleKind,
    pub anchor: Anchor,
    pub milestone: String,
    pub milestone_millions: Option<f64>,
}

impl CheckpointCols {
    fn of(r: &Record) -> CheckpointCols {
        CheckpointCols {
            dataset: r.run.dataset.clone(),
            model_size: r.run.model.clone(),
            vocab_size: i64::from(r.run.vocab_size),
            seed: r.run.seed as i64,
            schedule: r.run.schedule,
            anchor: r.run.anchor,
            milestone: r.milestone.to_string(),
            milestone_millions: match r.milestone {
                Milestone::Millions(v) => Some(v),
                Milestone::Final => r.tokens.map(|t| t as f64 / 1e6),
            },
        }
    }
}

/// `overall`: one checkpoint's accuracy over every paradigm scored.
#[derive(Serialize, Deserialize)]
pub(super) struct OverallCols {
    pub acc: f64,
    pub n: Option<i64>,
    pub source: String,
}

/// `per_paradigm`: one checkpoint's accuracy on one paradigm.
#[derive(Serialize, Deserialize)]
pub(super) struct ParadigmCols {
    pub paradigm: Option<String>,
    pub field: Option<String>,
    pub linguistics_term: Option<String>,
    /// The BLiMP paper's phenomenon group.
    pub group: Option<String>,
    pub acc: f64,
    pub n: Option<i64>,
}

/// `per_phenomenon`: one checkpoint's accuracy on one phenomenon (setting `aggregate.phenomena`).
#[derive(Serialize, Deserialize)]
pub(super) struct PhenomenonCols {
    pub phenomenon: Option<String>,
    pub acc: f64,
}

/// `earliest`: a group's earliest reliable anchor and the tokens it saves.
#[derive(Serialize, Deserialize)]
pub(super) struct EarliestRow {
    pub group: String,
    /// The most runs a milestone of the group pairs with their finals.
    pub n_runs: i64,
    /// `judged`, or why not (`too few runs (n = 2, fewer than 5) to judge`).
    pub verdict: String,
    pub threshold: f64,
    pub earliest_by_spearman: Option<f64>,
    pub earliest_by_lower_bound: Option<f64>,
    pub mean_final_millions: Option<f64>,
    pub tokens_saved_by_spearman: Option<f64>,
    pub tokens_saved_by_lower_bound: Option<f64>,
    /// The first anchor whose decision accuracy between configurations and its interval's lower
    /// bound reach the threshold (`decisions`; empty where the group is not one of its groups).
    pub earliest_by_configurations: Option<f64>,
}

/// `phenomenon_predictiveness`: ρ of one phenomenon's accuracy at an anchor with its final.
#[derive(Serialize, Deserialize)]
pub(super) struct PhenomenonRhoRow {
    pub phenomenon: String,
    pub milestone: f64,
    pub n: i64,
    pub spearman: f64,
}

/// `missing`: a checkpoint the plan expects without an overall result.
#[derive(Serialize, Deserialize)]
pub(super) struct MissingRow {
    pub run_id: String,
    pub dataset: String,
    pub model_size: String,
    pub vocab_size: String,
    pub seed: String,
    pub anchor: Anchor,
    pub milestone: String,
}

/// The table of `records`: their checkpoint columns, then `extra`'s columns of each.
pub(super) fn record_table<T: Serialize + for<'de> Deserialize<'de>>(
    records: &[&Record],
    extra: impl Fn(&Record) -> T,
) -> Result<Table> {
    let keys: Vec<CheckpointCols> = records.iter().map(|r| CheckpointCols::of(r)).collect();
    let rest: Vec<T> = records.iter().map(|r| extra(r)).collect();
    Ok(Table::from_rows(&keys)?.beside(Table::from_rows(&rest)?))
}
