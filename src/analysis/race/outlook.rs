//! `lmeff plan --race`: before a study runs, the rungs its race would judge at and the training
//! compute it would spend, between the best case (every configuration of a group but the `keep`
//! cheapest stopped at the first rung) and the worst (none stopped: all of it). Full runs only;
//! compute is Σ 6·N·tokens as in the replay.

use std::collections::BTreeMap;

use super::rows::group_of;
use crate::config::{Configuration, Plan, RaceSettings, Run};

/// One comparison group's outlook.
#[derive(Debug, Clone, PartialEq)]
pub struct Outlook {
    pub group: String,
    pub configurations: usize,
    /// The fewest seeds of one configuration.
    pub seeds: usize,
    /// The rungs, in millions of tokens.
    pub rungs: Vec<f64>,
    /// The best case's share of the group's full compute; `None` where a run's tokens or its
    /// model's parameters are unknown.
    pub best: Option<f64>,
}

/// The outlook of each group of `plan`'s full runs; `tokens` gives a run's total training
/// tokens and `params` a configuration's parameters, when known.
pub fn outlook(
    plan: &Plan,
    s: &RaceSettings,
    tokens: &dyn Fn(&Run) -> Option<u64>,
    params: &dyn Fn(&Configuration) -> Option<u64>,
) -> Vec<Outlook> {
    let mut groups: BTreeMap<String, BTreeMap<Configuration, Vec<&Run>>> = BTreeMap::new();
    for r in plan.runs.iter().filter(|r| r.key.is_full()) {
        let c = r.key.configuration();
        let g = groups.entry(group_of(&c, &s.group_by)).or_default();
        g.entry(c).or_default().push(r);
    }
    let first = s.min_anchor;
    groups
        .into_iter()
        .map(|(group, configs)| {
            let mut rungs: Vec<f64> = configs
                .values()
                .flatten()
                .flat_map(|r| r.milestone_steps.iter().map(|m| m.millions.get()))
                .filter(|&m| m >= first)
                .collect();
            rungs.sort_by(f64::total_cmp);
            rungs.dedup();
            let best = rungs.first().and_then(|&r1| {
                let costs: Option<Vec<(f64, f64)>> = configs
                    .iter()
                    .map(|(c, runs)| {
                        let n = params(c)? as f64;
                        runs.iter().try_fold((0.0, 0.0), |(full, cut), r| {
                            let t = tokens(r)? as f64;
                            Some((full + n * t, cut + n * t.min(r1 * 1e6)))
                        })
                    })
                    .collect();
                let mut costs = costs?;
                costs.sort_by(|a, b| a.0.total_cmp(&b.0));
                let total: f64 = costs.iter().map(|c| c.0).sum();
                let kept: f64 = costs.iter().take(s.keep).map(|c| c.0).sum();
                let cut: f64 = costs.iter().skip(s.keep).map(|c| c.1).sum();
                Some((kept + cut) / total)
            });
            Outlook {
                group,
                configurations: configs.len(),
                seeds: configs.values().map(Vec::len).min().unwrap_or(0),
                rungs,
                best,
            }
        })
        .collect()
}

/// The outlook of a group in a line.
pub fn describe(o: &Outlook) -> String {
    let rungs: Vec<String> = o.rungs.iter().map(|r| format!("{r}M")).collect();
    let best = match o.best {
        Some(b) => format!(
            "compute between {:.0}% (all but the kept stopped at the first rung) and 100% (none stopped)",
            100.0 * b
        ),
        None => "compute unknown until the datasets are prepared (their token counts)".into(),
    };
    match rungs.is_empty() {
        true => format!(
            "{}: {} configuration(s); no milestone at or after race.min_anchor: nothing to race",
            o.group, o.configurations
        ),
        false => format!(
            "{}: {} configuration(s) × {} seed(s); rungs {}; {best}",
            o.group,
            o.configurations,
            o.seeds,
            rungs.join(" ")
        ),
    }
}
