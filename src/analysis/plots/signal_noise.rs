//! Signal-to-noise per task (Heineman et al. 2025): at the final, each task's spread of
//! configuration means over its mean seed standard deviation, one bar per task from the noisiest
//! up, coloured by measure (BLiMP's overall accuracy and paradigms, its mean margin, GLUE).

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::render::ok;
use super::series::color;
use crate::analysis::signal_noise::SignalNoiseRow;

/// The bars: the final's rows with a finite ratio, noisiest first.
pub fn bars(rows: &[SignalNoiseRow]) -> Vec<&SignalNoiseRow> {
    let mut out: Vec<&SignalNoiseRow> = rows
        .iter()
        .filter(|r| r.milestone == "final" && r.snr.is_finite())
        .collect();
    out.sort_by(|a, b| a.snr.total_cmp(&b.snr));
    out
}

/// The figure's height for `n` bars.
pub fn height(n: usize) -> u32 {
    (140 + 18 * n as u32).max(360)
}

fn name(r: &SignalNoiseRow) -> String {
    match (r.measure.as_str(), r.task.as_str()) {
        ("blimp", "overall") => "BLiMP accuracy (overall)".into(),
        ("blimp_margin", t) => format!("BLiMP margin ({t})"),
        ("glue", "macro") => "GLUE macro-average".into(),
        ("glue", t) => format!("GLUE {t}"),
        (_, t) => t.to_owned(),
    }
}

const MEASURES: [(&str, &str); 3] = [
    ("blimp", "BLiMP accuracy"),
    ("blimp_margin", "BLiMP margin"),
    ("glue", "GLUE"),
];

pub fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    rows: &[SignalNoiseRow],
) -> Result<()> {
    let bars = bars(rows);
    let n = bars.len() as i32;
    let top = bars.iter().map(|r| r.snr).fold(0.0f64, f64::max);
    let top = if top > 0.0 { top * 1.08 } else { 1.0 };
    let names: Vec<String> = bars.iter().map(|r| name(r)).collect();
    let mut chart = ok(ChartBuilder::on(root)
        .caption(
            "Signal-to-noise at the final: spread of configuration means / mean seed SD",
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(260)
        .build_cartesian_2d(0.0..top, -1..n.max(1)))?;
    let label = |y: &i32| names.get(*y as usize).cloned().unwrap_or_default();
    ok(chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels((n + 1) as usize)
        .y_label_formatter(&label)
        .x_desc("signal-to-noise ratio (no bars: fewer than two seeds per configuration)")
        .draw())?;
    for (k, (measure, legend)) in MEASURES.iter().enumerate() {
        let c = color(k);
        let of = bars
            .iter()
            .enumerate()
            .filter(|(_, r)| r.measure == *measure);
        let rects = of.map(|(i, r)| {
            let y = i as i32;
            Rectangle::new([(0.0, y), (r.snr, y + 1)], c.mix(0.8).filled())
        });
        ok(chart.draw_series(rects))?
            .label(*legend)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
    }
    ok(chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw())?;
    Ok(())
}
