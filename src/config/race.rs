//! The `[race]` section: when `lmeff race` stops a configuration. Comparisons stay inside a
//! comparison group (same model size by default: curves cross between sizes); from the first rung
//! on, a configuration whose seed mean is below its group leader's by a one-sided Welch t test
//! over seeds, Holm-corrected over the group's comparisons at that rung, is out, as long as `keep`
//! configurations remain.

use serde::{Deserialize, Serialize};

/// An identity column a comparison group may be made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupColumn {
    Dataset,
    ModelSize,
    VocabSize,
    Schedule,
}

impl GroupColumn {
    pub fn name(self) -> &'static str {
        match self {
            GroupColumn::Dataset => "dataset",
            GroupColumn::ModelSize => "model_size",
            GroupColumn::VocabSize => "vocab_size",
            GroupColumn::Schedule => "schedule",
        }
    }
}

impl std::str::FromStr for GroupColumn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "dataset" => Ok(GroupColumn::Dataset),
            "model_size" => Ok(GroupColumn::ModelSize),
            "vocab_size" => Ok(GroupColumn::VocabSize),
            "schedule" => Ok(GroupColumn::Schedule),
            other => Err(format!(
                "{other:?} is not a column to group by (dataset, model_size, vocab_size, schedule)"
            )),
        }
    }
}

/// Racing settings (`[race]` in `configs/lmeff.toml`, `LMEFF_RACE__<KEY>`; a list such as
/// `group_by` as `LMEFF_RACE__GROUP_BY='["dataset", "model_size"]'`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaceSettings {
    /// The columns that make a comparison group (empty: one group of every configuration).
    pub group_by: Vec<GroupColumn>,
    /// The first rung, in millions of tokens: every anchor from here on is a rung.
    pub min_anchor: f64,
    /// The family-wise error rate of one rung's eliminations in one group (Holm).
    pub alpha: f64,
    /// The fewest configurations a group keeps, whatever the tests say.
    pub keep: usize,
}

impl Default for RaceSettings {
    fn default() -> Self {
        RaceSettings {
            group_by: vec![GroupColumn::ModelSize],
            min_anchor: 25.0,
            alpha: 0.05,
            keep: 2,
        }
    }
}

impl RaceSettings {
    /// Checks the values a file or a flag gave.
    pub fn check(&self) -> anyhow::Result<()> {
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            anyhow::bail!("race.alpha must lie between 0 and 1, not {}", self.alpha);
        }
        if !(self.min_anchor.is_finite() && self.min_anchor > 0.0) {
            anyhow::bail!(
                "race.min_anchor must be a positive number of millions of tokens, not {}",
                self.min_anchor
            );
        }
        if self.keep < 1 {
            anyhow::bail!("race.keep must be at least 1 (a race ends with a winner)");
        }
        Ok(())
    }
}
