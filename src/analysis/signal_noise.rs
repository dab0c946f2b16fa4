//! Signal-to-noise per task (`data/signal_noise`, Heineman et al. 2025): the spread of
//! configuration means over the mean seed standard deviation, per task and milestone of the full
//! runs. Heineman et al.'s relative versions divide both by the mean, which cancels in the ratio.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::noise::{key, sd};
use super::record::Record;
use super::stats::mean;
use crate::config::Configuration;

/// One row of `signal_noise.csv`: one task at one milestone over the full runs' configurations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalNoiseRow {
    /// `blimp`, `blimp_margin` or `glue`.
    pub measure: String,
    /// `overall`, a BLiMP paradigm, a GLUE task or `macro`.
    pub task: String,
    pub milestone: String,
    pub n_configs: i64,
    pub n_seeds_min: i64,
    /// The spread of configuration means: the largest mean minus the smallest.
    pub signal: f64,
    /// The mean over configurations with two seeds or more of their seed standard deviation.
    pub noise: f64,
    pub snr: f64,
}

/// `signal_noise.csv`'s rows of `measure`: per task (`overall` for a record without one) and
/// milestone, over the full runs' configurations (two at least).
pub fn signal_noise(records: &[Record], measure: &str, overall: &str) -> Vec<SignalNoiseRow> {
    let mut cells: BTreeMap<(String, u64), BTreeMap<Configuration, Vec<&Record>>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.run.is_full()) {
        let task = r.task.clone().unwrap_or_else(|| overall.to_owned());
        let cell = cells.entry((task, key(r.milestone))).or_default();
        cell.entry(r.run.configuration()).or_default().push(r);
    }
    let mut out = Vec::new();
    for ((task, _), configs) in cells {
        if configs.len() < 2 {
            continue;
        }
        let values: Vec<Vec<f64>> = configs
            .values()
            .map(|rs| rs.iter().map(|r| r.acc).collect())
            .collect();
        let means: Vec<f64> = values.iter().map(|v| mean(v)).collect();
        let max = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = means.iter().copied().fold(f64::INFINITY, f64::min);
        let sds: Vec<f64> = values
            .iter()
            .filter(|v| v.len() >= 2)
            .map(|v| sd(v))
            .collect();
        let noise = match sds.is_empty() {
            true => f64::NAN,
            false => mean(&sds),
        };
        let first = configs.values().next().expect("two configurations")[0];
        out.push(SignalNoiseRow {
            measure: measure.to_owned(),
            task,
            milestone: first.milestone.to_string(),
            n_configs: configs.len() as i64,
            n_seeds_min: values.iter().map(Vec::len).min().unwrap_or(0) as i64,
            signal: max - min,
            noise,
            snr: (max - min) / noise,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::record::Milestone;
    use crate::config::{Anchor, RunKey, ScheduleKind};

    fn rec(dataset: &str, seed: u64, acc: f64) -> Record {
        Record {
            run: RunKey {
                dataset: dataset.into(),
                model: "20m".into(),
                vocab_size: 8000,
                seed,
                anchor: Anchor::Full,
                schedule: ScheduleKind::Cosine,
            },
            milestone: Milestone::Final,
            task: None,
            field: None,
            phenomenon: None,
            acc,
            n: None,
            tokens: None,
            paradigms: None,
            source: "t".into(),
        }
    }

    #[test]
    fn signal_is_the_spread_of_means_and_noise_the_mean_seed_sd() {
        let mut rs = Vec::new();
        for (d, v) in [
            ("a", [0.60, 0.62]),
            ("b", [0.70, 0.74]),
            ("c", [0.65, 0.65]),
        ] {
            for (s, a) in v.iter().enumerate() {
                rs.push(rec(d, s as u64, *a));
            }
        }
        let rows = signal_noise(&rs, "blimp", "overall");
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert!((r.signal - 0.11).abs() < 1e-12);
        let noise = (0.02f64.powi(2) / 2.0).sqrt() / 3.0 + (0.04f64.powi(2) / 2.0).sqrt() / 3.0;
        assert!((r.noise - noise).abs() < 1e-12, "{r:?}");
        assert!((r.snr - 0.11 / noise).abs() < 1e-9);
    }
}
