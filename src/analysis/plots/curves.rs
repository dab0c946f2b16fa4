//! Learning curves: per dataset and model size one line per vocabulary size, and every
//! configuration on one axis with a side panel of its final scores. The x axis holds the anchors
//! as labelled categories (25, 50, 75, 100, 250, …), so each anchor the study saved is named; in
//! the paper's figures the per-dataset panels put them at their token counts on a linear axis.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::lines::{chance, draw_chance, draw_legend, draw_lines, y_range, Line};
use super::render::ok;
use super::series::{
    anchor_label, anchors, config_color, config_label, ordered, segment_label, Configuration,
    Curves, Spread,
};
use super::FigureOptions;
use crate::analysis::inputs::Milestone;
use crate::config::FigureStyle;
use anyhow::Result;

/// Draws `lines` of `measure` (`BLiMP accuracy`) over the anchors `axis` (the last may be `final`).
fn curve_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (title, measure): (&str, &str),
    axis: &[Milestone],
    lines: &[Line],
    fig: &FigureOptions,
    legend: bool,
) -> Result<()> {
    let n = axis.len().max(1);
    let chance = chance(measure);
    let (lo, hi) = y_range(lines, fig, chance);
    let mut chart = ok(ChartBuilder::on(area)
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(52)
        .build_cartesian_2d((0..n - 1).into_segmented(), lo..hi))?;
    let labels: Vec<String> = axis.iter().map(anchor_label).collect();
    let scale = fig.y_scale;
    ok(chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|v| segment_label(&labels, v))
        .y_label_formatter(&|y| format!("{:.3}", scale.from_axis(*y)))
        .x_desc("anchor (millions of training tokens)")
        .y_desc(match fig.y_scale {
            crate::config::YScale::Linear => measure.to_owned(),
            scale => format!("{measure} ({})", scale.name()),
        })
        .draw())?;
    let at = |i: usize| SegmentValue::CenterOf(i);
    if let Some(c) = chance {
        let span = (SegmentValue::Exact(0), SegmentValue::Last);
        draw_chance(&mut chart, scale.to_axis(c), span)?;
    }
    draw_lines(&mut chart, lines, at, Some(at(n - 1)), fig, legend)?;
    if legend && !lines.is_empty() {
        draw_legend(&mut chart)?;
    }
    Ok(())
}

/// The paper's per-dataset panel: `lines` at the anchors' token counts on a linear axis (the
/// study's `Anchor (in million tokens)`), without `final`, which has no token count of its own.
fn token_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    axis: &[Milestone],
    lines: &[Line],
    fig: &FigureOptions,
) -> Result<()> {
    let x = |i: usize| match axis.get(i) {
        Some(Milestone::Millions(m)) => *m,
        _ => 0.0,
    };
    let hi = (0..axis.len()).map(x).fold(0.0, f64::max).max(1e-6);
    let chance = chance("BLiMP accuracy");
    let (lo, top) = y_range(lines, fig, chance);
    let mut chart = ok(ChartBuilder::on(area)
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(52)
        .build_cartesian_2d(0.0..hi * 1.04, lo..top))?;
    let scale = fig.y_scale;
    ok(chart
        .configure_mesh()
        .x_labels(8)
        .x_label_formatter(&|v| format!("{v}"))
        .y_label_formatter(&|y| format!("{:.3}", scale.from_axis(*y)))
        .x_desc("anchor (in million tokens)")
        .y_desc("BLiMP accuracy")
        .draw())?;
    if let Some(c) = chance {
        draw_chance(&mut chart, scale.to_axis(c), (0.0, hi * 1.04))?;
    }
    draw_lines(&mut chart, lines, x, None, fig, true)?;
    draw_legend(&mut chart)
}

/// The lines of `configs` over `axis`: milestones joined, `final` (when on the axis) as a dot.
fn lines_of(
    curves: &Curves,
    configs: &[Configuration],
    axis: &[Milestone],
    (style, label): (FigureStyle, impl Fn(&Configuration) -> String),
) -> Vec<Line> {
    configs
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let by = &curves[c];
            let spread = |m: &Milestone| by.get(&m.to_string()).and_then(|(_, v)| Spread::of(v));
            Line {
                label: label(c),
                color: config_color(style, c, k, shade(configs, k)),
                points: axis
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| **m != Milestone::Final)
                    .filter_map(|(i, m)| Some((i, spread(m)?)))
                    .collect(),
                last: axis
                    .contains(&Milestone::Final)
                    .then(|| spread(&Milestone::Final))
                    .flatten(),
            }
        })
        .collect()
}

/// How many configurations before the `k`-th of `configs` share its dataset and model size (the
/// paper's colours lighten for each).
fn shade(configs: &[Configuration], k: usize) -> usize {
    let c = &configs[k];
    configs[..k]
        .iter()
        .filter(|o| o.dataset == c.dataset && o.model == c.model)
        .count()
}

/// The per-dataset panels: one per dataset and model size (in size order), each with its
/// configurations (one per vocabulary size).
pub fn panels(curves: &Curves) -> Vec<(String, Vec<Configuration>)> {
    let mut panels: Vec<(String, Vec<Configuration>)> = Vec::new();
    for c in ordered(curves.keys().cloned()) {
        let title = format!("{} · {}", c.dataset, c.model);
        match panels.iter_mut().find(|p| p.0 == title) {
            Some(p) => p.1.push(c),
            None => panels.push((title, vec![c])),
        }
    }
    panels
}

/// Per dataset and model size, one line per vocabulary size, `final` as the last anchor.
pub fn draw_per_dataset<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    curves: &Curves,
    panels: &[(String, Vec<Configuration>)],
    fig: &FigureOptions,
) -> Result<()> {
    let cols = panels.len().clamp(1, 3);
    let rows = panels.len().div_ceil(cols).max(1);
    let areas = root.split_evenly((rows, cols));
    for (area, (title, configs)) in areas.iter().zip(panels) {
        let axis = anchors(
            configs
                .iter()
                .flat_map(|c| curves[c].values().map(|(m, _)| m)),
        );
        let lines = lines_of(
            curves,
            configs,
            &axis,
            (fig.style, |c: &Configuration| {
                format!("vocab {}", c.vocab_size)
            }),
        );
        let title = match fig.style {
            FigureStyle::Lmeff => title.clone(),
            FigureStyle::Paper => title.replacen("hybrid_3.7B", "composite", 1),
        };
        let title = format!("{title} ({} over seeds)", fig.band.describe());
        match fig.style {
            FigureStyle::Lmeff => {
                curve_panel(area, (&title, "BLiMP accuracy"), &axis, &lines, fig, true)?
            }
            FigureStyle::Paper => token_panel(area, &title, &axis, &lines, fig)?,
        }
    }
    Ok(())
}

/// Every configuration on one axis (mean over seeds, min–max band), and beside it each
/// configuration's final score (mean, and the range over seeds), of `measure` (`BLiMP accuracy`).
pub fn draw_all<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    curves: &Curves,
    measure: &str,
    style: FigureStyle,
) -> Result<()> {
    let configs = ordered(curves.keys().cloned());
    let axis: Vec<Milestone> = anchors(
        curves
            .values()
            .flat_map(|m| m.values().map(|(m, _)| m))
            .filter(|m| **m != Milestone::Final),
    );
    let (w, _) = root.dim_in_pixel();
    let (left, right) = root.split_horizontally((w as f64 * 0.70) as u32);
    let lines = lines_of(
        curves,
        &configs,
        &axis,
        (style, |c: &Configuration| config_label(style, c)),
    );
    let all = FigureOptions::default();
    curve_panel(
        &left,
        (
            "All configurations (mean over seeds, min–max band)",
            measure,
        ),
        &axis,
        &lines,
        &all,
        configs.len() <= 12,
    )?;
    finals_panel(&right, curves, &configs, (measure, style))
}

/// Each configuration's final score: the mean as a dot, the range over seeds as a line.
fn finals_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    curves: &Curves,
    configs: &[Configuration],
    (measure, style): (&str, FigureStyle),
) -> Result<()> {
    let finals: Vec<Option<Spread>> = configs
        .iter()
        .map(|c| {
            let by = &curves[c];
            let last = by
                .values()
                .max_by(|a, b| a.0.order().total_cmp(&b.0.order()))?;
            Spread::of(&last.1)
        })
        .collect();
    let (lo, hi) = finals
        .iter()
        .flatten()
        .fold((f64::MAX, f64::MIN), |(a, b), s| {
            (a.min(s.min), b.max(s.max))
        });
    let (lo, hi) = if lo > hi { (0.0, 1.0) } else { (lo, hi) };
    let pad = ((hi - lo) * 0.1).max(0.005);
    let n = configs.len().max(1);
    // The first configuration at the top, as in the legend.
    let labels: Vec<String> = configs
        .iter()
        .rev()
        .map(|c| config_label(style, c))
        .collect();
    let mut chart = ok(ChartBuilder::on(area)
        .caption("Final scores", ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(150)
        .build_cartesian_2d(lo - pad..hi + pad, (0..n - 1).into_segmented()))?;
    ok(chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| segment_label(&labels, v))
        .x_labels(4)
        .x_label_formatter(&|x| format!("{x:.3}"))
        .x_desc(format!("{measure} (mean; line: min–max)"))
        .draw())?;
    for (k, s) in finals.iter().enumerate() {
        let Some(s) = s else { continue };
        let c = config_color(style, &configs[k], k, shade(configs, k));
        let y = || SegmentValue::CenterOf(n - 1 - k);
        ok(chart.draw_series(std::iter::once(PathElement::new(
            vec![(s.min, y()), (s.max, y())],
            c.stroke_width(2),
        ))))?;
        ok(chart.draw_series(std::iter::once(Circle::new((s.mean, y()), 5, c.filled()))))?;
    }
    Ok(())
}
