//! The `[aggregate]` section of the settings: what `lmeff aggregate` needs to call a verdict.

use serde::{Deserialize, Serialize};

/// The fewest runs whose ranking can be judged: with fewer than 5, even a perfect agreement of two
/// rankings has an exact two-sided p-value of at least 2/4! ≈ 0.083, so no verdict at the 5% level
/// is possible (with 5 it is 2/5! ≈ 0.017).
pub const DEFAULT_MIN_RUNS: usize = 5;

/// The fewest configurations whose ranking is judged: three, so three pairs (two configurations
/// are one pair, right or wrong by a coin's chance).
pub const DEFAULT_MIN_CONFIGS: usize = 3;

/// The fewest seeds each configuration needs for a verdict: two, so that seed noise (the
/// interval's inner resampling, the noise ceiling, the resolved pairs) is measured, not assumed
/// away.
pub const DEFAULT_MIN_SEEDS: usize = 2;

/// Aggregator settings (`[aggregate]` in `configs/lmeff.toml`, `LMEFF_AGGREGATE__<KEY>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AggregateSettings {
    /// A group of fewer full runs gets no earliest-anchor verdict ("too few runs to judge").
    pub min_runs: usize,
    /// A decision group of fewer configurations gets no verdict (`data/decisions`).
    pub min_configs: usize,
    /// A decision group whose configurations have fewer seeds (at the anchor and the final) gets
    /// no verdict; 1 judges single-seed studies, their seed noise unknown.
    pub min_seeds: usize,
    /// How paradigms are grouped into phenomena: the BLiMP paper's 12 groups (the study's) or
    /// BLiMP's own `linguistics_term` (13).
    pub phenomena: Phenomena,
    /// The band around a mean over seeds in the per-dataset learning curves.
    pub band: Band,
    /// The y scale of the per-dataset learning curves.
    pub y_scale: YScale,
    /// The resolution of the PNG figures (their sizes are set at 100 dpi; 300 for print).
    pub dpi: u32,
    /// Which metric of each GLUE task is ranked, averaged and drawn.
    pub glue_measure: GlueMeasure,
    /// How the GLUE heatmap's cells are coloured.
    pub heatmap_scale: HeatmapScale,
    /// lmeff's figures, or the paper's choices (see [`FigureStyle::Paper`]).
    pub figures: FigureStyle,
}

/// Whose choices the BLiMP figures follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FigureStyle {
    /// Learning curves over the anchors as evenly spaced categories; a palette per figure; the
    /// group heatmap's cells the mean ± std over seeds of each run's group mean.
    #[default]
    Lmeff,
    /// The study's: learning curves over tokens on a linear axis, its colours per dataset and
    /// model size and `composite` for `hybrid_3.7B`, every BLiMP heatmap scaled per row, and the
    /// group heatmap's cells the mean of its paradigms' means ± the mean of their standard
    /// deviations over seeds.
    Paper,
}

impl Default for AggregateSettings {
    fn default() -> Self {
        AggregateSettings {
            min_runs: DEFAULT_MIN_RUNS,
            min_configs: DEFAULT_MIN_CONFIGS,
            min_seeds: DEFAULT_MIN_SEEDS,
            phenomena: Phenomena::default(),
            band: Band::default(),
            y_scale: YScale::default(),
            dpi: 100,
            glue_measure: GlueMeasure::default(),
            heatmap_scale: HeatmapScale::default(),
            figures: FigureStyle::default(),
        }
    }
}

/// The band drawn around a mean over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    /// From the lowest to the highest seed.
    #[default]
    Minmax,
    /// The mean ± one standard deviation over seeds (n − 1).
    Std,
}

/// The y scale of accuracy curves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum YScale {
    #[default]
    Linear,
    /// log(p / (1 − p)): differences near 1 stay visible.
    Logit,
}

/// How paradigms are grouped into phenomena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phenomena {
    /// The BLiMP paper's 12 groups, as the study reports them.
    #[default]
    Paper,
    /// BLiMP's `linguistics_term` field (13: s-selection on its own).
    Blimp,
}

/// Which metric of a GLUE task the aggregate uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GlueMeasure {
    /// The study's reported metric: accuracy; F1 for MRPC and QQP; MCC for CoLA.
    #[default]
    Study,
    /// The metric early stopping watched: F1 for binary tasks, accuracy for MNLI.
    Watched,
}

impl GlueMeasure {
    pub fn name(self) -> &'static str {
        match self {
            GlueMeasure::Study => "study",
            GlueMeasure::Watched => "watched",
        }
    }

    /// How the report says it.
    pub fn describe(self) -> &'static str {
        match self {
            GlueMeasure::Study => {
                "the study's reported metric per task (accuracy; F1 for MRPC and QQP; MCC for CoLA)"
            }
            GlueMeasure::Watched => {
                "the metric early stopping watched (F1 for binary tasks, accuracy for MNLI)"
            }
        }
    }
}

/// How heatmap cells are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeatmapScale {
    /// One scale for the whole grid, from its lowest to its highest mean.
    #[default]
    Global,
    /// Each row from its own lowest (0) to highest (1) mean: which configuration wins each task
    /// (the paper's reading).
    Row,
}

impl std::str::FromStr for GlueMeasure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "study" => Ok(GlueMeasure::Study),
            "watched" => Ok(GlueMeasure::Watched),
            _ => Err(format!("`{s}`: expected study or watched")),
        }
    }
}

impl std::str::FromStr for HeatmapScale {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "global" => Ok(HeatmapScale::Global),
            "row" => Ok(HeatmapScale::Row),
            _ => Err(format!("`{s}`: expected global or row")),
        }
    }
}

impl std::str::FromStr for FigureStyle {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lmeff" => Ok(FigureStyle::Lmeff),
            "paper" => Ok(FigureStyle::Paper),
            _ => Err(format!("`{s}`: expected lmeff or paper")),
        }
    }
}

impl std::str::FromStr for Phenomena {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "paper" => Ok(Phenomena::Paper),
            "blimp" => Ok(Phenomena::Blimp),
            _ => Err(format!("`{s}`: expected paper or blimp")),
        }
    }
}

impl std::str::FromStr for Band {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "minmax" => Ok(Band::Minmax),
            "std" => Ok(Band::Std),
            _ => Err(format!("`{s}`: expected minmax or std")),
        }
    }
}

impl std::str::FromStr for YScale {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "linear" => Ok(YScale::Linear),
            "logit" => Ok(YScale::Logit),
            _ => Err(format!("`{s}`: expected linear or logit")),
        }
    }
}

impl Band {
    /// How a legend says it.
    pub fn describe(self) -> &'static str {
        match self {
            Band::Minmax => "mean, min–max",
            Band::Std => "mean ± std",
        }
    }
}

impl YScale {
    pub fn name(self) -> &'static str {
        match self {
            YScale::Linear => "linear",
            YScale::Logit => "logit scale",
        }
    }

    pub fn to_axis(self, p: f64) -> f64 {
        match self {
            YScale::Linear => p,
            YScale::Logit => {
                let p = p.clamp(1e-4, 1.0 - 1e-4);
                (p / (1.0 - p)).ln()
            }
        }
    }

    pub fn from_axis(self, y: f64) -> f64 {
        match self {
            YScale::Linear => y,
            YScale::Logit => 1.0 / (1.0 + (-y).exp()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logit_round_trips() {
        for p in [0.1, 0.5, 0.93] {
            assert!((YScale::Logit.from_axis(YScale::Logit.to_axis(p)) - p).abs() < 1e-12);
        }
        assert_eq!(YScale::Logit.to_axis(0.5), 0.0);
    }
}
