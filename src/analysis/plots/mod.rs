//! The aggregate's figures (`<out>/plots/`, each as PNG, SVG and PDF), the study's set: learning
//! curves per dataset (one line per vocabulary size), every configuration on one axis with its
//! final scores beside, Spearman ρ and R² per anchor, the 67-paradigm and the 12-group (plus
//! overall) × configuration heatmaps with box plots, accuracy per phenomenon and anchor, the
//! compute–decision frontier, and signal-to-noise per task.

mod curves;
mod frontier;
pub mod glue;
mod heatmaps;
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
use crate::config::{Band, HeatmapScale, YScale};
use crate::data::blimp_paradigms::{paper_group, BLIMP_PARADIGMS, PAPER_GROUPS};
use heatmaps::Grid;
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
        |r| curves::draw_all(r, &curves, "BLiMP accuracy"),
    )?);
    out.extend(render::figure(dir, FIGURES[2].0, (900, 520), dpi, |r| {
        predictiveness::draw(r, i.global)
    })?);
    let grid = paradigm_grid(i.tasks);
    out.extend(render::figure(dir, FIGURES[3].0, grid.size(), dpi, |r| {
        heatmaps::draw_grid(r, &grid)
    })?);
    let grid = group_grid(i.overall, i.tasks);
    out.extend(render::figure(dir, FIGURES[4].0, grid.size(), dpi, |r| {
        heatmaps::draw_grid(r, &grid)
    })?);
    let h = heat(i.phenomena);
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

/// Paradigms (BLiMP's order; others after, by name) × configurations.
fn paradigm_grid(tasks: &[Record]) -> Grid {
    let end = at_end(tasks);
    let mut rows: Vec<String> = Vec::new();
    for r in &end {
        if let Some(t) = &r.task {
            if !rows.contains(t) {
                rows.push(t.clone());
            }
        }
    }
    let rank = |t: &String| {
        BLIMP_PARADIGMS
            .iter()
            .position(|p| p == t)
            .unwrap_or(usize::MAX)
    };
    rows.sort_by(|a, b| (rank(a), a).cmp(&(rank(b), b)));
    let configs = series::ordered(end.iter().map(|r| r.run.configuration()));
    let mut values: BTreeMap<(usize, Configuration), Vec<f64>> = BTreeMap::new();
    for r in &end {
        let Some(row) = r
            .task
            .as_ref()
            .and_then(|t| rows.iter().position(|x| x == t))
        else {
            continue;
        };
        values
            .entry((row, r.run.configuration()))
            .or_default()
            .push(r.acc);
    }
    Grid {
        title: "BLiMP paradigms at the final checkpoint (mean ± std over seeds; white = lowest, blue = highest)".into(),
        cells: cells(values, &configs),
        boxed: rows.len(),
        rows,
        configs,
        scale: HeatmapScale::Global,
    }
}

/// The paper's 12 groups (each run's mean over the group's paradigms) and overall ×
/// configurations.
fn group_grid(overall: &[Record], tasks: &[Record]) -> Grid {
    let task_end = at_end(tasks);
    let mut per_run: BTreeMap<(&super::record::RunKey, usize), Vec<f64>> = BTreeMap::new();
    for r in &task_end {
        let group = r
            .phenomenon
            .as_deref()
            .and_then(paper_group)
            .and_then(|g| PAPER_GROUPS.iter().position(|p| *p == g));
        if let Some(g) = group {
            per_run.entry((&r.run, g)).or_default().push(r.acc);
        }
    }
    let present: Vec<usize> = {
        let mut g: Vec<usize> = per_run.keys().map(|k| k.1).collect();
        g.sort();
        g.dedup();
        g
    };
    let mut rows: Vec<String> = present
        .iter()
        .map(|&g| PAPER_GROUPS[g].to_owned())
        .collect();
    rows.push("overall".into());
    let end = at_end(overall);
    let configs = series::ordered(end.iter().chain(&task_end).map(|r| r.run.configuration()));
    let mut values: BTreeMap<(usize, Configuration), Vec<f64>> = BTreeMap::new();
    for ((run, g), accs) in &per_run {
        let row = present
            .iter()
            .position(|p| p == g)
            .expect("a present group");
        values
            .entry((row, run.configuration()))
            .or_default()
            .push(accs.iter().sum::<f64>() / accs.len() as f64);
    }
    for r in end {
        values
            .entry((present.len(), r.run.configuration()))
            .or_default()
            .push(r.acc);
    }
    Grid {
        title: "BLiMP phenomenon groups (the paper's 12) and overall at the final checkpoint (mean ± std over seeds)".into(),
        cells: cells(values, &configs),
        boxed: present.len(),
        rows,
        configs,
        scale: HeatmapScale::Global,
    }
}

fn heat(phenomena: &[Record]) -> heatmaps::Heat {
    let mut acc: BTreeMap<String, BTreeMap<(u64, String), [f64; 2]>> = BTreeMap::new();
    for r in phenomena.iter().filter(|r| r.run.is_full()) {
        let Some(p) = &r.phenomenon else { continue };
        let key = (
            (r.milestone.order().min(1e12) * 1e6) as u64,
            r.milestone.to_string(),
        );
        let e = acc.entry(p.clone()).or_default().entry(key).or_default();
        e[0] += r.acc;
        e[1] += 1.0;
    }
    acc.into_iter()
        .map(|(p, m)| (p, m.into_iter().map(|(k, [s, n])| (k, s / n)).collect()))
        .collect()
}
