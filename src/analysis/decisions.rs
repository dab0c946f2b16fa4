//! Decisions between configurations (`data/decisions`): the study's question is which
//! configuration wins, so configurations are the unit and seeds their replicates. Per group and
//! anchor: how often the anchor orders a pair of configurations as the final does (DataDecide's
//! decision accuracy, on seed means) with a hierarchical bootstrap interval, Spearman ρ of the
//! configuration means, where the final winner ranks, what seed noise allows (the noise ceiling)
//! and how many pairs the finals tell apart at all. Full runs only: a budget run has no anchors.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::decision_stats::{self as ds, Paired};
use super::record::{size_order, Milestone, Record};
use super::seeds_plan::{self, SeedsPlanRow};
use super::stats;
use crate::config::Configuration;

/// The fewest configurations and seeds per configuration a verdict needs (settings
/// `aggregate.min_configs`, `aggregate.min_seeds`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdicts {
    pub min_configs: usize,
    pub min_seeds: usize,
}

impl Default for Verdicts {
    fn default() -> Self {
        use crate::config::aggregate::{DEFAULT_MIN_CONFIGS, DEFAULT_MIN_SEEDS};
        Verdicts {
            min_configs: DEFAULT_MIN_CONFIGS,
            min_seeds: DEFAULT_MIN_SEEDS,
        }
    }
}

/// How the decisions are computed: the bootstrap's draws and seed, the verdicts' minimum sizes,
/// and the seed counts of the seeds plan.
#[derive(Debug, Clone, Copy)]
pub struct DecisionOptions<'a> {
    pub draws: usize,
    pub seed: u64,
    pub verdicts: Verdicts,
    pub seeds_plan: &'a [usize],
}

/// One row of `decisions.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRow {
    /// `global`, `model_size=60m`, `dataset=babylm`, `across_sizes,vocab_size=16000`.
    pub group: String,
    /// `blimp` (overall accuracy) or `glue_macro` (the GLUE macro-average on test).
    pub measure: String,
    /// The anchor, in millions of tokens.
    pub milestone: f64,
    /// Configurations with a seed at both this anchor and the final.
    pub n_configs: i64,
    /// The fewest such seeds of one configuration.
    pub n_seeds_min: i64,
    pub decision_accuracy: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub spearman_configs: f64,
    /// The anchor's rank (1 = first) of the configuration best at the final.
    pub winner_rank: Option<i64>,
    /// The group's noise ceiling (the same on each of its rows).
    pub noise_ceiling: f64,
    pub pairs_resolved: f64,
    /// The training compute spent to reach this anchor (6 × parameters × tokens, summed over the
    /// group's runs) as a share of the group's full cost; evaluation and fine-tuning excluded.
    /// Missing where a run's final token count or its model's parameters are not known.
    pub compute_fraction: f64,
    /// `judged`, or why not.
    pub verdict: String,
}

impl DecisionRow {
    /// Whether the row carries a verdict (enough configurations to judge).
    pub fn judged(&self) -> bool {
        self.verdict.starts_with("judged")
    }
}

/// One configuration's full runs: seed → value at each anchor (by its token count) and at the
/// final.
#[derive(Debug, Default)]
pub struct Curve {
    /// Anchor tokens → seed → value.
    pub at: BTreeMap<u64, BTreeMap<u64, f64>>,
    pub finals: BTreeMap<u64, f64>,
    /// Each seed's final token count, when known.
    pub final_tokens: BTreeMap<u64, Option<u64>>,
}

impl Curve {
    /// The seeds with a value at anchor `tokens` and at the final, in seed order.
    fn paired(&self, tokens: u64) -> Paired {
        let Some(at) = self.at.get(&tokens) else {
            return Vec::new();
        };
        at.iter()
            .filter_map(|(s, &a)| Some((a, *self.finals.get(s)?)))
            .collect()
    }
}

/// The configurations of `records`' full runs (overall values, `task` None), each with its curve.
pub fn curves<'a>(records: impl Iterator<Item = &'a Record>) -> BTreeMap<Configuration, Curve> {
    let mut out: BTreeMap<Configuration, Curve> = BTreeMap::new();
    for r in records.filter(|r| r.run.is_full() && r.task.is_none()) {
        let c = out.entry(r.run.configuration()).or_default();
        match r.milestone {
            Milestone::Final => {
                c.finals.insert(r.run.seed, r.acc);
                c.final_tokens
                    .insert(r.run.seed, r.tokens.map(|t| t as u64));
            }
            Milestone::Millions(m) if m > 0.0 => {
                let tokens = (m * 1e6).round() as u64;
                c.at.entry(tokens).or_default().insert(r.run.seed, r.acc);
            }
            Milestone::Millions(_) => {}
        }
    }
    out
}

/// The groups decisions are judged in: all configurations; each model size alone and each
/// dataset alone (when there are several); and, per vocabulary with several model sizes, the
/// configurations across sizes (where learning curves cross).
pub fn groups(configs: &[&Configuration]) -> Vec<(String, Vec<usize>)> {
    let mut out = vec![("global".to_owned(), (0..configs.len()).collect())];
    let by = |key: &dyn Fn(&Configuration) -> String| {
        let mut m: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, c) in configs.iter().enumerate() {
            m.entry(key(c)).or_default().push(i);
        }
        m
    };
    let mut sizes: Vec<(String, Vec<usize>)> = by(&|c| c.model.clone()).into_iter().collect();
    sizes.sort_by(|a, b| {
        size_order(&a.0)
            .partial_cmp(&size_order(&b.0))
            .expect("sizes order")
    });
    if sizes.len() > 1 {
        out.extend(
            sizes
                .into_iter()
                .map(|(s, m)| (format!("model_size={s}"), m)),
        );
    }
    let datasets = by(&|c| c.dataset.clone());
    if datasets.len() > 1 {
        out.extend(
            datasets
                .into_iter()
                .map(|(d, m)| (format!("dataset={d}"), m)),
        );
    }
    let mut by_vocab: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, c) in configs.iter().enumerate() {
        by_vocab.entry(c.vocab_size).or_default().push(i);
    }
    for (vocab, members) in by_vocab {
        let sizes: std::collections::BTreeSet<&str> =
            members.iter().map(|&i| configs[i].model.as_str()).collect();
        if sizes.len() > 1 {
            out.push((format!("across_sizes,vocab_size={vocab}"), members));
        }
    }
    out
}

/// The share of a group's full training compute spent by the time its runs reach `tokens`:
/// Σ 6·N·min(t, T) / Σ 6·N·T over the group's runs with a final (N the configuration's
/// parameters, T the run's final token count). NaN when any N or T is unknown.
fn compute_fraction(members: &[(&Configuration, &Curve)], tokens: u64, params: &Params) -> f64 {
    let (mut spent, mut full) = (0.0, 0.0);
    for (config, curve) in members {
        let Some(n) = params(config) else {
            return f64::NAN;
        };
        for t in curve.final_tokens.values() {
            let Some(t) = *t else { return f64::NAN };
            spent += 6.0 * n as f64 * tokens.min(t) as f64;
            full += 6.0 * n as f64 * t as f64;
        }
    }
    spent / full
}

/// A configuration's trainable parameters, when its model is known.
pub type Params<'p> = dyn Fn(&Configuration) -> Option<u64> + Sync + 'p;

/// The decision rows of `measure` over `records`, per group and anchor (in token order), and
/// the seeds plan's rows for each seed count in `seeds_plan` ([`super::seeds_plan`]).
pub fn table<'a>(
    records: impl Iterator<Item = &'a Record>,
    measure: &str,
    params: &Params,
    o: &DecisionOptions,
) -> (Vec<DecisionRow>, Vec<SeedsPlanRow>) {
    let curves = curves(records);
    let configs: Vec<&Configuration> = curves.keys().collect();
    let curve: Vec<&Curve> = curves.values().collect();
    let (mut rows, mut plan) = (Vec::new(), Vec::new());
    for (group, members) in groups(&configs) {
        let finals: Vec<Vec<f64>> = members
            .iter()
            .map(|&i| curve[i].finals.values().copied().collect())
            .collect();
        let ceiling = ds::noise_ceiling(&finals).unwrap_or(f64::NAN);
        let mut anchors: Vec<u64> = members
            .iter()
            .flat_map(|&i| curve[i].at.keys().copied())
            .collect();
        anchors.sort();
        anchors.dedup();
        let of: Vec<(&Configuration, &Curve)> =
            members.iter().map(|&i| (configs[i], curve[i])).collect();
        for tokens in anchors {
            let paired: Vec<Paired> = members
                .iter()
                .map(|&i| curve[i].paired(tokens))
                .filter(|p| !p.is_empty())
                .collect();
            if paired.is_empty() {
                continue;
            }
            let mut r = row(&group, measure, tokens, &paired, ceiling, o);
            r.compute_fraction = compute_fraction(&of, tokens, params);
            rows.push(r);
            let at = (group.as_str(), measure, tokens as f64 / 1e6);
            plan.extend(seeds_plan::rows(at, &paired, o.seeds_plan));
        }
    }
    (rows, plan)
}

fn row(
    group: &str,
    measure: &str,
    tokens: u64,
    paired: &[Paired],
    noise_ceiling: f64,
    o: &DecisionOptions,
) -> DecisionRow {
    let (at, fin) = ds::means(paired);
    let n = paired.len();
    let n_seeds_min = paired.iter().map(Vec::len).min().unwrap_or(0);
    let (ci_low, ci_high) =
        ds::bootstrap_interval(paired, o.draws, o.seed).unwrap_or((f64::NAN, f64::NAN));
    let Verdicts {
        min_configs,
        min_seeds,
    } = o.verdicts;
    let verdict = match (n, n_seeds_min) {
        (n, _) if n < min_configs => {
            format!("too few configurations (n = {n}, fewer than {min_configs}) to judge")
        }
        (_, k) if k < min_seeds => {
            format!("too few seeds (a configuration has {k}, fewer than {min_seeds}) to judge")
        }
        (_, 1) => "judged; one seed per configuration, so seed noise is unknown".to_owned(),
        _ => "judged".to_owned(),
    };
    DecisionRow {
        group: group.to_owned(),
        measure: measure.to_owned(),
        milestone: tokens as f64 / 1e6,
        n_configs: n as i64,
        n_seeds_min: n_seeds_min as i64,
        decision_accuracy: stats::decision_accuracy(&at, &fin),
        ci_low,
        ci_high,
        spearman_configs: stats::spearman(&at, &fin),
        winner_rank: ds::winner_rank(&at, &fin).map(|r| r as i64),
        noise_ceiling,
        pairs_resolved: ds::pairs_resolved(paired).unwrap_or(f64::NAN),
        compute_fraction: f64::NAN,
        verdict,
    }
}

/// Per group of `measure`'s rows: the first anchor (token order) whose decision accuracy and
/// interval's lower bound both reach `threshold`, among judged rows.
pub fn earliest(rows: &[DecisionRow], measure: &str, threshold: f64) -> Vec<(String, Option<f64>)> {
    let mut out: Vec<(String, Option<f64>)> = Vec::new();
    for r in rows.iter().filter(|r| r.measure == measure) {
        if out.last().is_none_or(|(g, _)| *g != r.group) {
            out.push((r.group.clone(), None));
        }
        let slot = &mut out.last_mut().expect("pushed").1;
        if slot.is_none() && r.judged() && r.decision_accuracy >= threshold && r.ci_low >= threshold
        {
            *slot = Some(r.milestone);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Anchor, RunKey, ScheduleKind};

    /// `configs` configurations × `seeds` seeds, each at 1M tokens and the final.
    fn study(configs: usize, seeds: u64) -> Vec<Record> {
        let mut out = Vec::new();
        for c in 0..configs {
            for seed in 0..seeds {
                for (milestone, acc) in [(Milestone::Millions(1.0), 0.5), (Milestone::Final, 0.6)] {
                    out.push(Record {
                        run: RunKey {
                            dataset: "d".into(),
                            model: "20m".into(),
                            vocab_size: 8000 + c as u32,
                            seed,
                            anchor: Anchor::Full,
                            schedule: ScheduleKind::Cosine,
                        },
                        milestone,
                        task: None,
                        field: None,
                        phenomenon: None,
                        acc: acc + 0.01 * c as f64 + 0.001 * seed as f64,
                        n: None,
                        tokens: None,
                        paradigms: None,
                        source: "t".into(),
                    });
                }
            }
        }
        out
    }

    fn verdicts(records: &[Record], min_configs: usize, min_seeds: usize) -> Vec<String> {
        let o = DecisionOptions {
            draws: 50,
            seed: 1,
            verdicts: Verdicts {
                min_configs,
                min_seeds,
            },
            seeds_plan: &[],
        };
        let (rows, _) = table(records.iter(), "blimp", &|_| None, &o);
        rows.into_iter().map(|r| r.verdict).collect()
    }

    #[test]
    fn verdicts_count_configurations_and_seeds() {
        assert_eq!(verdicts(&study(3, 2), 3, 2), ["judged"]);
        assert_eq!(
            verdicts(&study(3, 1), 3, 2),
            ["too few seeds (a configuration has 1, fewer than 2) to judge"]
        );
        assert_eq!(
            verdicts(&study(3, 1), 3, 1),
            ["judged; one seed per configuration, so seed noise is unknown"]
        );
        assert_eq!(
            verdicts(&study(3, 2), 4, 2),
            ["too few configurations (n = 3, fewer than 4) to judge"]
        );
    }
}
