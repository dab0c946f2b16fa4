//! The race figure: per comparison group, each configuration's seed mean at every anchor (log
//! tokens), solid while it races, faint and dashed after the rung that stopped it (what it would
//! have done), the stop marked with a cross.

use std::path::{Path, PathBuf};

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::render::{self, ok};
use super::series::color;
use crate::analysis::race::rows::Replay;

/// One configuration's curve: (millions of tokens, seed mean) at its anchors, and where it
/// stopped.
struct Line {
    label: String,
    points: Vec<(f64, f64)>,
    stopped: Option<f64>,
}

fn lines(replay: &Replay, group: &str) -> Vec<Line> {
    replay
        .curves
        .iter()
        .filter(|c| c.group == group)
        .map(|c| Line {
            label: c.configuration.clone(),
            points: c.points.clone(),
            stopped: c.eliminated_at,
        })
        .collect()
}

/// Writes `race.{png,svg,pdf}` into `dir`.
pub fn write(dir: &Path, replay: &Replay, dpi: u32) -> Result<Vec<PathBuf>> {
    let n = replay.groups.len().max(1);
    let cols = n.min(2);
    let rows = n.div_ceil(2);
    let size = (620 * cols as u32, 440 * rows as u32);
    render::figure(dir, "race", size, dpi, |root| {
        let areas = root.split_evenly((rows, cols));
        for (g, area) in replay.groups.iter().zip(&areas) {
            panel(area, &g.group, &lines(replay, &g.group))?;
        }
        Ok(())
    })
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    group: &str,
    lines: &[Line],
) -> Result<()> {
    let xs = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let ys: Vec<f64> = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .collect();
    let (x0, x1) = xs.fold((f64::INFINITY, 0.0f64), |(a, b), x| (a.min(x), b.max(x)));
    let (x0, x1) = match x0.is_finite() && x1 > x0 {
        true => (x0 / 1.2, x1 * 1.2),
        false => (1.0, 10.0),
    };
    let y0 = ys.iter().copied().fold(f64::INFINITY, f64::min);
    let y1 = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pad = ((y1 - y0) * 0.08).max(1e-3);
    let (y0, y1) = match y0.is_finite() {
        true => (y0 - pad, y1 + pad),
        false => (0.0, 1.0),
    };
    let mut chart = ok(ChartBuilder::on(area)
        .caption(format!("race in {group} (×: stopped)"), ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d((x0..x1).log_scale(), y0..y1))?;
    ok(chart
        .configure_mesh()
        .x_desc("millions of training tokens (log scale)")
        .y_desc("seed mean")
        .draw())?;
    for (k, l) in lines.iter().enumerate() {
        let c = color(k);
        let cut = l.stopped.unwrap_or(f64::INFINITY);
        let racing: Vec<(f64, f64)> = l.points.iter().copied().filter(|p| p.0 <= cut).collect();
        let after: Vec<(f64, f64)> = l.points.iter().copied().filter(|p| p.0 >= cut).collect();
        ok(chart.draw_series(LineSeries::new(racing, c.stroke_width(2))))?
            .label(l.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        if after.len() > 1 {
            let dashes = DashedLineSeries::new(after, 5, 4, c.mix(0.45).stroke_width(1));
            ok(chart.draw_series(dashes))?;
        }
        if let Some(p) = l.points.iter().find(|p| Some(p.0) == l.stopped) {
            ok(chart.draw_series(std::iter::once(Cross::new(*p, 6, c.stroke_width(3)))))?;
        }
    }
    ok(chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw())?;
    Ok(())
}
