//! What a curve panel draws, whatever its x axis: a line per configuration (its label, colour,
//! and points as anchor index and spread over seeds), the y range that holds them, BLiMP's chance
//! level, and the drawing of the lines — bands over seeds, means, dots and the final score.

use plotters::prelude::*;

use super::render::ok;
use super::series::Spread;
use super::FigureOptions;
use anyhow::Result;

/// One line of a curve panel: its label, colour, and (anchor index, spread over seeds) points.
#[derive(Clone)]
pub(super) struct Line {
    pub label: String,
    pub color: RGBColor,
    pub points: Vec<(usize, Spread)>,
    /// The final score, drawn as a dot at the axis's last category.
    pub last: Option<Spread>,
}

/// Chance for a measure drawn on the curves: BLiMP accuracy's 0.5 (two sentences, one right).
pub(super) fn chance(measure: &str) -> Option<f64> {
    (measure == "BLiMP accuracy").then_some(0.5)
}

/// The y range (in axis units) that holds every band of `lines`, and `chance` when given.
pub(super) fn y_range(lines: &[Line], fig: &FigureOptions, chance: Option<f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    if let Some(c) = chance {
        lo = fig.y_scale.to_axis(c);
        hi = lo;
    }
    for l in lines {
        for s in l.points.iter().map(|p| &p.1).chain(&l.last) {
            let (a, b) = s.band(fig.band);
            lo = lo.min(fig.y_scale.to_axis(a));
            hi = hi.max(fig.y_scale.to_axis(b));
        }
    }
    if lo > hi {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(0.01);
    (lo - pad, hi + pad)
}

/// Draws `lines` on `chart`: each line's band over seeds, its means joined, a dot per anchor
/// (index `i` at `at(i)`), and its final score (when it has one) as a dot and range at `last`
/// (none: finals not drawn).
pub(super) fn draw_lines<DB, X, V>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    lines: &[Line],
    at: impl Fn(usize) -> V,
    last: Option<V>,
    fig: &FigureOptions,
    legend: bool,
) -> Result<()>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = V>,
    V: Clone + 'static,
{
    let scale = fig.y_scale;
    for l in lines {
        let c = l.color;
        if l.points.len() > 1 {
            let mut band: Vec<(V, f64)> = l
                .points
                .iter()
                .map(|(i, s)| (at(*i), scale.to_axis(s.band(fig.band).1)))
                .collect();
            band.extend(
                l.points
                    .iter()
                    .rev()
                    .map(|(i, s)| (at(*i), scale.to_axis(s.band(fig.band).0))),
            );
            ok(chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.18)))))?;
        }
        let series = ok(chart.draw_series(LineSeries::new(
            l.points
                .iter()
                .map(|(i, s)| (at(*i), scale.to_axis(s.mean))),
            c.stroke_width(2),
        )))?;
        if legend {
            series.label(l.label.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
            });
        }
        ok(chart.draw_series(
            l.points
                .iter()
                .map(|(i, s)| Circle::new((at(*i), scale.to_axis(s.mean)), 3, c.filled())),
        ))?;
        if let (Some(s), Some(last)) = (l.last, &last) {
            let (a, b) = s.band(fig.band);
            ok(chart.draw_series(std::iter::once(PathElement::new(
                vec![
                    (last.clone(), scale.to_axis(a)),
                    (last.clone(), scale.to_axis(b)),
                ],
                c.stroke_width(2),
            ))))?;
            ok(chart.draw_series(std::iter::once(Circle::new(
                (last.clone(), scale.to_axis(s.mean)),
                5,
                c.filled(),
            ))))?;
        }
    }
    Ok(())
}

/// A dashed grey line at `chance` (in axis units) across `span`, labelled in the legend.
pub(super) fn draw_chance<DB, X, V>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    chance: f64,
    span: (V, V),
) -> Result<()>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = V>,
    V: Clone + 'static,
{
    let grey = RGBColor(120, 120, 120);
    ok(chart.draw_series(DashedLineSeries::new(
        [(span.0, chance), (span.1, chance)],
        6,
        4,
        grey.stroke_width(1),
    )))?
    .label("chance (0.5)")
    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], grey.stroke_width(1)));
    Ok(())
}

/// The legend of the lines' labels, at the lower right.
pub(super) fn draw_legend<'a, DB, X>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
) -> Result<()>
where
    DB: DrawingBackend + 'a,
    X: Ranged,
{
    ok(chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw())
}
