//! What an aggregation is asked ([`AggregateOptions`]) and what it found ([`Summary`]): the
//! aggregate computes a summary, the report reads it.

use std::path::PathBuf;

use super::aggregate_noise::NoiseTables;
use super::decisions::DecisionRow;
pub use super::decisions::Verdicts;
use super::extrapolate::PredictionRow;
use super::glue_fidelity::FidelityRow;
use super::glue_ranking::AgreementRow;
use super::plots;
use super::predictiveness::{self, Earliest};
use super::schedules::ScheduleRow;
use crate::config::{GlueMeasure, Phenomena, Plan, Presets};

/// What to aggregate and how.
pub struct AggregateOptions {
    /// A results folder to walk (lmeff's Parquet and lm-eval JSON files).
    pub results: Option<PathBuf>,
    /// Long tables in the study's format.
    pub imports: Vec<PathBuf>,
    pub out: PathBuf,
    pub skip_bad: bool,
    /// Bootstrap draws per (group, milestone) and their seed.
    pub draws: usize,
    pub seed: u64,
    /// ρ an anchor must reach to count as reliable.
    pub threshold: f64,
    /// The fewest runs a group needs for an earliest-anchor verdict.
    pub min_runs: usize,
    /// The fewest configurations and seeds a decision verdict needs.
    pub verdicts: Verdicts,
    /// How paradigms are grouped into phenomena.
    pub phenomena: Phenomena,
    /// Which metric of each GLUE task is ranked and averaged.
    pub glue_measure: GlueMeasure,
    /// How the figures are drawn.
    pub figures: plots::FigureOptions,
    /// The planned runs (configs.csv × seeds), for the missing-results report.
    pub plan: Option<Plan>,
    /// Seed counts to plan for (`--seeds-plan`; empty: no `seeds_plan` table).
    pub seeds_plan: Vec<usize>,
    /// The model presets, for the parameters behind the compute of each anchor (None: unknown).
    pub presets: Option<Presets>,
    /// What the report's last line says wrote it.
    pub provenance: Provenance,
}

/// How a report came to be: the command line and the digest of the resolved settings (lmeff's
/// version and commit are the binary's own).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provenance {
    pub command: Vec<String>,
    /// sha256 of the resolved settings as JSON.
    pub settings_sha256: String,
}

/// What was written.
#[derive(Debug)]
pub struct Summary {
    pub overall: usize,
    pub tasks: usize,
    pub predictiveness: Vec<predictiveness::Row>,
    /// Decisions between configurations per measure, group and anchor.
    pub decisions: Vec<DecisionRow>,
    pub earliest: Vec<Earliest>,
    /// Groups with exactly the runs of another (not listed again), and that group.
    pub aliases: Vec<(String, String)>,
    /// How well extrapolated finals predict the real ones, per group and anchor.
    pub prediction: Vec<PredictionRow>,
    /// WSD against cosine budgets, per budget trained both ways.
    pub schedules: Vec<ScheduleRow>,
    /// GLUE results: (checkpoint × task results, checkpoints).
    pub glue: (usize, usize),
    /// The training-set cap of the GLUE results ranked and drawn (None: whole sets).
    pub glue_cap: Option<i64>,
    /// Cheap GLUE (subsampled training sets) against the whole sets, per cap and anchor.
    pub glue_fidelity: Vec<FidelityRow>,
    /// Predictiveness of the GLUE macro-average and of each task.
    pub glue_predictiveness: Vec<(String, predictiveness::Row)>,
    /// Earliest reliable anchor of the GLUE macro-average per group.
    pub glue_earliest: Vec<Earliest>,
    /// BLiMP against GLUE per anchor.
    pub glue_agreement: Vec<AgreementRow>,
    /// Chance, learning and signal-to-noise, seeds as the replicates.
    pub noise: NoiseTables,
    /// Planned checkpoints without a result (None without a plan: not checked).
    pub missing: Option<usize>,
    /// The race of the launch that wrote these results (`race.json` in the results folder).
    pub race: Option<super::race::launched::RaceLog>,
    /// What the seeds of lmeff's own results varied (`train.seed_mode`), each mode once.
    pub seed_modes: Vec<crate::config::SeedMode>,
    pub skipped: Vec<(PathBuf, String)>,
    pub data_dir: PathBuf,
}
