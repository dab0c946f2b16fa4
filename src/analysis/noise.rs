//! Noise where the report names it, with seeds as the replicates wherever a configuration has two:
//! whether a configuration scores above chance (`data/chance`: a one-sample t test over its seeds;
//! with one seed, the binomial error of its pairs), whether training moved the scores beyond
//! noise (`data/learning`: the change's pooled within-configuration seed variance; binomial with
//! one seed); per task the signal-to-noise ratio is [`super::signal_noise`]'s. Each verdict's
//! `basis` column says which noise it used; `tests/python/decisions_check.py` recomputes all three
//! with scipy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use super::record::{Milestone, Record};
use super::stats::{mean, sample_variance};
use crate::config::{Anchor, Configuration, ScheduleKind};

/// The level a verdict is drawn at (two-sided).
pub const ALPHA: f64 = 0.05;

/// The z of a two-sided 95% range (Φ⁻¹(0.975)).
const Z_975: f64 = 1.959_963_984_540_054;

/// Which noise a verdict used.
pub const SEEDS: &str = "seeds";
pub const BINOMIAL: &str = "binomial";

/// One row of `chance.csv`: a configuration's mean score at one checkpoint against chance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChanceRow {
    pub measure: String,
    pub dataset: String,
    pub model_size: String,
    pub vocab_size: i64,
    pub schedule: ScheduleKind,
    pub anchor: Anchor,
    pub milestone: String,
    pub n_seeds: i64,
    pub mean: f64,
    /// The seeds' standard deviation (n − 1), with two seeds or more.
    pub seed_sd: f64,
    /// What a random guesser scores (0.5 for accuracy, 0 for the margin).
    pub chance: f64,
    /// Two-sided: a t test over seeds (`basis` = seeds) or the binomial z (`basis` = binomial).
    pub p_value: f64,
    pub basis: String,
    /// `within chance`, `above chance` or `below chance` (at p < 0.05).
    pub verdict: String,
}

/// One row of `learning.csv`: whether scores moved from the runs' first milestone to their final.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearningRow {
    pub measure: String,
    pub n_runs: i64,
    pub n_configs: i64,
    /// The mean change over runs.
    pub delta: f64,
    /// Half-width of the change's 95% noise range.
    pub noise: f64,
    /// Degrees of freedom of the seed variance (missing for the binomial basis).
    pub df: Option<i64>,
    pub p_value: f64,
    pub basis: String,
}

impl LearningRow {
    pub fn beyond_noise(&self) -> bool {
        self.p_value < ALPHA
    }
}

/// The sample standard deviation (n − 1); NaN below two values.
pub(super) fn sd(v: &[f64]) -> f64 {
    sample_variance(v).sqrt()
}

fn student(df: f64) -> StudentsT {
    StudentsT::new(0.0, 1.0, df).expect("positive degrees of freedom")
}

/// The two-sided p of a t statistic with `df` degrees of freedom.
fn t_p(t: f64, df: f64) -> f64 {
    2.0 * student(df).sf(t.abs())
}

/// The two-sided p of a standard normal z.
fn z_p(z: f64) -> f64 {
    libm::erfc(z.abs() / std::f64::consts::SQRT_2)
}

/// The t quantile at `p`, statrs' estimate polished by Newton steps on its exact CDF.
pub fn t_quantile(df: f64, p: f64) -> f64 {
    let t = student(df);
    let mut x = t.inverse_cdf(p);
    for _ in 0..3 {
        use statrs::distribution::Continuous;
        x -= (t.cdf(x) - p) / t.pdf(x);
    }
    x
}

/// Milestones as keys that order as they should (`final` last).
pub(super) fn key(m: Milestone) -> u64 {
    m.order().to_bits()
}

/// Per configuration and checkpoint, the seeds' records of `records` (their `task` as given).
fn by_checkpoint<'a>(
    records: impl Iterator<Item = &'a Record>,
) -> BTreeMap<(Configuration, u64), Vec<&'a Record>> {
    let mut out: BTreeMap<(Configuration, u64), Vec<&Record>> = BTreeMap::new();
    for r in records {
        let at = (r.run.configuration(), key(r.milestone));
        out.entry(at).or_default().push(r);
    }
    out
}

/// `chance.csv`'s rows of `measure` over the overall `records` (every run and checkpoint).
pub fn chance(records: &[Record], measure: &str, level: f64) -> Vec<ChanceRow> {
    let overall = records.iter().filter(|r| r.task.is_none());
    let mut out = Vec::new();
    for ((config, _), rs) in by_checkpoint(overall) {
        let v: Vec<f64> = rs.iter().map(|r| r.acc).collect();
        let (k, m, s) = (v.len(), mean(&v), sd(&v));
        let pairs: Option<Vec<i64>> = rs.iter().map(|r| r.n).collect();
        let (p, basis) = if k >= 2 && s > 0.0 {
            let df = (k - 1) as f64;
            (t_p((m - level) / (s / (k as f64).sqrt()), df), SEEDS)
        } else if let Some(pairs) = pairs {
            let var = pairs.iter().map(|&n| 0.25 / n as f64).sum::<f64>() / (k * k) as f64;
            (z_p((m - level) / var.sqrt()), BINOMIAL)
        } else {
            continue;
        };
        let verdict = match (p < ALPHA, m > level) {
            (false, _) => "within chance",
            (true, true) => "above chance",
            (true, false) => "below chance",
        };
        out.push(ChanceRow {
            measure: measure.to_owned(),
            dataset: config.dataset.clone(),
            model_size: config.model.clone(),
            vocab_size: i64::from(config.vocab_size),
            schedule: config.schedule,
            anchor: config.anchor,
            milestone: rs[0].milestone.to_string(),
            n_seeds: k as i64,
            mean: m,
            seed_sd: s,
            chance: level,
            p_value: p,
            basis: basis.to_owned(),
            verdict: verdict.to_owned(),
        });
    }
    out
}

/// `learning.csv`'s row of `measure`: the mean change of the full runs' overall scores from each
/// run's first milestone after the initialisation to its final. With a second seed somewhere its
/// noise is the within-configuration variance of the changes (pooled, Σ (k − 1) degrees of
/// freedom) over the runs; otherwise the binomial error of both checkpoints' pairs.
pub fn learning(records: &[Record], measure: &str) -> Option<LearningRow> {
    let mut runs: BTreeMap<&crate::config::RunKey, Vec<&Record>> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| r.run.is_full() && r.task.is_none())
    {
        runs.entry(&r.run).or_default().push(r);
    }
    let mut changes: BTreeMap<Configuration, Vec<f64>> = BTreeMap::new();
    let mut binomial = Some(0.0);
    for rs in runs.values() {
        let first = rs
            .iter()
            .filter(|r| r.milestone != Milestone::Final && r.milestone.order() > 0.0)
            .min_by(|a, b| a.milestone.order().total_cmp(&b.milestone.order()));
        let last = rs.iter().find(|r| r.milestone == Milestone::Final);
        let (Some(f), Some(l)) = (first, last) else {
            continue;
        };
        let d = l.acc - f.acc;
        changes.entry(f.run.configuration()).or_default().push(d);
        binomial = match (binomial, f.n, l.n) {
            (Some(v), Some(a), Some(b)) => Some(v + 0.25 / a as f64 + 0.25 / b as f64),
            _ => None,
        };
    }
    let all: Vec<f64> = changes.values().flatten().copied().collect();
    if all.is_empty() {
        return None;
    }
    let n = all.len() as f64;
    let delta = mean(&all);
    let df: usize = changes.values().map(|c| c.len() - 1).sum();
    let ss: f64 = changes
        .values()
        .map(|c| {
            let m = mean(c);
            c.iter().map(|x| (x - m).powi(2)).sum::<f64>()
        })
        .sum();
    let (noise, df, p, basis) = if df > 0 && ss > 0.0 {
        let se = (ss / df as f64 / n).sqrt();
        let dff = df as f64;
        let noise = t_quantile(dff, 0.975) * se;
        (noise, Some(df as i64), t_p(delta / se, dff), SEEDS)
    } else {
        let se = binomial?.sqrt() / n;
        (Z_975 * se, None, z_p(delta / se), BINOMIAL)
    };
    Some(LearningRow {
        measure: measure.to_owned(),
        n_runs: all.len() as i64,
        n_configs: changes.len() as i64,
        delta,
        noise,
        df,
        p_value: p,
        basis: basis.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunKey;

    fn rec(dataset: &str, seed: u64, milestone: Milestone, acc: f64, n: Option<i64>) -> Record {
        Record {
            run: RunKey {
                dataset: dataset.into(),
                model: "20m".into(),
                vocab_size: 8000,
                seed,
                anchor: Anchor::Full,
                schedule: ScheduleKind::Cosine,
            },
            milestone,
            task: None,
            field: None,
            phenomenon: None,
            acc,
            n,
            tokens: None,
            paradigms: None,
            source: "t".into(),
        }
    }

    #[test]
    fn chance_uses_seeds_when_there_are_two() {
        // scipy.stats.ttest_1samp([0.52, 0.55, 0.50], 0.5).pvalue
        let rs = [0.52, 0.55, 0.50]
            .iter()
            .enumerate()
            .map(|(s, &a)| rec("a", s as u64, Milestone::Final, a, Some(1000)))
            .collect::<Vec<_>>();
        let rows = chance(&rs, "blimp", 0.5);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].basis, SEEDS);
        assert!(
            (rows[0].p_value - 0.24952122561354417).abs() < 1e-12,
            "{rows:?}"
        );
        assert_eq!(rows[0].verdict, "within chance");
        // One seed: the binomial error of its 1,000 pairs (z = 0.02 / (0.5 / √1000)).
        let rows = chance(&rs[..1], "blimp", 0.5);
        assert_eq!(rows[0].basis, BINOMIAL);
        assert!(
            (rows[0].p_value - 0.2059032107320684).abs() < 1e-12,
            "{rows:?}"
        );
        // One seed and no pair count: no verdict at all.
        let mut unknown = rs[0].clone();
        unknown.n = None;
        assert!(chance(&[unknown], "blimp", 0.5).is_empty());
    }

    #[test]
    fn t_quantiles_equal_scipy() {
        // scipy.stats.t.ppf(0.975, df)
        for (df, want) in [
            (1.0, 12.706204736174694),
            (4.0, 2.7764451051977934),
            (30.0, 2.0422724563012378),
        ] {
            let q = t_quantile(df, 0.975);
            assert!((q - want).abs() <= 1e-12 * want, "{df}: {q}");
        }
    }

    #[test]
    fn learning_pools_seed_variance_within_configurations() {
        let mut rs = Vec::new();
        for (d, changes) in [("a", [0.10, 0.12]), ("b", [0.02, 0.06])] {
            for (s, c) in changes.iter().enumerate() {
                rs.push(rec(d, s as u64, Milestone::Millions(1.0), 0.5, Some(100)));
                rs.push(rec(d, s as u64, Milestone::Final, 0.5 + c, Some(100)));
            }
        }
        let row = learning(&rs, "blimp").unwrap();
        // Changes 0.10, 0.12 | 0.02, 0.06: mean 0.075; pooled variance (0.0002 + 0.0008) / 2.
        assert_eq!((row.n_runs, row.n_configs, row.df), (4, 2, Some(2)));
        assert!((row.delta - 0.075).abs() < 1e-12);
        let se = (0.0005f64 / 4.0).sqrt();
        assert!(
            (row.noise - 4.302652729749462 * se).abs() < 1e-12,
            "{row:?}"
        );
        assert_eq!(row.basis, SEEDS);
        assert!(row.beyond_noise());
    }
}
