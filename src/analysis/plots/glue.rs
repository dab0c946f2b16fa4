//! GLUE's figures, as the study draws them: the macro-average learning curve of every
//! configuration with its final scores beside, and the tasks × configurations at the final
//! checkpoint; and lmeff's own, how alike BLiMP and GLUE rank the runs at each anchor.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use super::heatmaps::{self, Grid};
use super::predictiveness::{draw_panel, RhoPanel};
use super::series::{self, Config};
use super::{at_end, cells, curves, render};
use crate::analysis::glue_ranking::{AgreementRow, MACRO};
use crate::analysis::inputs::Record;
use crate::data::glue::tasks::TASKS;

/// The GLUE figures: file stem and the title the report gives it.
pub const FIGURES: [(&str, &str); 3] = [
    (
        "glue_curves",
        "GLUE macro-average (test) of every configuration, and its final score",
    ),
    (
        "glue_heatmap",
        "GLUE tasks × configurations at the final checkpoint (test; mean ± std over seeds)",
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
}

/// Writes the GLUE figures into `dir`; returns the (stem, title) of each drawn. Without GLUE
/// results there is nothing to draw; the agreement figure needs an anchor with BLiMP and GLUE.
pub fn write(dir: &Path, g: &GlueInputs, dpi: u32) -> Result<Vec<(&'static str, &'static str)>> {
    let mut drawn = Vec::new();
    if g.task_records.is_empty() {
        return Ok(drawn);
    }
    let curves = series::curves(g.macro_records);
    if !curves.is_empty() {
        let height = 460u32.max(120 + 26 * curves.len() as u32);
        render::figure(dir, FIGURES[0].0, (1300, height), dpi, |r| {
            curves::draw_all(r, &curves, "GLUE macro-average (test)")
        })?;
        drawn.push(FIGURES[0]);
    }
    let grid = task_grid(g.macro_records, g.task_records);
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

/// Tasks (GLUE's order) and the macro-average × configurations, at each run's last checkpoint.
fn task_grid(macro_records: &[Record], task_records: &[Record]) -> Grid {
    let end = at_end(task_records);
    let mut rows: Vec<String> = TASKS
        .iter()
        .map(|t| t.name.to_owned())
        .filter(|t| end.iter().any(|r| r.task.as_deref() == Some(t)))
        .collect();
    let boxed = rows.len();
    let macro_end = at_end(macro_records);
    if !macro_end.is_empty() {
        rows.push(MACRO.to_owned());
    }
    let configs = series::ordered(end.iter().map(|r| Config::of(&r.run)));
    let mut values: BTreeMap<(usize, Config), Vec<f64>> = BTreeMap::new();
    for r in end.iter().chain(&macro_end) {
        let name = r.task.as_deref().unwrap_or(MACRO);
        if let Some(row) = rows.iter().position(|x| x == name) {
            values
                .entry((row, Config::of(&r.run)))
                .or_default()
                .push(r.acc);
        }
    }
    Grid {
        title: "GLUE at the final checkpoint: test F1 (accuracy for MNLI), mean ± std over seeds"
            .into(),
        cells: cells(values, &configs),
        boxed,
        rows,
        configs,
    }
}
