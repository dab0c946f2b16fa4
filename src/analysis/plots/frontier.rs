//! The compute–decision frontier (DataDecide's figure, for your own study): per group, the
//! decision accuracy between configurations at each anchor with its 95% interval as a band,
//! against the share of the training compute spent by then (log axis), the group's noise ceiling
//! dashed. Where a run's token count is unknown (imported tables), the anchor in millions of
//! tokens stands in for the compute.

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::render::ok;
use super::series::color;
use crate::analysis::decisions::DecisionRow;

/// Draws the BLiMP rows of `rows` (group by group, in their order).
pub fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, rows: &[DecisionRow]) -> Result<()> {
    let rows: Vec<&DecisionRow> = rows.iter().filter(|r| r.measure == "blimp").collect();
    let by_compute = !rows.is_empty() && rows.iter().all(|r| r.compute_fraction.is_finite());
    let x = |r: &DecisionRow| match by_compute {
        true => r.compute_fraction,
        false => r.milestone,
    };
    let xs: Vec<f64> = rows.iter().map(|r| x(r)).filter(|v| *v > 0.0).collect();
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(0.0f64, f64::max);
    let (lo, hi) = match lo.is_finite() && hi > lo {
        true => (lo / 1.3, hi * 1.3),
        false => (0.01, 1.0),
    };
    let x_desc = match by_compute {
        true => "share of the training compute spent (log scale)",
        false => "anchor (millions of training tokens, log scale; token counts unknown)",
    };
    let mut chart = ok(ChartBuilder::on(root)
        .caption(
            "Decision accuracy between configurations against compute (band: 95% interval; dashed: noise ceiling)",
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d((lo..hi).log_scale(), 0.0..1.02))?;
    ok(chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("pairs of configurations ordered as at the final")
        .draw())?;
    let mut groups: Vec<&str> = rows.iter().map(|r| r.group.as_str()).collect();
    groups.dedup();
    for (k, g) in groups.iter().enumerate() {
        let c = color(k);
        let of: Vec<&&DecisionRow> = rows
            .iter()
            .filter(|r| r.group == *g && x(r) > 0.0 && r.decision_accuracy.is_finite())
            .collect();
        let band: Vec<(f64, f64)> = of
            .iter()
            .filter(|r| r.ci_low.is_finite())
            .map(|r| (x(r), r.ci_high))
            .chain(
                of.iter()
                    .rev()
                    .filter(|r| r.ci_low.is_finite())
                    .map(|r| (x(r), r.ci_low)),
            )
            .collect();
        if band.len() > 2 {
            ok(chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.12)))))?;
        }
        let line = of.iter().map(|r| (x(r), r.decision_accuracy));
        ok(chart.draw_series(LineSeries::new(line, c.stroke_width(2))))?
            .label(g.to_string())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        let dots = of
            .iter()
            .map(|r| Circle::new((x(r), r.decision_accuracy), 3, c.filled()));
        ok(chart.draw_series(dots))?;
        if let Some(ceiling) = of
            .first()
            .map(|r| r.noise_ceiling)
            .filter(|v| v.is_finite())
        {
            let dashes =
                DashedLineSeries::new([(lo, ceiling), (hi, ceiling)], 6, 4, c.stroke_width(1));
            ok(chart.draw_series(dashes))?;
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
