//! What the figures draw, gathered from the records: configurations in the study's order, the
//! anchors as labelled categories, accuracies over seeds with their band, and the y scale.

use std::collections::BTreeMap;

use plotters::style::RGBColor;

use super::super::inputs::{Milestone, Record, RunKey};
use super::super::record::size_order;
pub use crate::config::Configuration;
use crate::config::{Band, FigureStyle};

/// Twenty distinguishable colours (matplotlib's tab10, then its light tab20 partners), cycled.
pub const PALETTE: [RGBColor; 20] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(174, 199, 232),
    RGBColor(255, 187, 120),
    RGBColor(152, 223, 138),
    RGBColor(255, 152, 150),
    RGBColor(197, 176, 213),
    RGBColor(196, 156, 148),
    RGBColor(247, 182, 210),
    RGBColor(199, 199, 199),
    RGBColor(219, 219, 141),
    RGBColor(158, 218, 229),
];

pub fn color(k: usize) -> RGBColor {
    PALETTE[k % PALETTE.len()]
}

/// The study's colours (its `DATASET_COLOR_SCHEME`): a hue per dataset — BabyLM brown,
/// TinyStories blue, the composite corpus green — darker for larger models; grey for the rest.
pub fn study_color(dataset: &str, model: &str) -> RGBColor {
    let d = dataset.to_ascii_lowercase();
    let hues: [u32; 3] = if d.starts_with("babylm") {
        [0xc4a484, 0xa37a4c, 0x7c532d]
    } else if d.starts_with("tinystories") {
        [0x4a90c4, 0x0f4e77, 0x083655]
    } else if d.starts_with("hybrid") || d == "composite" {
        [0xa8c490, 0x89a377, 0x6b8259]
    } else {
        [0x666666; 3]
    };
    let hex = match model {
        "20m" => hues[0],
        "60m" => hues[1],
        "180m" => hues[2],
        _ => hues[1],
    };
    RGBColor((hex >> 16) as u8, (hex >> 8) as u8, hex as u8)
}

/// The colour of configuration `c`, the `k`-th of a figure: lmeff's palette by position, or the
/// study's by dataset and size, lightened for the `shade`-th of several lines sharing it (one per
/// vocabulary size in a per-dataset panel).
pub fn config_color(style: FigureStyle, c: &Configuration, k: usize, shade: usize) -> RGBColor {
    match style {
        FigureStyle::Lmeff => color(k),
        FigureStyle::Paper => {
            let base = study_color(&c.dataset, &c.model);
            let t = (0.22 * shade as f64).min(0.66);
            let mix = |v: u8| (v as f64 + (255.0 - v as f64) * t) as u8;
            RGBColor(mix(base.0), mix(base.1), mix(base.2))
        }
    }
}

/// A configuration's label in a figure; the paper's names the study's `hybrid_3.7B` `composite`.
pub fn config_label(style: FigureStyle, c: &Configuration) -> String {
    match (style, c.dataset.as_str()) {
        (FigureStyle::Paper, "hybrid_3.7B") => {
            let composite = Configuration {
                dataset: "composite".into(),
                ..c.clone()
            };
            composite.label()
        }
        _ => c.label(),
    }
}

/// Which configurations the figures show: patterns `DATASET[/SIZE[/VOCAB]]`, each part a glob
/// (`*`, `?`, `[…]`), a missing part matching anything; empty: every configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigFilter {
    patterns: Vec<(String, [glob::Pattern; 3])>,
}

impl ConfigFilter {
    pub fn parse(patterns: &[String]) -> anyhow::Result<ConfigFilter> {
        let mut out = ConfigFilter::default();
        for p in patterns {
            let parts: Vec<&str> = p.split('/').collect();
            if parts.len() > 3 || parts.iter().any(|x| x.is_empty()) {
                anyhow::bail!(
                    "figure configuration pattern {p:?}: expected DATASET[/SIZE[/VOCAB]], e.g. babylm*/60m/16000"
                );
            }
            let part = |i: usize| -> anyhow::Result<glob::Pattern> {
                glob::Pattern::new(parts.get(i).copied().unwrap_or("*"))
                    .map_err(|e| anyhow::anyhow!("figure configuration pattern {p:?}: {e}"))
            };
            out.patterns
                .push((p.clone(), [part(0)?, part(1)?, part(2)?]));
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    pub fn matches(&self, run: &RunKey) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|(_, p)| Self::hit(p, run))
    }

    fn hit(p: &[glob::Pattern; 3], run: &RunKey) -> bool {
        p[0].matches(&run.dataset)
            && p[1].matches(&run.model)
            && p[2].matches(&run.vocab_size.to_string())
    }

    /// Refuses patterns that match none of `runs` (a typo shows as an error naming the
    /// configurations there are, not as an empty figure).
    pub fn check<'r>(&self, runs: impl Iterator<Item = &'r RunKey>) -> anyhow::Result<()> {
        let runs: Vec<&RunKey> = runs.collect();
        let unmatched: Vec<&str> = self
            .patterns
            .iter()
            .filter(|(_, p)| !runs.iter().any(|r| Self::hit(p, r)))
            .map(|(s, _)| s.as_str())
            .collect();
        if unmatched.is_empty() {
            return Ok(());
        }
        let mut there: Vec<String> = runs
            .iter()
            .map(|r| format!("{}/{}/{}", r.dataset, r.model, r.vocab_size))
            .collect();
        there.sort();
        there.dedup();
        anyhow::bail!(
            "figure configuration pattern(s) {} match no configuration; there are: {}",
            unmatched.join(", "),
            there.join(", ")
        )
    }

    /// The records of the configurations shown.
    pub fn keep(&self, records: &[Record]) -> Vec<Record> {
        records
            .iter()
            .filter(|r| self.matches(&r.run))
            .cloned()
            .collect()
    }
}

/// Configurations in the study's order: dataset, then model size by parameters, then vocab.
pub fn ordered(configs: impl IntoIterator<Item = Configuration>) -> Vec<Configuration> {
    let mut out: Vec<Configuration> = configs.into_iter().collect();
    out.sort_by(|a, b| {
        (
            &a.dataset,
            size_order(&a.model),
            a.vocab_size,
            a.schedule,
            a.anchor,
        )
            .partial_cmp(&(
                &b.dataset,
                size_order(&b.model),
                b.vocab_size,
                b.schedule,
                b.anchor,
            ))
            .expect("sizes order")
    });
    out.dedup();
    out
}

/// Distinct anchors, in order: milestones by tokens, `final` last.
pub fn anchors<'a>(milestones: impl IntoIterator<Item = &'a Milestone>) -> Vec<Milestone> {
    let mut out: Vec<Milestone> = Vec::new();
    for m in milestones {
        if !out.contains(m) {
            out.push(*m);
        }
    }
    out.sort_by(|a, b| a.order().total_cmp(&b.order()));
    out
}

/// An anchor as the axis labels it: `25`, `0.05`, `final`.
pub fn anchor_label(m: &Milestone) -> String {
    m.to_string()
}

/// The label of a value on a segmented axis: `labels[i]` at the centre of segment `i`, nothing
/// elsewhere.
pub fn segment_label(labels: &[String], v: &plotters::prelude::SegmentValue<usize>) -> String {
    match v {
        plotters::prelude::SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
        _ => String::new(),
    }
}

/// Accuracies over seeds, summarised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Spread {
    pub fn of(values: &[f64]) -> Option<Spread> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = if n > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let (min, max) = values
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        Some(Spread {
            mean,
            std,
            min,
            max,
            n,
        })
    }

    /// The band's (low, high).
    pub fn band(&self, band: Band) -> (f64, f64) {
        match band {
            Band::Minmax => (self.min, self.max),
            Band::Std => (self.mean - self.std, self.mean + self.std),
        }
    }
}

/// Full runs' accuracies per configuration and anchor, over seeds.
pub type Curves = BTreeMap<Configuration, BTreeMap<String, (Milestone, Vec<f64>)>>;

pub fn curves(overall: &[Record]) -> Curves {
    let mut out: Curves = BTreeMap::new();
    for r in overall.iter().filter(|r| r.run.is_full()) {
        out.entry(r.run.configuration())
            .or_default()
            .entry(r.milestone.to_string())
            .or_insert((r.milestone, Vec::new()))
            .1
            .push(r.acc);
    }
    out
}

/// The five numbers of a box plot (Tukey's whiskers: the furthest points within 1.5 IQR).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxStats {
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub low: f64,
    pub high: f64,
}

impl BoxStats {
    pub fn of(values: &[f64]) -> Option<BoxStats> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        // Linear interpolation between order statistics (numpy's default).
        let q = |p: f64| {
            let h = p * (v.len() - 1) as f64;
            let (i, f) = (h.floor() as usize, h.fract());
            v[i] + f * (v[(i + 1).min(v.len() - 1)] - v[i])
        };
        let (q1, median, q3) = (q(0.25), q(0.5), q(0.75));
        let reach = 1.5 * (q3 - q1);
        let low = *v
            .iter()
            .find(|&&x| x >= q1 - reach)
            .expect("q1 is in range");
        let high = *v
            .iter()
            .rev()
            .find(|&&x| x <= q3 + reach)
            .expect("q3 is in range");
        Some(BoxStats {
            q1,
            median,
            q3,
            low,
            high,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_and_boxes_match_numpy() {
        let s = Spread::of(&[0.6, 0.7, 0.8]).unwrap();
        assert!((s.mean - 0.7).abs() < 1e-12 && (s.std - 0.1).abs() < 1e-12);
        assert_eq!(s.band(Band::Minmax), (0.6, 0.8));
        // numpy.percentile([1, 2, 3, 4, 10], [25, 50, 75]) = 2, 3, 4; 10 lies beyond 4 + 1.5·2.
        let b = BoxStats::of(&[4.0, 1.0, 10.0, 3.0, 2.0]).unwrap();
        assert_eq!(
            (b.q1, b.median, b.q3, b.low, b.high),
            (2.0, 3.0, 4.0, 1.0, 4.0)
        );
    }

    #[test]
    fn configurations_order_by_dataset_size_and_vocab() {
        let c = |d: &str, m: &str, v| Configuration {
            dataset: d.into(),
            model: m.into(),
            vocab_size: v,
            anchor: crate::config::Anchor::Full,
            schedule: crate::config::ScheduleKind::Cosine,
        };
        let got = ordered([
            c("ts", "180m", 8000),
            c("ts", "20m", 16000),
            c("ts", "20m", 8000),
        ]);
        let labels: Vec<String> = got.iter().map(Configuration::label).collect();
        assert_eq!(labels, ["ts 20m 8k", "ts 20m 16k", "ts 180m 8k"]);
    }
}
