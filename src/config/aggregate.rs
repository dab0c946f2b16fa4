//! The `[aggregate]` section of the settings: what `lmeff aggregate` needs to call a verdict.

use serde::{Deserialize, Serialize};

/// The fewest runs whose ranking can be judged: with fewer than 5, even a perfect agreement of two
/// rankings has an exact two-sided p-value of at least 2/4! ≈ 0.083, so no verdict at the 5% level
/// is possible (with 5 it is 2/5! ≈ 0.017).
pub const DEFAULT_MIN_RUNS: usize = 5;

/// Aggregator settings (`[aggregate]` in `configs/lmeff.toml`, `LMEFF_AGGREGATE__<KEY>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AggregateSettings {
    /// A group of fewer full runs gets no earliest-anchor verdict ("too few runs to judge").
    pub min_runs: usize,
}

impl Default for AggregateSettings {
    fn default() -> Self {
        AggregateSettings {
            min_runs: DEFAULT_MIN_RUNS,
        }
    }
}
