//! The aggregate's figures (`<out>/plots/`, each as PNG, SVG and PDF), the study's set: learning
//! curves per dataset (one line per vocabulary size), every configuration on one axis with its
//! final scores beside, Spearman ρ and R² per anchor, the 67-paradigm and the 12-group (plus
//! overall) × configuration heatmaps with box plots (and one of each group's paradigms), accuracy
//! per phenomenon and anchor, the compute–decision frontier, and signal-to-noise per task. In the
//! paper's style ([`FigureStyle::Paper`]) they follow the study's figure choices.

pub mod blimp_grids;
mod curves;
mod frontier;
pub mod glue;
mod heatmaps;
mod lines;
mod predictiveness;
pub mod race;
mod render;
mod series;
mod signal_noise;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::decisions::DecisionRow;
use super::inputs::Record;
use super::predictiveness::Row;
use super::signal_noise::SignalNoiseRow;
use crate::config::{Band, FigureStyle, HeatmapScale, YScale};
use series::{Configuration, Spread};

pub use render::EXTENSIONS;
pub use series::ConfigFilter;

/// The figures [`write_all`] draws: file stem and the title the report gives it.
pub const FIGURES: [(&str, &str); 8] = [
    (
        "learning_curves",
        "Learning curves per dataset and model size, one line per vocabulary size",
    ),
    (
        "all_configurations",
        "Every configuration on one axis, and its final score",
    ),
    (
        "predictiveness",
        "Spearman ρ and R² of each anchor with the final accuracy (all runs)",
    ),
    (
        "paradigm_heatmap",
        "The 67 paradigms × configurations at the final checkpoint (mean ± std over seeds)",
    ),
    (
        "group_heatmap",
        "The paper's 12 phenomenon groups and overall × configurations (mean ± std over seeds)",
    ),
    ("phenomena_heatmap", "Accuracy per phenomenon and anchor"),
    (
        "decision_frontier",
        "Decision accuracy between configurations against the compute spent, per group",
    ),
    (
        "signal_noise",
        "Signal-to-noise per task at the final: spread of configuration means over seed noise",
    ),
];

/// How figures are drawn (settings `[aggregate]` `band`, `y_scale`, `dpi`, `heatmap_scale`).
#[derive(Debug, Clone, PartialEq)]
pub struct FigureOptions {
    pub band: Band,
    pub y_scale: YScale,
    /// Resolution of the PNGs (sizes are set at 100 dpi).
    pub dpi: u32,
    /// The GLUE heatmap's checkpoint (None: each run's last, `final` when it has one).
    pub heatmap_milestone: Option<super::record::Milestone>,
    /// How the GLUE heatmap's cells are coloured.
    pub heatmap_scale: HeatmapScale,
    /// The configurations the figures show (the tables keep all).
    pub configs: ConfigFilter,
    /// lmeff's figures or the paper's choices.
    pub style: FigureStyle,
}

impl Default for FigureOptions {
    fn default() -> Self {
        FigureOptions {
            band: Band::Minmax,
            y_scale: YScale::Linear,
            dpi: render::BASE_DPI,
            heatmap_milestone: None,
            heatmap_scale: HeatmapScale::Global,
            configs: ConfigFilter::default(),
            style: FigureStyle::Lmeff,
        }
    }
}

/// What the figures are drawn from.
pub struct Inputs<'a> {
    pub overall: &'a [Record],
    pub tasks: &'a [Record],
    /// The global group's predictiveness rows, by anchor.
    pub global: &'a [&'a Row],
    /// Per-phenomenon accuracies.
    pub phenomena: &'a [Record],
    /// Decisions between configurations, per group and anchor.
    pub decisions: &'a [DecisionRow],
    /// Signal-to-noise per measure, task and milestone.
    pub signal_noise: &'a [SignalNoiseRow],
}

/// Writes every figure into `dir` (the aggregate's staging folder); returns the files.
pub fn write_all(dir: &Path, i: &Inputs, fig: &FigureOptions) -> Result<Vec<PathBuf>> {
    fs_err::create_dir_all(dir)?;
    let dpi = fig.dpi;
    let mut out = Vec::new();
    let curves = series::curves(i.overall);
    let panels = curves::panels(&curves);
    let (cols, rows) = (panels.len().clamp(1, 3), panels.len().div_ceil(3).max(1));
    let size = (520 * cols.max(2) as u32, 400 * rows as u32);
    out.extend(render::figure(dir, FIGURES[0].0, size, dpi, |r| {
        curves::draw_per_dataset(r, &curves, &panels, fig)
    })?);
    let height = 460u32.max(120 + 26 * curves.len() as u32);
    out.extend(render::figure(
        dir,
        FIGURES[1].0,
        (1300, height),
        dpi,
        |r| curves::draw_all(r, &curves, "BLiMP accuracy", fig.style),
    )?);
    out.extend(render::figure(dir, FIGURES[2].0, (900, 520), dpi, |r| {
        predictiveness::draw(r, i.global)
    })?);
    let grid = blimp_grids::paradigm_grid(i.tasks, fig)?;
    out.extend(render::figure(dir, FIGURES[3].0, grid.size(), dpi, |r| {
        heatmaps::draw_grid(r, &grid)
    })?);
    let grid = blimp_grids::group_grid(i.overall, i.tasks, fig)?;
    out.extend(render::figure(dir, FIGURES[4].0, grid.size(), dpi, |r| {
        heatmaps::draw_grid(r, &grid)
    })?);
    for (stem, grid) in blimp_grids::detail_grids(i.tasks, fig)? {
        out.extend(render::figure(dir, &stem, grid.size(), dpi, |r| {
            heatmaps::draw_grid(r, &grid)
        })?);
    }
    let h = blimp_grids::heat(i.phenomena);
    let height = (110 + 26 * h.len() as u32).max(300);
    out.extend(render::figure(
        dir,
        FIGURES[5].0,
        (900, height),
        dpi,
        |r| heatmaps::draw_anchors(r, &h),
    )?);
    out.extend(render::figure(dir, FIGURES[6].0, (1000, 560), dpi, |r| {
        frontier::draw(r, i.decisions)
    })?);
    let height = signal_noise::height(signal_noise::bars(i.signal_noise).len());
    out.extend(render::figure(
        dir,
        FIGURES[7].0,
        (1000, height),
        dpi,
        |r| signal_noise::draw(r, i.signal_noise),
    )?);
    Ok(out)
}

/// Full runs' records at `milestone`, or at each run's last checkpoint.
pub(super) fn at(records: &[Record], milestone: Option<super::record::Milestone>) -> Vec<&Record> {
    match milestone {
        None => at_end(records),
        Some(m) => records
            .iter()
            .filter(|r| r.run.is_full() && r.milestone == m)
            .collect(),
    }
}

/// Full runs' records at each run's last checkpoint (`final` when it has one).
pub(super) fn at_end(records: &[Record]) -> Vec<&Record> {
    let mut last: BTreeMap<&super::record::RunKey, f64> = BTreeMap::new();
    for r in records.iter().filter(|r| r.run.is_full()) {
        let e = last.entry(&r.run).or_insert(f64::MIN);
        *e = e.max(r.milestone.order());
    }
    records
        .iter()
        .filter(|r| r.run.is_full() && last.get(&r.run) == Some(&r.milestone.order()))
        .collect()
}

/// Grid cells from (row, configuration) → accuracies over seeds.
pub(super) fn cells(
    values: BTreeMap<(usize, Configuration), Vec<f64>>,
    configs: &[Configuration],
) -> BTreeMap<(usize, usize), Spread> {
    values
        .into_iter()
        .filter_map(|((row, c), v)| {
            let ci = configs.iter().position(|x| *x == c)?;
            Some(((row, ci), Spread::of(&v)?))
        })
        .collect()
}
