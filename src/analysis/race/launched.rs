//! The race of a launch (`lmeff launch --race`): each rung's decision on the seeds' BLiMP
//! accuracies of the configurations still running, by the same [`rule`](super::rule) as the
//! replay, kept in `race.json` (in the launch folder, and a copy in the results folder for
//! `lmeff aggregate`). A configuration once out stays out: later rungs compare the others.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::rows::group_of;
use super::rule;
use crate::analysis::stats::mean;
use crate::config::{Configuration, Millions, RaceSettings, RunKey, ScheduleKind};

/// The race's record, in the launch folder and in the results folder.
pub const RACE_FILE: &str = "race.json";

/// Every rung decided so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaceLog {
    /// What the race compares: `blimp` (each seed's overall BLiMP accuracy at the rung).
    pub measure: String,
    pub settings: RaceSettings,
    pub rungs: Vec<RungDecision>,
}

/// One rung's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RungDecision {
    pub rung: Millions,
    /// When it was taken (UTC).
    pub decided: String,
    pub groups: Vec<GroupDecision>,
}

/// One comparison group at one rung.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupDecision {
    pub group: String,
    /// The configuration with the highest seed mean.
    pub leader: Option<String>,
    /// Every configuration still running that had results: its seeds and their mean.
    pub compared: Vec<Compared>,
    /// Configurations still running without a single result at this rung (not tested; `keep`
    /// counts them as kept).
    pub missing: Vec<String>,
    pub eliminated: Vec<Elimination>,
}

/// A configuration's values at a rung.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compared {
    pub configuration: String,
    pub seeds: usize,
    pub mean: f64,
}

/// A configuration the race stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Elimination {
    pub configuration: String,
    pub dataset: String,
    pub model_size: String,
    pub vocab_size: u32,
    pub schedule: ScheduleKind,
    pub group: String,
    /// The rung it was stopped at (millions of tokens): its last anchor.
    pub rung: Millions,
    pub leader: String,
    /// Its seed mean minus the leader's (negative), the one-sided Welch p-value and Holm's.
    pub gap: f64,
    pub p_value: f64,
    pub p_holm: f64,
}

impl Elimination {
    /// Whether run `key` belongs to this configuration (any seed, any budget).
    pub fn covers(&self, key: &RunKey) -> bool {
        key.dataset == self.dataset
            && key.model == self.model_size
            && key.vocab_size == self.vocab_size
            && key.schedule == self.schedule
    }

    /// `eliminated at 25M (−1.2 pp vs leader, p = 0.003)`; p is Holm's, the one the rule reads.
    pub fn describe(&self) -> String {
        let pp = self.gap * 100.0;
        let sign = if pp < 0.0 { '\u{2212}' } else { '+' };
        format!(
            "eliminated at {}M ({sign}{:.1} pp vs leader, p = {})",
            self.rung,
            pp.abs(),
            p_text(self.p_holm)
        )
    }
}

fn p_text(p: f64) -> String {
    if p < 0.001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

impl RaceLog {
    /// A race with no rung decided yet.
    pub fn new(settings: &RaceSettings) -> RaceLog {
        RaceLog {
            measure: "blimp".into(),
            settings: settings.clone(),
            rungs: Vec::new(),
        }
    }

    /// `dir/race.json`, or `None` when there is none.
    pub fn load(dir: &Path) -> Result<Option<RaceLog>> {
        let path = dir.join(RACE_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let bytes = fs_err::read(&path)?;
        let log = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not an lmeff race record", path.display()))?;
        Ok(Some(log))
    }

    /// Writes `dir/race.json` atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        crate::io::write_json_atomic(&dir.join(RACE_FILE), self)
    }

    /// Every configuration stopped so far, in the order they were.
    pub fn eliminated(&self) -> impl Iterator<Item = &Elimination> {
        self.rungs
            .iter()
            .flat_map(|r| r.groups.iter().flat_map(|g| g.eliminated.iter()))
    }

    /// The elimination of run `key`'s configuration, if it was stopped.
    pub fn elimination_of(&self, key: &RunKey) -> Option<&Elimination> {
        self.eliminated().find(|e| e.covers(key))
    }

    /// The decision taken at `rung`, if any.
    pub fn at(&self, rung: Millions) -> Option<&RungDecision> {
        self.rungs.iter().find(|r| r.rung == rung)
    }
}

/// Decides `rung`: `running` are the full-run configurations not stopped before it, `values`
/// each seed's measure there (configurations outside `running` are ignored). Per comparison
/// group, [`rule::rung`] on the configurations with values; the fewest kept counts those
/// without values as kept (as the replay does).
pub fn decide(
    rung: Millions,
    running: &[Configuration],
    values: &[(Configuration, f64)],
    settings: &RaceSettings,
    decided: String,
) -> RungDecision {
    let mut groups: BTreeMap<String, Vec<&Configuration>> = BTreeMap::new();
    for c in running {
        groups
            .entry(group_of(c, &settings.group_by))
            .or_default()
            .push(c);
    }
    let groups = groups
        .into_iter()
        .map(|(group, members)| {
            let seeds: Vec<(&Configuration, Vec<f64>)> = members
                .iter()
                .map(|&c| {
                    let v = values.iter().filter(|(k, _)| k == c).map(|(_, v)| *v);
                    (c, v.collect::<Vec<f64>>())
                })
                .collect();
            let (with, without): (Vec<_>, Vec<_>) =
                seeds.into_iter().partition(|(_, v)| !v.is_empty());
            let keep = settings.keep.saturating_sub(without.len()).max(1);
            let table: Vec<Vec<f64>> = with.iter().map(|(_, v)| v.clone()).collect();
            let compared: Vec<Compared> = with
                .iter()
                .map(|(c, v)| Compared {
                    configuration: c.label(),
                    seeds: v.len(),
                    mean: mean(v),
                })
                .collect();
            let leader = compared
                .iter()
                .reduce(|b, c| if c.mean > b.mean { c } else { b })
                .map(|c| c.configuration.clone());
            let eliminated = rule::rung(&table, settings.alpha, keep)
                .into_iter()
                .map(|o| {
                    let c = with[o.index].0;
                    Elimination {
                        configuration: c.label(),
                        dataset: c.dataset.clone(),
                        model_size: c.model.clone(),
                        vocab_size: c.vocab_size,
                        schedule: c.schedule,
                        group: group.clone(),
                        rung,
                        leader: leader.clone().unwrap_or_default(),
                        gap: o.gap,
                        p_value: o.p_value,
                        p_holm: o.p_holm,
                    }
                })
                .collect();
            GroupDecision {
                group,
                leader,
                compared,
                missing: without.iter().map(|(c, _)| c.label()).collect(),
                eliminated,
            }
        })
        .collect();
    RungDecision {
        rung,
        decided,
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Anchor;

    fn config(dataset: &str, model: &str) -> Configuration {
        Configuration {
            dataset: dataset.into(),
            model: model.into(),
            vocab_size: 1000,
            anchor: Anchor::Full,
            schedule: ScheduleKind::Cosine,
        }
    }

    #[test]
    fn the_clearly_worse_configuration_of_a_group_is_stopped_and_recorded() {
        let (a, b, c) = (
            config("ts", "tiny"),
            config("bl", "tiny"),
            config("web", "tiny"),
        );
        let other = config("ts", "big");
        let mut values = Vec::new();
        for (cfg, vs) in [
            (&a, [0.60, 0.61, 0.62]),
            (&b, [0.605, 0.615, 0.60]),
            (&c, [0.50, 0.51, 0.50]),
            (&other, [0.40, 0.41, 0.40]),
        ] {
            values.extend(vs.iter().map(|&v| (cfg.clone(), v)));
        }
        let settings = RaceSettings::default();
        let rung = Millions::new(25.0).unwrap();
        let running = [a.clone(), b.clone(), c.clone(), other.clone()];
        let d = decide(rung, &running, &values, &settings, "t".into());
        // model_size groups: `big` alone is never compared; `web` is out of the tiny group.
        assert_eq!(d.groups.len(), 2);
        let tiny = d
            .groups
            .iter()
            .find(|g| g.group == "model_size=tiny")
            .unwrap();
        assert_eq!(tiny.leader.as_deref(), Some("ts tiny 1k"));
        assert_eq!(tiny.eliminated.len(), 1);
        let e = &tiny.eliminated[0];
        assert_eq!(e.configuration, "web tiny 1k");
        // scipy: ttest_ind([.5,.51,.5], [.6,.61,.62], equal_var=False, alternative="less"),
        // Holm over the two comparisons.
        assert!((e.gap - (0.503_333_333 - 0.61)).abs() < 1e-6, "{e:?}");
        assert!(e.p_holm <= 0.05 && e.p_holm >= e.p_value);
        let e_gap = e.gap;
        assert!(e
            .describe()
            .starts_with("eliminated at 25M (\u{2212}10.7 pp vs leader, p = "));
        let key = |d: &str, seed| RunKey {
            dataset: d.into(),
            model: "tiny".into(),
            vocab_size: 1000,
            seed,
            anchor: "25M".parse().unwrap(),
            schedule: ScheduleKind::Cosine,
        };
        let log = RaceLog {
            measure: "blimp".into(),
            settings,
            rungs: vec![d],
        };
        assert!(
            log.elimination_of(&key("web", 2)).is_some(),
            "budget runs too"
        );
        assert!(log.elimination_of(&key("ts", 0)).is_none());
        let dir = tempfile::tempdir().unwrap();
        log.save(dir.path()).unwrap();
        let back = RaceLog::load(dir.path()).unwrap().unwrap();
        let names = |l: &RaceLog| -> Vec<String> {
            l.eliminated().map(|e| e.configuration.clone()).collect()
        };
        assert_eq!(names(&back), names(&log));
        assert!((back.rungs[0].groups[1].eliminated[0].gap - e_gap).abs() < 1e-15);
    }

    #[test]
    fn a_configuration_without_results_counts_as_kept() {
        let (a, b, c) = (
            config("ts", "tiny"),
            config("bl", "tiny"),
            config("web", "tiny"),
        );
        let mut values = Vec::new();
        for (cfg, vs) in [(&a, [0.60, 0.61, 0.62]), (&c, [0.50, 0.51, 0.50])] {
            values.extend(vs.iter().map(|&v| (cfg.clone(), v)));
        }
        let mut settings = RaceSettings::default();
        let rung = Millions::new(25.0).unwrap();
        settings.keep = 3;
        let d = decide(
            rung,
            &[a.clone(), b.clone(), c.clone()],
            &values,
            &settings,
            "t".into(),
        );
        // keep 3 − 1 missing = 2 kept among the two with results: nobody goes.
        assert!(d.groups[0].eliminated.is_empty());
        assert_eq!(d.groups[0].missing, ["bl tiny 1k"]);
        settings.keep = 2;
        let d = decide(rung, &[a, b, c], &values, &settings, "t".into());
        assert_eq!(d.groups[0].eliminated.len(), 1, "2 − 1 missing = 1 kept");
    }
}
