//! Plots of the aggregate (PNG and SVG, `<out>/plots/`): learning curves per dataset × model
//! size, Spearman ρ and R² vs anchor with the bootstrap band, and per-phenomenon accuracy vs anchor
//! as a heatmap.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::inputs::{Milestone, Record};
use super::predictiveness::Row;
use super::record::size_order;

fn ok<T, E: std::fmt::Display>(r: std::result::Result<T, E>) -> Result<T> {
    r.map_err(|e| anyhow!("{e}"))
}

/// The plots [`write_all`] draws, each as `<stem>.png` and `<stem>.svg`.
pub const STEMS: [&str; 3] = ["learning_curves", "predictiveness", "phenomena_heatmap"];

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws `draw` once as PNG and once as SVG: `<dir>/<stem>.png`, `<dir>/<stem>.svg` (`dir` is
/// the aggregate's staging folder, so a failure leaves nothing in place).
fn both(
    dir: &Path,
    stem: &str,
    size: (u32, u32),
    draw_png: impl Fn(&DrawingArea<BitMapBackend, Shift>) -> Result<()>,
    draw_svg: impl Fn(&DrawingArea<SVGBackend, Shift>) -> Result<()>,
) -> Result<Vec<PathBuf>> {
    let (png, svg) = (
        dir.join(format!("{stem}.png")),
        dir.join(format!("{stem}.svg")),
    );
    let drawn = (|| {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        ok(root.fill(&WHITE))?;
        draw_png(&root)?;
        ok(root.present())
    })();
    drawn.with_context(|| format!("drawing {}", png.display()))?;
    let drawn = (|| {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        ok(root.fill(&WHITE))?;
        draw_svg(&root)?;
        ok(root.present())
    })();
    drawn.with_context(|| format!("drawing {}", svg.display()))?;
    Ok(vec![png, svg])
}

/// Accuracies over seeds at one checkpoint: (milestone in M tokens or None for final, values).
type Point = (Option<f64>, Vec<f64>);

/// One learning-curve panel: per vocab size, mean accuracy over seeds with its min–max band, and
/// the final score beside.
struct Panel {
    title: String,
    /// vocab → milestone (M tokens, or None for final) → accuracies over seeds.
    lines: BTreeMap<i64, BTreeMap<String, Point>>,
}

fn panels(overall: &[Record]) -> Vec<Panel> {
    let mut by: BTreeMap<(String, String), Panel> = BTreeMap::new();
    for r in overall.iter().filter(|r| r.anchor == "full") {
        let p = by
            .entry((r.run.dataset.clone(), r.run.model_size.clone()))
            .or_insert_with(|| Panel {
                title: format!("{} · {}", r.run.dataset, r.run.model_size),
                lines: BTreeMap::new(),
            });
        let x = match r.milestone {
            Milestone::Millions(v) => Some(v),
            Milestone::Final => None,
        };
        p.lines
            .entry(r.run.vocab_size)
            .or_default()
            .entry(r.milestone.to_string())
            .or_insert((x, Vec::new()))
            .1
            .push(r.acc);
    }
    let mut panels: Vec<((String, String), Panel)> = by.into_iter().collect();
    panels.sort_by(|a, b| {
        (&a.0 .0, size_order(&a.0 .1))
            .partial_cmp(&(&b.0 .0, size_order(&b.0 .1)))
            .expect("sizes order")
    });
    panels.into_iter().map(|p| p.1).collect()
}

fn draw_learning<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panels: &[Panel],
) -> Result<()> {
    let cols = panels.len().clamp(1, 3);
    let rows = panels.len().div_ceil(cols).max(1);
    let areas = root.split_evenly((rows, cols));
    for (area, p) in areas.iter().zip(panels) {
        let xs: Vec<f64> = p
            .lines
            .values()
            .flat_map(|l| l.values().filter_map(|v| v.0))
            .collect();
        let (xmin, xmax) = xs
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        let (xmin, xmax) = if xs.is_empty() {
            (1.0, 10.0)
        } else {
            (xmin, xmax)
        };
        let x_final = xmax * 1.6;
        let accs: Vec<f64> = p
            .lines
            .values()
            .flat_map(|l| l.values().flat_map(|v| v.1.clone()))
            .collect();
        let lo = accs.iter().cloned().fold(1.0, f64::min).max(0.0) - 0.02;
        let hi = accs.iter().cloned().fold(0.0, f64::max).min(1.0) + 0.02;
        let mut chart = ok(ChartBuilder::on(area)
            .caption(&p.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d((xmin * 0.8..x_final * 1.25).log_scale(), lo..hi))?;
        ok(chart
            .configure_mesh()
            .x_labels(6)
            .x_label_formatter(&|x| format!("{}", (x * 1000.0).round() / 1000.0))
            .x_desc("training tokens (millions, log scale; ● = final)")
            .y_desc("BLiMP accuracy")
            .draw())?;
        for (k, (vocab, line)) in p.lines.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let mut pts: Vec<(f64, f64, f64, f64)> = line
                .values()
                .filter_map(|(x, a)| {
                    let x = (*x)?;
                    let mean = a.iter().sum::<f64>() / a.len() as f64;
                    let (mn, mx) = a
                        .iter()
                        .fold((f64::MAX, f64::MIN), |(p, q), &v| (p.min(v), q.max(v)));
                    Some((x, mean, mn, mx))
                })
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            if pts.len() > 1 {
                let mut band: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.3)).collect();
                band.extend(pts.iter().rev().map(|p| (p.0, p.2)));
                ok(chart.draw_series(std::iter::once(Polygon::new(band, color.mix(0.2)))))?;
            }
            ok(chart.draw_series(LineSeries::new(
                pts.iter().map(|p| (p.0, p.1)),
                color.stroke_width(2),
            )))?
            .label(format!("vocab {vocab} (mean ± min/max over seeds)"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
            if let Some((_, a)) = line.get("final") {
                let mean = a.iter().sum::<f64>() / a.len() as f64;
                ok(chart.draw_series(std::iter::once(Circle::new(
                    (x_final, mean),
                    5,
                    color.filled(),
                ))))?;
            }
        }
        ok(chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw())?;
    }
    Ok(())
}

fn draw_predictiveness<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    rows: &[&Row],
) -> Result<()> {
    let xs: Vec<f64> = rows.iter().map(|r| r.milestone).collect();
    let (xmin, xmax) = xs
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    let (xmin, xmax) = if xs.is_empty() {
        (1.0, 10.0)
    } else {
        (xmin, xmax)
    };
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
        .build_cartesian_2d((xmin * 0.8..xmax * 1.25).log_scale(), y_lo..1.02))?;
    ok(chart
        .configure_mesh()
        .x_labels(6)
        .x_label_formatter(&|x| format!("{}", (x * 1000.0).round() / 1000.0))
        .x_desc("anchor: training tokens (millions, log scale)")
        .y_desc("Spearman ρ / R² with the final accuracy")
        .draw())?;
    let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
    if rows.len() > 1 {
        let mut band: Vec<(f64, f64)> = rows
            .iter()
            .map(|r| (r.milestone, finite(r.spearman_hi)))
            .collect();
        band.extend(
            rows.iter()
                .rev()
                .map(|r| (r.milestone, finite(r.spearman_lo))),
        );
        ok(chart.draw_series(std::iter::once(Polygon::new(band, PALETTE[0].mix(0.2)))))?;
    }
    let (c0, c1) = (PALETTE[0], PALETTE[1]);
    ok(chart.draw_series(LineSeries::new(
        rows.iter().map(|r| (r.milestone, finite(r.spearman))),
        c0.stroke_width(2),
    )))?
    .label("Spearman ρ (band: 95% bootstrap interval)")
    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c0.stroke_width(2)));
    ok(chart.draw_series(
        rows.iter()
            .map(|r| Circle::new((r.milestone, finite(r.spearman)), 4, c0.filled())),
    ))?;
    ok(chart.draw_series(LineSeries::new(
        rows.iter().map(|r| (r.milestone, finite(r.r2))),
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

/// phenomenon → milestone label → mean accuracy over full runs.
type Heat = BTreeMap<String, BTreeMap<(u64, String), f64>>;

fn heat(phenomena: &[Record]) -> Heat {
    let mut acc: BTreeMap<String, BTreeMap<(u64, String), [f64; 2]>> = BTreeMap::new();
    for r in phenomena.iter().filter(|r| r.anchor == "full") {
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

fn draw_heatmap<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, h: &Heat) -> Result<()> {
    let mut cols: Vec<(u64, String)> = h.values().flat_map(|m| m.keys().cloned()).collect();
    cols.sort();
    cols.dedup();
    let rows: Vec<&String> = h.keys().collect();
    let (nc, nr) = (cols.len().max(1), rows.len().max(1));
    let mut chart = ok(ChartBuilder::on(root)
        .caption(
            "BLiMP accuracy per phenomenon and anchor (mean over full runs; white = 0.5, deep blue = 1.0, red < 0.5)",
            ("sans-serif", 16),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(210)
        .build_cartesian_2d((0..nc - 1).into_segmented(), (0..nr - 1).into_segmented()))?;
    let col_labels: Vec<String> = cols.iter().map(|c| c.1.clone()).collect();
    let row_labels: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    ok(chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("anchor (millions of tokens, or final)")
        .y_desc("phenomenon")
        .x_labels(nc)
        .y_labels(nr)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => col_labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => row_labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .draw())?;
    for (ri, r) in rows.iter().enumerate() {
        for (ci, c) in cols.iter().enumerate() {
            if let Some(&a) = h[*r].get(c) {
                // 0.5 (chance) is white, 1.0 is deep blue, below chance shades to red.
                let t = ((a - 0.5) * 2.0).clamp(-1.0, 1.0);
                let color = if t >= 0.0 {
                    RGBColor(
                        (255.0 * (1.0 - t)) as u8,
                        (255.0 * (1.0 - 0.6 * t)) as u8,
                        255,
                    )
                } else {
                    RGBColor(255, (255.0 * (1.0 + t)) as u8, (255.0 * (1.0 + t)) as u8)
                };
                let corners = [
                    (SegmentValue::Exact(ci), SegmentValue::Exact(ri)),
                    (SegmentValue::Exact(ci + 1), SegmentValue::Exact(ri + 1)),
                ];
                ok(chart.draw_series(std::iter::once(Rectangle::new(corners, color.filled()))))?;
            }
        }
    }
    Ok(())
}

/// Writes every plot into `dir`; returns the PNG and SVG paths.
pub fn write_all(
    dir: &Path,
    overall: &[Record],
    global: &[&Row],
    phenomena: &[Record],
) -> Result<Vec<PathBuf>> {
    fs_err::create_dir_all(dir)?;
    let mut out = Vec::new();
    let ps = panels(overall);
    let cols = ps.len().clamp(1, 3) as u32;
    let rows = ps.len().div_ceil(3).max(1) as u32;
    let size = (480 * cols.max(2), 380 * rows);
    out.extend(both(
        dir,
        STEMS[0],
        size,
        |r| draw_learning(r, &ps),
        |r| draw_learning(r, &ps),
    )?);
    out.extend(both(
        dir,
        STEMS[1],
        (900, 520),
        |r| draw_predictiveness(r, global),
        |r| draw_predictiveness(r, global),
    )?);
    let h = heat(phenomena);
    let height = (110 + 26 * h.len() as u32).max(300);
    out.extend(both(
        dir,
        STEMS[2],
        (900, height),
        |r| draw_heatmap(r, &h),
        |r| draw_heatmap(r, &h),
    )?);
    Ok(out)
}
