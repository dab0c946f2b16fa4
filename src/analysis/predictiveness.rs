//! Predictiveness per anchor: pair each run's accuracy at a milestone with its own final accuracy
//! (runs matched on dataset, model size, vocab size and seed) and measure how well the early
//! ranking predicts the final one — globally and per group.

use std::collections::BTreeMap;

use super::inputs::{Milestone, Record, RunKey};
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
    pub r2: f64,
    pub kendall_tau_b: f64,
    pub decision_accuracy: f64,
}

/// The groups of runs: all, and per dataset, model size, vocab size, dataset × model size.
pub fn groups(runs: &[RunKey]) -> BTreeMap<String, Vec<RunKey>> {
    let mut g: BTreeMap<String, Vec<RunKey>> = BTreeMap::new();
    for r in runs {
        g.entry("global".into()).or_default().push(r.clone());
        g.entry(format!("dataset={}", r.dataset))
            .or_default()
            .push(r.clone());
        g.entry(format!("model_size={}", r.model_size))
            .or_default()
            .push(r.clone());
        g.entry(format!("vocab_size={}", r.vocab_size))
            .or_default()
            .push(r.clone());
        g.entry(format!("dataset={},model_size={}", r.dataset, r.model_size))
            .or_default()
            .push(r.clone());
    }
    g
}

/// Accuracies of one series (overall, or one phenomenon) by run and milestone.
pub type Series = BTreeMap<RunKey, Vec<(Milestone, f64)>>;

/// Builds the series of full-run records.
pub fn series<'a>(records: impl Iterator<Item = &'a Record>) -> Series {
    let mut s: Series = BTreeMap::new();
    for r in records.filter(|r| r.anchor == "full") {
        s.entry(r.run.clone())
            .or_default()
            .push((r.milestone, r.acc));
    }
    s
}

/// Every numeric milestone present, in token order.
pub fn milestones(s: &Series) -> Vec<f64> {
    let mut m: Vec<f64> = s
        .values()
        .flatten()
        .filter_map(|(m, _)| match m {
            Milestone::Millions(v) => Some(*v),
            Milestone::Final => None,
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
    let cells: Vec<(String, Vec<RunKey>, f64)> = groups(&runs)
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
            Some(Row {
                group,
                milestone: m,
                n: x.len(),
                spearman: stats::spearman(&x, &y),
                spearman_lo: lo,
                spearman_hi: hi,
                r2: stats::r_squared(&x, &y),
                kendall_tau_b: stats::kendall_tau_b(&x, &y),
                decision_accuracy: stats::decision_accuracy(&x, &y),
            })
        })
        .collect()
}

/// The earliest milestone of a group whose ρ — and, separately, whose bootstrap lower bound —
/// reaches `threshold`.
#[derive(Debug, Clone, PartialEq)]
pub struct Earliest {
    pub group: String,
    pub by_rho: Option<f64>,
    pub by_lower_bound: Option<f64>,
}

/// Earliest reliable anchors per group.
pub fn earliest(rows: &[Row], threshold: f64) -> Vec<Earliest> {
    let mut by_group: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        by_group.entry(&r.group).or_default().push(r);
    }
    by_group
        .into_iter()
        .map(|(g, rs)| Earliest {
            group: g.to_owned(),
            by_rho: rs
                .iter()
                .find(|r| r.spearman >= threshold)
                .map(|r| r.milestone),
            by_lower_bound: rs
                .iter()
                .find(|r| r.spearman_lo >= threshold)
                .map(|r| r.milestone),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ds: &str, seed: i64, m: Milestone, acc: f64) -> Record {
        Record {
            run: RunKey {
                dataset: ds.into(),
                model_size: "20m".into(),
                vocab_size: 16000,
                seed,
            },
            anchor: "full".into(),
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
        let e = earliest(&t, 0.9);
        let g = e.iter().find(|e| e.group == "global").unwrap();
        assert_eq!(g.by_rho, Some(50.0));
        assert!(t.iter().any(|r| r.group == "dataset=ts,model_size=20m"));
    }
}
