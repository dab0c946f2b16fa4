//! Predictiveness per anchor: pair each run's accuracy at a milestone with its own final accuracy
//! (runs matched on dataset, model size, vocab size and seed) and measure how well the early
//! ranking predicts the final one — globally and per group.

use std::collections::BTreeMap;

use super::decisions::{self, DecisionRow};
use super::inputs::{Milestone, Record, RunKey};
use super::record::size_order;
use super::rows::EarliestRow;
use super::significance;
use super::stats;

/// One row of `predictiveness.csv`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Row {
    /// `global`, or e.g. `dataset=tinystories,model_size=60m`.
    pub group: String,
    pub milestone: f64,
    pub n: usize,
    pub spearman: f64,
    pub spearman_lo: f64,
    pub spearman_hi: f64,
    /// Two-sided p-value of ρ under independence (missing where ρ is undefined).
    pub p_value: Option<f64>,
    /// `exact` (all pairings, n ≤ 8) or `t approximation`.
    pub p_method: String,
    pub r2: f64,
    pub kendall_tau_b: f64,
    pub decision_accuracy: f64,
}

/// A named group of runs.
pub type Group = (String, Vec<RunKey>);

/// The groups of runs, in this order: all (`global`), per schedule (when runs of both are
/// there), then per dataset, model size, vocab size, and dataset × model size. A group holding
/// exactly the runs of one listed before it is not listed again; the second list names each such
/// alias and the group it equals.
pub fn grouped(runs: &[RunKey]) -> (Vec<Group>, Vec<(String, String)>) {
    let mut keys: Vec<fn(&RunKey) -> String> = vec![|_| "global".into()];
    if runs.iter().any(|r| r.schedule != runs[0].schedule) {
        keys.push(|r| format!("schedule={}", r.schedule));
    }
    keys.extend::<[fn(&RunKey) -> String; 4]>([
        |r| format!("dataset={}", r.dataset),
        |r| format!("model_size={}", r.model),
        |r| format!("vocab_size={}", r.vocab_size),
        |r| format!("dataset={},model_size={}", r.dataset, r.model),
    ]);
    let (mut kept, mut aliases): (Vec<Group>, Vec<(String, String)>) = (Vec::new(), Vec::new());
    for key in keys {
        let mut level: BTreeMap<String, Vec<RunKey>> = BTreeMap::new();
        for r in runs {
            level.entry(key(r)).or_default().push(r.clone());
        }
        let mut level: Vec<(String, Vec<RunKey>)> = level.into_iter().collect();
        // Model sizes by size (20m, 60m, 180m), not by name.
        level.sort_by(|a, b| {
            let key = |name: &str| match name.split_once("model_size=") {
                Some((before, size)) => (before.to_owned(), size_order(size)),
                None => (name.to_owned(), size_order("")),
            };
            key(&a.0).partial_cmp(&key(&b.0)).expect("sizes order")
        });
        for (name, mut members) in level {
            members.sort();
            match kept.iter().find(|(_, m)| *m == members) {
                Some((same, _)) => aliases.push((name, same.clone())),
                None => kept.push((name, members)),
            }
        }
    }
    (kept, aliases)
}

/// Accuracies of one series (overall, or one phenomenon) by run and milestone.
pub type Series = BTreeMap<RunKey, Vec<(Milestone, f64)>>;

/// Builds the series of full-run records.
pub fn series<'a>(records: impl Iterator<Item = &'a Record>) -> Series {
    let mut s: Series = BTreeMap::new();
    for r in records.filter(|r| r.run.is_full()) {
        s.entry(r.run.clone())
            .or_default()
            .push((r.milestone, r.acc));
    }
    s
}

/// Every milestone present after training began, in token order (the initialisation, milestone
/// 0, ranks nothing the training did).
pub fn milestones(s: &Series) -> Vec<f64> {
    let mut m: Vec<f64> = s
        .values()
        .flatten()
        .filter_map(|(m, _)| match m {
            Milestone::Millions(v) if *v > 0.0 => Some(*v),
            _ => None,
        })
        .collect();
    m.sort_by(f64::total_cmp);
    m.dedup();
    m
}

/// (anchor, final) accuracy pairs of `runs` at milestone `m`.
pub fn pairs(s: &Series, runs: &[RunKey], m: f64) -> (Vec<f64>, Vec<f64>) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for r in runs {
        let Some(points) = s.get(r) else { continue };
        let at = points.iter().find(|(k, _)| *k == Milestone::Millions(m));
        let fin = points.iter().find(|(k, _)| *k == Milestone::Final);
        if let (Some(a), Some(f)) = (at, fin) {
            x.push(a.1);
            y.push(f.1);
        }
    }
    (x, y)
}

/// The predictiveness table of a series: one row per (group, milestone) with at least two runs.
pub fn table(s: &Series, draws: usize, seed: u64) -> Vec<Row> {
    use rayon::prelude::*;
    let runs: Vec<RunKey> = s.keys().cloned().collect();
    let ms = milestones(s);
    let cells: Vec<(String, Vec<RunKey>, f64)> = grouped(&runs)
        .0
        .into_iter()
        .flat_map(|(g, members)| ms.iter().map(move |&m| (g.clone(), members.clone(), m)))
        .collect();
    // Each (group, milestone) is independent, its bootstrap seeded the same way: parallel and
    // still deterministic.
    cells
        .into_par_iter()
        .filter_map(|(group, members, m)| {
            let (x, y) = pairs(s, &members, m);
            if x.len() < 2 {
                return None;
            }
            let (lo, hi) = stats::bootstrap_spearman(&x, &y, draws, seed);
            let p = significance::spearman_p(&x, &y);
            Some(Row {
                group,
                milestone: m,
                n: x.len(),
                spearman: stats::spearman(&x, &y),
                spearman_lo: lo,
                spearman_hi: hi,
                p_value: p.map(|p| p.0),
                p_method: p.map_or("", |p| p.1.name()).to_owned(),
                r2: stats::r_squared(&x, &y),
                kendall_tau_b: stats::kendall_tau_b(&x, &y),
                decision_accuracy: stats::decision_accuracy(&x, &y),
            })
        })
        .collect()
}

/// The earliest milestone of a group whose ρ — and, separately, whose bootstrap lower bound —
/// reaches `threshold`; no answer for a group of fewer than `min_runs` runs (its `verdict` says so).
#[derive(Debug, Clone, PartialEq)]
pub struct Earliest {
    pub group: String,
    /// The most runs any of its milestones pairs with their finals.
    pub n: usize,
    pub by_rho: Option<f64>,
    pub by_lower_bound: Option<f64>,
    /// Why there is no answer, when the data cannot carry one.
    pub too_few: Option<String>,
}

/// Earliest reliable anchors per group, in the order of `rows`' groups.
pub fn earliest(rows: &[Row], threshold: f64, min_runs: usize) -> Vec<Earliest> {
    let mut order: Vec<&str> = Vec::new();
    let mut by_group: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        if !by_group.contains_key(r.group.as_str()) {
            order.push(&r.group);
        }
        by_group.entry(&r.group).or_default().push(r);
    }
    order
        .into_iter()
        .map(|g| {
            let mut rs = by_group[g].clone();
            rs.sort_by(|a, b| a.milestone.total_cmp(&b.milestone));
            let n = rs.iter().map(|r| r.n).max().unwrap_or(0);
            let judged = n >= min_runs;
            let first = |ok: &dyn Fn(&Row) -> bool| {
                judged
                    .then(|| rs.iter().find(|r| ok(r)).map(|r| r.milestone))
                    .flatten()
            };
            Earliest {
                group: g.to_owned(),
                n,
                by_rho: first(&|r| r.spearman >= threshold),
                by_lower_bound: first(&|r| r.spearman_lo >= threshold),
                too_few: (!judged)
                    .then(|| format!("too few runs (n = {n}, fewer than {min_runs}) to judge")),
            }
        })
        .collect()
}

/// `earliest`: each group's earliest reliable anchor, and the tokens it saves against the
/// finals (when their token counts are known).
pub(super) fn earliest_rows(
    earliest: &[Earliest],
    decided: &[DecisionRow],
    overall: &[Record],
    threshold: f64,
) -> Vec<EarliestRow> {
    let by_configs: BTreeMap<String, Option<f64>> =
        decisions::earliest(decided, "blimp", threshold)
            .into_iter()
            .collect();
    let final_tokens: Vec<f64> = overall
        .iter()
        .filter(|r| r.run.is_full() && r.milestone == Milestone::Final)
        .filter_map(|r| r.tokens.map(|t| t as f64 / 1e6))
        .collect();
    let mean_final = (!final_tokens.is_empty())
        .then(|| final_tokens.iter().sum::<f64>() / final_tokens.len() as f64);
    let saved = |m: Option<f64>| Some(1.0 - m? / mean_final?);
    earliest
        .iter()
        .map(|e| EarliestRow {
            group: e.group.clone(),
            n_runs: e.n as i64,
            verdict: e.too_few.clone().unwrap_or_else(|| "judged".into()),
            threshold,
            earliest_by_spearman: e.by_rho,
            earliest_by_lower_bound: e.by_lower_bound,
            mean_final_millions: mean_final,
            tokens_saved_by_spearman: saved(e.by_rho),
            tokens_saved_by_lower_bound: saved(e.by_lower_bound),
            earliest_by_configurations: by_configs.get(&e.group).copied().flatten(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Anchor, ScheduleKind};

    fn rec(ds: &str, seed: u64, m: Milestone, acc: f64) -> Record {
        Record {
            run: RunKey {
                dataset: ds.into(),
                model: "20m".into(),
                vocab_size: 16000,
                seed,
                anchor: Anchor::Full,
                schedule: ScheduleKind::Cosine,
            },
            milestone: m,
            task: None,
            field: None,
            phenomenon: None,
            acc,
            n: None,
            tokens: None,
            paradigms: None,
            source: "x".into(),
        }
    }

    #[test]
    fn schedules_are_groups_when_both_are_there() {
        let run = |seed, schedule: &str| RunKey {
            dataset: "a".into(),
            model: "20m".into(),
            vocab_size: 16000,
            seed,
            anchor: Anchor::Full,
            schedule: schedule.parse().unwrap(),
        };
        let names = |runs: &[RunKey]| grouped(runs).0.into_iter().map(|g| g.0).collect::<Vec<_>>();
        assert_eq!(names(&[run(0, "cosine"), run(1, "cosine")]), ["global"]);
        assert_eq!(
            names(&[run(0, "cosine"), run(0, "wsd")]),
            ["global", "schedule=cosine", "schedule=wsd"]
        );
    }

    #[test]
    fn groups_equal_to_an_earlier_one_are_listed_once() {
        let run = |ds: &str, size: &str, seed| RunKey {
            dataset: ds.into(),
            model: size.into(),
            vocab_size: 16000,
            seed,
            anchor: Anchor::Full,
            schedule: ScheduleKind::Cosine,
        };
        let runs = [run("a", "20m", 0), run("b", "20m", 0), run("a", "20m", 1)];
        let sized = [run("a", "180m", 0), run("a", "20m", 0), run("a", "60m", 0)];
        let names: Vec<String> = grouped(&sized).0.into_iter().map(|g| g.0).collect();
        assert_eq!(
            names,
            [
                "global",
                "model_size=20m",
                "model_size=60m",
                "model_size=180m"
            ]
        );
        let (kept, aliases) = grouped(&runs);
        let names: Vec<&str> = kept.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(names, ["global", "dataset=a", "dataset=b"]);
        assert_eq!(
            aliases,
            [
                ("model_size=20m".to_owned(), "global".to_owned()),
                ("vocab_size=16000".to_owned(), "global".to_owned()),
                (
                    "dataset=a,model_size=20m".to_owned(),
                    "dataset=a".to_owned()
                ),
                (
                    "dataset=b,model_size=20m".to_owned(),
                    "dataset=b".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn runs_are_paired_with_their_own_final() {
        let mut rs = Vec::new();
        // Four runs; at 25M the order is scrambled, at 50M it is the final order.
        for (seed, a25, a50, fin) in [
            (0, 0.60, 0.61, 0.70),
            (1, 0.64, 0.62, 0.72),
            (2, 0.62, 0.66, 0.74),
            (3, 0.61, 0.68, 0.76),
        ] {
            rs.push(rec("ts", seed, Milestone::Millions(25.0), a25));
            rs.push(rec("ts", seed, Milestone::Millions(50.0), a50));
            rs.push(rec("ts", seed, Milestone::Final, fin));
        }
        let s = series(rs.iter());
        let t = table(&s, 500, 1);
        let global: Vec<&Row> = t.iter().filter(|r| r.group == "global").collect();
        assert_eq!(global.len(), 2);
        assert_eq!(global[0].n, 4);
        assert!((global[0].spearman - 0.2).abs() < 1e-12, "{:?}", global[0]);
        assert!((global[1].spearman - 1.0).abs() < 1e-12);
        assert_eq!(global[1].decision_accuracy, 1.0);
        let e = earliest(&t, 0.9, 4);
        let g = e.iter().find(|e| e.group == "global").unwrap();
        assert_eq!((g.by_rho, g.n, g.too_few.as_deref()), (Some(50.0), 4, None));
        // One dataset, one size, one vocabulary: every other group is `global` again.
        assert_eq!(t.iter().filter(|r| r.group != "global").count(), 0);
        assert_eq!(global[1].p_method, "exact");
        assert!((global[1].p_value.unwrap() - 2.0 / 24.0).abs() < 1e-12);
        let e = earliest(&t, 0.9, 5);
        assert_eq!(e[0].by_rho, None);
        assert_eq!(
            e[0].too_few.as_deref(),
            Some("too few runs (n = 4, fewer than 5) to judge")
        );
    }
}
