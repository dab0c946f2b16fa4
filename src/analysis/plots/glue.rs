//! GLUE's figures, as the study draws them: the macro-average learning curve of every
//! configuration with its final scores beside, and the tasks × configurations at one checkpoint
//! (the final one, or `--heatmap-milestone`; rows `BOOLQ (accuracy)`, coloured over the grid or
//! per row); and lmeff's own, how alike BLiMP and GLUE rank the runs at each anchor.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};

use super::heatmaps::{self, Grid};
use super::predictiveness::{draw_panel, RhoPanel};
use super::series::{self, Configuration};
use super::{at, cells, curves, render, FigureOptions};
use crate::analysis::glue_ranking::AgreementRow;
use crate::analysis::inputs::Record;
use crate::config::{GlueMeasure, HeatmapScale};
use crate::data::glue::tasks::{Task, TASKS};

/// The GLUE figures: file stem and the title the report gives it.
pub const FIGURES: [(&str, &str); 3] = [
    (
        "glue_curves",
        "GLUE macro-average (test) of every configuration, and its final score",
    ),
    (
        "glue_heatmap",
        "GLUE tasks × configurations at one checkpoint (test; mean ± std over seeds)",
    ),
    (
        "glue_agreement",
        "How alike BLiMP and the GLUE macro-average rank the runs at each anchor",
    ),
];

/// What the GLUE figures are drawn from.
pub struct GlueInputs<'a> {
    /// Macro-averages (`task` = None) and per-task scores, as records.
    pub macro_records: &'a [Record],
    pub task_records: &'a [Record],
    pub agreement: &'a [AgreementRow],
    /// The metric of each task the scores are.
    pub measure: GlueMeasure,
}

/// Writes the GLUE figures into `dir`; returns the (stem, title) of each drawn. Without GLUE
/// results there is nothing to draw; the agreement figure needs an anchor with BLiMP and GLUE.
pub fn write(
    dir: &Path,
    g: &GlueInputs,
    fig: &FigureOptions,
) -> Result<Vec<(&'static str, &'static str)>> {
    let dpi = fig.dpi;
    let mut drawn = Vec::new();
    if g.task_records.is_empty() {
        return Ok(drawn);
    }
    let curves = series::curves(g.macro_records);
    if !curves.is_empty() {
        let height = 460u32.max(120 + 26 * curves.len() as u32);
        render::figure(dir, FIGURES[0].0, (1300, height), dpi, |r| {
            curves::draw_all(r, &curves, "GLUE macro-average (test)", fig.style)
        })?;
        drawn.push(FIGURES[0]);
    }
    let grid = task_grid(g, fig)?;
    render::figure(dir, FIGURES[1].0, grid.size(), dpi, |r| {
        heatmaps::draw_grid(r, &grid)
    })?;
    drawn.push(FIGURES[1]);
    if !g.agreement.is_empty() {
        let a = g.agreement;
        let panel = RhoPanel {
            title: "BLiMP accuracy against the GLUE macro-average: rankings of the full runs",
            y_desc: "agreement of the two rankings",
            labels: a.iter().map(|r| r.milestone.clone()).collect(),
            rho: a
                .iter()
                .map(|r| (r.spearman, r.spearman_lo, r.spearman_hi))
                .collect(),
            second: ("Kendall τ-b", a.iter().map(|r| r.kendall_tau_b).collect()),
        };
        render::figure(dir, FIGURES[2].0, (900, 520), dpi, |r| {
            draw_panel(r, &panel)
        })?;
        drawn.push(FIGURES[2]);
    }
    Ok(drawn)
}

/// A task's row label: `BOOLQ (accuracy)`.
fn row_label(task: &Task, measure: GlueMeasure) -> String {
    let metric = match measure {
        GlueMeasure::Study => task.reported,
        GlueMeasure::Watched => task.watch,
    };
    format!("{} ({})", task.name.to_uppercase(), metric.name())
}

/// Tasks (ordered by metric, then name, as the study's heatmap) and the macro-average ×
/// configurations at `milestone` (None: each run's last checkpoint).
fn task_grid(g: &GlueInputs, fig: &FigureOptions) -> Result<Grid> {
    let (milestone, scale) = (fig.heatmap_milestone, fig.heatmap_scale);
    let end = at(g.task_records, milestone);
    if end.is_empty() {
        let m = milestone.map_or("the end".to_owned(), |m| format!("{m}M tokens"));
        bail!("no full run has GLUE results at {m} for the GLUE heatmap (--heatmap-milestone)");
    }
    let metric_of = |t: &Task| match g.measure {
        GlueMeasure::Study => t.reported,
        GlueMeasure::Watched => t.watch,
    };
    let mut tasks: Vec<Task> = TASKS
        .into_iter()
        .filter(|t| end.iter().any(|r| r.task.as_deref() == Some(t.name)))
        .collect();
    tasks.sort_by(|a, b| (metric_of(a), a.name).cmp(&(metric_of(b), b.name)));
    let mut rows: Vec<String> = tasks.iter().map(|t| row_label(t, g.measure)).collect();
    let boxed = rows.len();
    let macro_end = at(g.macro_records, milestone);
    if !macro_end.is_empty() {
        rows.push("MACRO-AVERAGE".to_owned());
    }
    let configs = series::ordered(end.iter().map(|r| r.run.configuration()));
    let mut values: BTreeMap<(usize, Configuration), Vec<f64>> = BTreeMap::new();
    for r in end.iter().chain(&macro_end) {
        let row = match r.task.as_deref() {
            Some(name) => tasks.iter().position(|t| t.name == name),
            None => Some(boxed),
        };
        if let Some(row) = row {
            values
                .entry((row, r.run.configuration()))
                .or_default()
                .push(r.acc);
        }
    }
    let at_label = milestone.map_or("the final checkpoint".to_owned(), |m| {
        format!("{m}M tokens")
    });
    let colours = match scale {
        HeatmapScale::Global => "",
        HeatmapScale::Row => "; colours per row",
    };
    Ok(Grid {
        title: format!("GLUE at {at_label}: test scores, mean ± std over seeds{colours}"),
        cells: cells(values, &configs),
        boxed,
        rows,
        configs,
        scale,
        style: fig.style,
    })
}
