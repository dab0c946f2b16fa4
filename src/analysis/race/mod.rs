//! Racing: stopping configurations that are out of contention while a study runs, guarded
//! against crossing learning curves ([`rule`]: comparisons inside a comparison group only, seeds
//! as the unit, Holm across a rung's comparisons, a minimum kept). [`replay`] simulates the rule on
//! finished results (`lmeff race --replay`): who would have been stopped where, whether the final
//! best survived, and the training compute it would have saved. [`launched`] keeps the decisions of
//! a race that runs on Slurm (`lmeff launch --race`).

pub mod launched;
pub mod outlook;
mod output;
pub mod rows;
pub mod rule;

pub use output::{describe, files, write};
pub use rows::{group_of, GroupOutcome, RaceCurve, RaceRow, Replay};

use std::collections::BTreeMap;

use super::decisions::{self, Curve, Params};
use super::record::Record;
use crate::config::{Configuration, RaceSettings};
use rows::mean;

/// Training compute of one group: (spent, everything to the end), each Σ N·tokens; `None` when
/// a parameter count or a final token count is unknown.
fn compute(
    members: &[(&Configuration, &Curve)],
    stopped: &[Option<u64>],
    params: &Params,
) -> Option<(f64, f64)> {
    let (mut spent, mut full) = (0.0, 0.0);
    for ((config, curve), stop) in members.iter().zip(stopped) {
        let n = params(config)? as f64;
        for t in curve.final_tokens.values() {
            let t = (*t)?;
            spent += n * stop.map_or(t, |s| s.min(t)) as f64;
            full += n * t as f64;
        }
    }
    Some((spent, full))
}

/// Simulates the race of `settings` on the full runs of `records` (one measure's overall
/// values) group by group.
pub fn replay<'a>(
    records: impl Iterator<Item = &'a Record>,
    measure: &str,
    settings: &RaceSettings,
    params: &Params,
) -> Replay {
    let curves = decisions::curves(records);
    let mut groups: BTreeMap<String, Vec<(&Configuration, &Curve)>> = BTreeMap::new();
    for (c, curve) in &curves {
        groups
            .entry(group_of(c, &settings.group_by))
            .or_default()
            .push((c, curve));
    }
    let (mut rows, mut outcomes, mut lines) = (Vec::new(), Vec::new(), Vec::new());
    let (mut spent, mut full) = (Some(0.0), Some(0.0));
    for (group, members) in &groups {
        let (group_rows, outcome, cost) = race_group(group, members, settings, params);
        lines.extend(
            group_rows
                .iter()
                .zip(members)
                .map(|(r, (_, curve))| RaceCurve::of(r, curve)),
        );
        rows.extend(group_rows);
        outcomes.push(outcome);
        (spent, full) = match (spent, full, cost) {
            (Some(s), Some(f), Some((a, b))) => (Some(s + a), Some(f + b)),
            _ => (None, None),
        };
    }
    Replay {
        measure: measure.to_owned(),
        settings: settings.clone(),
        groups: outcomes,
        compute_fraction: spent.zip(full).map(|(s, f)| s / f),
        rows,
        curves: lines,
    }
}

/// One group's race: its rows, its outcome and its compute (spent, full).
fn race_group(
    group: &str,
    members: &[(&Configuration, &Curve)],
    s: &RaceSettings,
    params: &Params,
) -> (Vec<RaceRow>, GroupOutcome, Option<(f64, f64)>) {
    let first = (s.min_anchor * 1e6).round() as u64;
    let mut rungs: Vec<u64> = members
        .iter()
        .flat_map(|(_, c)| c.at.keys().copied())
        .filter(|&t| t >= first)
        .collect();
    rungs.sort();
    rungs.dedup();
    let mut out: Vec<Option<(u64, rule::Out)>> = vec![None; members.len()];
    for &tokens in &rungs {
        let alive: Vec<usize> = (0..members.len()).filter(|&i| out[i].is_none()).collect();
        let entries: Vec<(usize, Vec<f64>)> = alive
            .iter()
            .filter_map(|&i| {
                let at = members[i].1.at.get(&tokens)?;
                Some((i, at.values().copied().collect()))
            })
            .collect();
        let missing = alive.len() - entries.len();
        let keep = s.keep.saturating_sub(missing).max(1);
        let seeds: Vec<Vec<f64>> = entries.iter().map(|e| e.1.clone()).collect();
        for o in rule::rung(&seeds, s.alpha, keep) {
            let member = entries[o.index].0;
            out[member] = Some((tokens, o));
        }
    }
    let finals: Vec<Option<f64>> = members
        .iter()
        .map(|(_, c)| mean(c.finals.values().copied()))
        .collect();
    let rank = |i: usize| -> Option<i64> {
        let f = finals[i]?;
        Some(1 + finals.iter().flatten().filter(|&&g| g > f).count() as i64)
    };
    let rows: Vec<RaceRow> = members
        .iter()
        .enumerate()
        .map(|(i, (c, _))| RaceRow {
            group: group.to_owned(),
            configuration: c.label(),
            dataset: c.dataset.clone(),
            model_size: c.model.clone(),
            vocab_size: i64::from(c.vocab_size),
            schedule: c.schedule,
            eliminated_at: out[i].as_ref().map(|(t, _)| *t as f64 / 1e6),
            gap: out[i].as_ref().map(|(_, o)| o.gap),
            p_value: out[i].as_ref().map(|(_, o)| o.p_value),
            p_holm: out[i].as_ref().map(|(_, o)| o.p_holm),
            final_rank: rank(i),
            final_mean: finals[i],
        })
        .collect();
    let survived = |best: i64| {
        rows.iter()
            .filter(|r| r.final_rank.is_some_and(|k| k <= best))
            .all(|r| r.eliminated_at.is_none())
    };
    let stopped: Vec<Option<u64>> = out.iter().map(|o| o.as_ref().map(|(t, _)| *t)).collect();
    let cost = compute(members, &stopped, params);
    let outcome = GroupOutcome {
        group: group.to_owned(),
        configurations: members.len(),
        eliminated: stopped.iter().flatten().count(),
        rungs: rungs.iter().map(|&t| t as f64 / 1e6).collect(),
        compute_fraction: cost.map(|(a, b)| a / b),
        best_survived: survived(1),
        top3_survived: survived(3),
    };
    (rows, outcome, cost)
}
