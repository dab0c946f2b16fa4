//! Spearman ρ (with its bootstrap band) and R² of each anchor with the final accuracy, every
//! anchor named on the axis (25, 50, 75, 100, 250, …).

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::render::ok;
use super::series::{color, segment_label};
use crate::analysis::inputs::Milestone;
use crate::analysis::predictiveness::Row;

/// A Spearman ρ line with its bootstrap band and a second measure, over labelled anchors.
pub struct RhoPanel<'a> {
    pub title: &'a str,
    pub y_desc: &'a str,
    pub labels: Vec<String>,
    /// (ρ, band low, band high) per anchor.
    pub rho: Vec<(f64, f64, f64)>,
    pub second: (&'a str, Vec<f64>),
}

/// ρ and R² of each anchor with the final accuracy.
pub fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, rows: &[&Row]) -> Result<()> {
    draw_panel(
        root,
        &RhoPanel {
            title: "How well the ranking at each anchor predicts the final ranking (all runs)",
            y_desc: "Spearman ρ / R² with the final accuracy",
            labels: rows
                .iter()
                .map(|r| Milestone::Millions(r.milestone).to_string())
                .collect(),
            rho: rows
                .iter()
                .map(|r| (r.spearman, r.spearman_lo, r.spearman_hi))
                .collect(),
            second: (
                "R² of the least-squares line",
                rows.iter().map(|r| r.r2).collect(),
            ),
        },
    )
}

pub fn draw_panel<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, p: &RhoPanel) -> Result<()> {
    let n = p.labels.len().max(1);
    let labels = &p.labels;
    let lowest = p
        .rho
        .iter()
        .flat_map(|r| [r.0, r.1])
        .chain(p.second.1.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::min);
    let y_lo = (lowest - 0.05).max(-1.0);
    let mut chart = ok(ChartBuilder::on(root)
        .caption(p.title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d((0..n - 1).into_segmented(), y_lo..1.02))?;
    ok(chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|v| segment_label(labels, v))
        .x_desc("anchor (millions of training tokens)")
        .y_desc(p.y_desc)
        .draw())?;
    let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
    let at = |i: usize| SegmentValue::CenterOf(i);
    let (c0, c1) = (color(0), color(1));
    if p.rho.len() > 1 {
        let mut band: Vec<(SegmentValue<usize>, f64)> = p
            .rho
            .iter()
            .enumerate()
            .map(|(i, r)| (at(i), finite(r.2)))
            .collect();
        band.extend(
            p.rho
                .iter()
                .enumerate()
                .rev()
                .map(|(i, r)| (at(i), finite(r.1))),
        );
        ok(chart.draw_series(std::iter::once(Polygon::new(band, c0.mix(0.2)))))?;
    }
    ok(chart.draw_series(LineSeries::new(
        p.rho.iter().enumerate().map(|(i, r)| (at(i), finite(r.0))),
        c0.stroke_width(2),
    )))?
    .label("Spearman ρ (band: 95% bootstrap interval)")
    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c0.stroke_width(2)));
    ok(chart.draw_series(
        p.rho
            .iter()
            .enumerate()
            .map(|(i, r)| Circle::new((at(i), finite(r.0)), 4, c0.filled())),
    ))?;
    ok(chart.draw_series(LineSeries::new(
        p.second
            .1
            .iter()
            .enumerate()
            .map(|(i, v)| (at(i), finite(*v))),
        c1.stroke_width(2),
    )))?
    .label(p.second.0)
    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c1.stroke_width(2)));
    ok(chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw())?;
    Ok(())
}
