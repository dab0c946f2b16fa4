//! Heatmaps: BLiMP's 67 paradigms and the paper's 12 phenomenon groups (plus overall) against
//! the configurations, each cell "mean ± std" over seeds at the runs' final checkpoint, with a box
//! plot per configuration under its column; and accuracy per phenomenon against the anchors.

use std::collections::BTreeMap;

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::render::ok;
use super::series::{config_label, segment_label, BoxStats, Configuration, Spread};
use crate::config::{FigureStyle, HeatmapScale};

/// Cells of a rows × configurations heatmap.
pub struct Grid {
    pub title: String,
    pub rows: Vec<String>,
    pub configs: Vec<Configuration>,
    /// (row, configuration index) → accuracies over seeds.
    pub cells: BTreeMap<(usize, usize), Spread>,
    /// The first rows the box plots summarise (the rest, such as `overall`, are not among them).
    pub boxed: usize,
    /// One colour scale for the grid, or one per row.
    pub scale: HeatmapScale,
    /// Whose labels the columns carry.
    pub style: FigureStyle,
}

const COLUMN: u32 = 124;
/// The colour bar's strip at the right.
const BAR: u32 = 110;
const ROW: u32 = 17;
const ROW_LABELS: u32 = 250;
const BOXES: u32 = 250;

impl Grid {
    /// The canvas the grid and its box plots need, at 100 dpi (wide enough for the title).
    pub fn size(&self) -> (u32, u32) {
        (
            (ROW_LABELS + 40 + BAR + COLUMN * self.configs.len().max(1) as u32).max(820),
            110 + ROW * self.rows.len().max(1) as u32 + BOXES,
        )
    }
}

/// A segmented axis of `n` cells. plotters maps a one-value range onto a point, so a single
/// cell gets an empty neighbour.
fn axis(
    n: usize,
) -> plotters::coord::ranged1d::SegmentedCoord<plotters::coord::types::RangedCoordusize> {
    (0..n.max(2) - 1).into_segmented()
}

/// The colour of `acc` on a white → deep blue scale from `lo` to `hi`.
fn scaled(acc: f64, lo: f64, hi: f64) -> RGBColor {
    let t = if hi > lo {
        ((acc - lo) / (hi - lo)).clamp(0.0, 1.0)
    } else {
        0.5
    };
    RGBColor(
        (255.0 - 225.0 * t) as u8,
        (255.0 - 160.0 * t) as u8,
        (255.0 - 75.0 * t) as u8,
    )
}

/// 0.5 (chance) is white, 1.0 deep blue; below chance shades to red.
fn shade(acc: f64) -> RGBColor {
    let t = ((acc - 0.5) * 2.0).clamp(-1.0, 1.0);
    if t >= 0.0 {
        RGBColor(
            (255.0 * (1.0 - t)) as u8,
            (255.0 * (1.0 - 0.6 * t)) as u8,
            255,
        )
    } else {
        RGBColor(255, (255.0 * (1.0 + t)) as u8, (255.0 * (1.0 + t)) as u8)
    }
}

/// Draws the grid with "mean ± std" in each cell (shaded from the lowest mean, white, to the
/// highest, deep blue: of the grid, or of each row), a colour bar at its right, and under it one
/// box plot per configuration of its rows' means.
pub fn draw_grid<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, g: &Grid) -> Result<()> {
    let (w, h) = root.dim_in_pixel();
    let (top, bottom) = root.split_vertically(h - BOXES);
    let (top, bar) = top.split_horizontally(w - BAR);
    let (bottom, _) = bottom.split_horizontally(w - BAR);
    let (nc, nr) = (g.configs.len().max(1), g.rows.len().max(1));
    let mut chart = ok(ChartBuilder::on(&top)
        .caption(&g.title, ("sans-serif", 17))
        .margin(15)
        .x_label_area_size(30)
        .y_label_area_size(ROW_LABELS)
        .build_cartesian_2d(axis(nc), axis(nr)))?;
    let cols: Vec<String> = g.configs.iter().map(|c| config_label(g.style, c)).collect();
    // Row 0 is drawn at the top.
    let rows: Vec<String> = g.rows.iter().rev().cloned().collect();
    ok(chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(nc)
        .y_labels(nr)
        .x_label_style(("sans-serif", 11))
        .y_label_style(("sans-serif", 11))
        .x_label_formatter(&|v| segment_label(&cols, v))
        .y_label_formatter(&|v| segment_label(&rows, v))
        .draw())?;
    let centred =
        TextStyle::from(("sans-serif", 10).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
    let range = |row: Option<usize>| {
        g.cells
            .iter()
            .filter(|((r, _), _)| row.is_none_or(|x| x == *r))
            .fold((f64::MAX, f64::MIN), |(a, b), (_, s)| {
                (a.min(s.mean), b.max(s.mean))
            })
    };
    let global = range(None);
    for (&(ri, ci), s) in &g.cells {
        let (lo, hi) = match g.scale {
            HeatmapScale::Global => global,
            HeatmapScale::Row => range(Some(ri)),
        };
        let y = nr - 1 - ri;
        let corners = [
            (SegmentValue::Exact(ci), SegmentValue::Exact(y)),
            (SegmentValue::Exact(ci + 1), SegmentValue::Exact(y + 1)),
        ];
        let fill = scaled(s.mean, lo, hi);
        ok(chart.draw_series(std::iter::once(Rectangle::new(corners, fill.filled()))))?;
        let ink = if (s.mean - lo) > 0.6 * (hi - lo) {
            WHITE
        } else {
            BLACK
        };
        ok(chart.draw_series(std::iter::once(Text::new(
            format!("{:.3} ± {:.3}", s.mean, s.std),
            (SegmentValue::CenterOf(ci), SegmentValue::CenterOf(y)),
            centred.clone().color(&ink),
        ))))?;
    }
    colour_bar(&bar, g.scale, global)?;
    boxes(&bottom, g)
}

/// A vertical colour bar: the scale's colours from its low end (bottom) to its high end, labelled
/// with the grid's lowest and highest mean, or with each row's for a per-row scale.
fn colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    scale: HeatmapScale,
    (lo, hi): (f64, f64),
) -> Result<()> {
    let (lo, hi) = if lo > hi { (0.0, 1.0) } else { (lo, hi) };
    let (high, low) = match scale {
        HeatmapScale::Global => (format!("{hi:.3}"), format!("{lo:.3}")),
        HeatmapScale::Row => ("row best".to_owned(), "row worst".to_owned()),
    };
    gradient_bar(area, |t| scaled(t, 0.0, 1.0), &[(1.0, high), (0.0, low)])
}

/// The colour bar of [`shade`]: accuracy 0 (red) through chance 0.5 (white) to 1 (deep blue).
fn accuracy_bar<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> Result<()> {
    let labels = [(1.0, "1.0"), (0.5, "0.5 chance"), (0.0, "0.0")].map(|(t, l)| (t, l.to_owned()));
    gradient_bar(area, shade, &labels)
}

/// A vertical strip of `colour(t)` for t from 0 (bottom) to 1 (top), with `labels` at their t.
fn gradient_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    colour: impl Fn(f64) -> RGBColor,
    labels: &[(f64, String)],
) -> Result<()> {
    let (_, h) = area.dim_in_pixel();
    let (top, bottom) = (60i32, h as i32 - 50);
    let steps = 64;
    for i in 0..steps {
        let t = i as f64 / (steps - 1) as f64;
        let y0 = bottom - ((bottom - top) as f64 * (i + 1) as f64 / steps as f64) as i32;
        let y1 = bottom - ((bottom - top) as f64 * i as f64 / steps as f64) as i32;
        ok(area.draw(&Rectangle::new([(12, y0), (32, y1)], colour(t).filled())))?;
    }
    ok(area.draw(&Rectangle::new([(12, top), (32, bottom)], BLACK)))?;
    let style = TextStyle::from(("sans-serif", 11).into_font());
    for (t, label) in labels {
        // The text's top at its height, kept inside the strip's ends.
        let y = bottom - ((bottom - top) as f64 * t) as i32;
        let y = (y - 5).min(bottom - 10).max(top);
        ok(area.draw(&Text::new(label.clone(), (38, y), style.clone())))?;
    }
    Ok(())
}

/// One box plot per configuration (column) of its rows' mean accuracies.
fn boxes<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, g: &Grid) -> Result<()> {
    let per: Vec<Vec<f64>> = (0..g.configs.len())
        .map(|ci| {
            g.cells
                .iter()
                .filter(|((r, c), _)| *c == ci && *r < g.boxed)
                .map(|(_, s)| s.mean)
                .collect()
        })
        .collect();
    let all: Vec<f64> = per.iter().flatten().copied().collect();
    let (lo, hi) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo > hi { (0.0, 1.0) } else { (lo, hi) };
    let pad = ((hi - lo) * 0.08).max(0.005);
    let n = g.configs.len().max(1) as f64;
    let mut chart = ok(ChartBuilder::on(area)
        .margin(15)
        .x_label_area_size(30)
        .y_label_area_size(ROW_LABELS)
        .build_cartesian_2d(-0.5..n - 0.5, lo - pad..hi + pad))?;
    ok(chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(5)
        .y_label_formatter(&|y| format!("{y:.2}"))
        .x_desc("per configuration (the columns above): box = quartiles, whiskers = 1.5 IQR")
        .y_desc("row means")
        .draw())?;
    for (ci, values) in per.iter().enumerate() {
        let Some(b) = BoxStats::of(values) else {
            continue;
        };
        let x = ci as f64;
        let ink = BLACK.stroke_width(1);
        ok(chart.draw_series(std::iter::once(Rectangle::new(
            [(x - 0.3, b.q1), (x + 0.3, b.q3)],
            RGBColor(31, 119, 180).mix(0.35).filled(),
        ))))?;
        ok(chart.draw_series(std::iter::once(Rectangle::new(
            [(x - 0.3, b.q1), (x + 0.3, b.q3)],
            ink,
        ))))?;
        for seg in [
            vec![(x - 0.3, b.median), (x + 0.3, b.median)],
            vec![(x, b.q3), (x, b.high)],
            vec![(x, b.q1), (x, b.low)],
            vec![(x - 0.12, b.high), (x + 0.12, b.high)],
            vec![(x - 0.12, b.low), (x + 0.12, b.low)],
        ] {
            ok(chart.draw_series(std::iter::once(PathElement::new(
                seg,
                BLACK.stroke_width(2),
            ))))?;
        }
        ok(chart.draw_series(
            values
                .iter()
                .filter(|&&v| v < b.low || v > b.high)
                .map(|&v| Circle::new((x, v), 3, BLACK)),
        ))?;
    }
    Ok(())
}

/// phenomenon → (milestone sort key, label) → mean accuracy over full runs.
pub type Heat = BTreeMap<String, BTreeMap<(u64, String), f64>>;

/// The phenomenon × anchor heatmap, with the accuracy scale's colour bar at its right.
pub fn draw_anchors<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, h: &Heat) -> Result<()> {
    let (w, _) = root.dim_in_pixel();
    let (root, bar) = root.split_horizontally(w.saturating_sub(BAR));
    accuracy_bar(&bar)?;
    let root = &root;
    let mut cols: Vec<(u64, String)> = h.values().flat_map(|m| m.keys().cloned()).collect();
    cols.sort();
    cols.dedup();
    let rows: Vec<&String> = h.keys().collect();
    let (nc, nr) = (cols.len().max(1), rows.len().max(1));
    let mut chart = ok(ChartBuilder::on(root)
        .caption(
            "BLiMP accuracy per phenomenon and anchor (mean over full runs)",
            ("sans-serif", 16),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(210)
        .build_cartesian_2d(axis(nc), axis(nr)))?;
    let col_labels: Vec<String> = cols.iter().map(|c| c.1.clone()).collect();
    let row_labels: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    ok(chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("anchor (millions of tokens, or final)")
        .y_desc("phenomenon")
        .x_labels(nc)
        .y_labels(nr)
        .x_label_formatter(&|v| segment_label(&col_labels, v))
        .y_label_formatter(&|v| segment_label(&row_labels, v))
        .draw())?;
    for (ri, r) in rows.iter().enumerate() {
        for (ci, c) in cols.iter().enumerate() {
            if let Some(&a) = h[*r].get(c) {
                let corners = [
                    (SegmentValue::Exact(ci), SegmentValue::Exact(ri)),
                    (SegmentValue::Exact(ci + 1), SegmentValue::Exact(ri + 1)),
                ];
                ok(chart.draw_series(std::iter::once(Rectangle::new(corners, shade(a).filled()))))?;
            }
        }
    }
    Ok(())
}
