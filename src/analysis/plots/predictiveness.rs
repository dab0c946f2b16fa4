//! Spearman ρ (with its bootstrap band) and R² of each anchor with the final accuracy, every
//! anchor named on the axis (25, 50, 75, 100, 250, …).

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::render::ok;
use super::series::{color, segment_label};
use crate::analysis::inputs::Milestone;
use crate::analysis::predictiveness::Row;

pub fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, rows: &[&Row]) -> Result<()> {
    let n = rows.len().max(1);
    let labels: Vec<String> = rows
        .iter()
        .map(|r| Milestone::Millions(r.milestone).to_string())
        .collect();
    let lowest = rows
        .iter()
        .flat_map(|r| [r.spearman_lo, r.r2, r.spearman])
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::min);
    let y_lo = (lowest - 0.05).max(-1.0);
    let mut chart = ok(ChartBuilder::on(root)
        .caption(
            "How well the ranking at each anchor predicts the final ranking (all runs)",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d((0..n - 1).into_segmented(), y_lo..1.02))?;
    ok(chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|v| segment_label(&labels, v))
        .x_desc("anchor (millions of training tokens)")
        .y_desc("Spearman ρ / R² with the final accuracy")
        .draw())?;
    let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
    let at = |i: usize| SegmentValue::CenterOf(i);
    let (c0, c1) = (color(0), color(1));
    if rows.len() > 1 {
        let mut band: Vec<(SegmentValue<usize>, f64)> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (at(i), finite(r.spearman_hi)))
            .collect();
        band.extend(
            rows.iter()
                .enumerate()
                .rev()
                .map(|(i, r)| (at(i), finite(r.spearman_lo))),
        );
        ok(chart.draw_series(std::iter::once(Polygon::new(band, c0.mix(0.2)))))?;
    }
    ok(chart.draw_series(LineSeries::new(
        rows.iter()
            .enumerate()
            .map(|(i, r)| (at(i), finite(r.spearman))),
        c0.stroke_width(2),
    )))?
    .label("Spearman ρ (band: 95% bootstrap interval)")
    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c0.stroke_width(2)));
    ok(chart.draw_series(
        rows.iter()
            .enumerate()
            .map(|(i, r)| Circle::new((at(i), finite(r.spearman)), 4, c0.filled())),
    ))?;
    ok(chart.draw_series(LineSeries::new(
        rows.iter().enumerate().map(|(i, r)| (at(i), finite(r.r2))),
        c1.stroke_width(2),
    )))?
    .label("R² of the least-squares line")
    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c1.stroke_width(2)));
    ok(chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw())?;
    Ok(())
}
