//! How faithful a cheaper GLUE is: where the same checkpoints have a macro-average from the whole
//! training sets and one from training sets subsampled to at most N examples
//! (`eval glue --max-train-examples N`), how alike the two rank the checkpoints at each anchor
//! (Spearman ρ, and the share of checkpoint pairs both order alike) and how many fine-tuning
//! examples the cheap one saved.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::glue::MacroRow;
use super::record::{Milestone, RunKey};
use super::stats;

/// One row of `data/glue_fidelity`: a cap and an anchor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FidelityRow {
    /// The cheap results' `--max-train-examples`.
    pub max_train_examples: i64,
    /// Millions of tokens, or `final`.
    pub milestone: String,
    /// Checkpoints with both macro-averages (test split).
    pub n: usize,
    pub spearman: f64,
    pub decision_accuracy: f64,
    /// Fine-tuning examples of those checkpoints: whole sets, cheap, and the share saved.
    pub full_examples: Option<i64>,
    pub cheap_examples: Option<i64>,
    pub examples_saved: Option<f64>,
}

/// A checkpoint's cheap and full macro-average.
type Pair<'a> = (&'a MacroRow, &'a MacroRow);

/// A macro row's checkpoint, without its cap.
fn checkpoint(m: &MacroRow) -> (RunKey, &str) {
    (m.run(), &m.milestone)
}

/// Every cap's agreement with the whole training sets, per anchor (token order, `final` last).
/// Only macro-averages over the same number of tasks are paired.
pub fn fidelity(macros: &[MacroRow]) -> Vec<FidelityRow> {
    let full: BTreeMap<_, &MacroRow> = macros
        .iter()
        .filter(|m| m.max_train_examples.is_none())
        .map(|m| (checkpoint(m), m))
        .collect();
    // (cap, anchor order, anchor) → pairs (cheap, full).
    let mut pairs: BTreeMap<(i64, u64, &str), Vec<Pair>> = BTreeMap::new();
    for cheap in macros {
        let Some(cap) = cheap.max_train_examples else {
            continue;
        };
        let Some(whole) = full.get(&checkpoint(cheap)) else {
            continue;
        };
        let (Some(_), Some(_)) = (cheap.test, whole.test) else {
            continue;
        };
        if cheap.tasks != whole.tasks {
            continue;
        }
        let order = Milestone::parse(&cheap.milestone)
            .map_or(u64::MAX, |m| (m.order().min(1e15) * 1e3) as u64);
        pairs
            .entry((cap, order, &cheap.milestone))
            .or_default()
            .push((cheap, whole));
    }
    pairs
        .into_iter()
        .map(|((cap, _, milestone), ps)| {
            let x: Vec<f64> = ps.iter().filter_map(|(c, _)| c.test).collect();
            let y: Vec<f64> = ps.iter().filter_map(|(_, f)| f.test).collect();
            let sum = |f: fn(&Pair) -> Option<i64>| -> Option<i64> { ps.iter().map(f).sum() };
            let full_examples = sum(|(_, f)| f.train_examples);
            let cheap_examples = sum(|(c, _)| c.train_examples);
            let examples_saved = match (full_examples, cheap_examples) {
                (Some(f), Some(c)) if f > 0 => Some(1.0 - c as f64 / f as f64),
                _ => None,
            };
            FidelityRow {
                max_train_examples: cap,
                milestone: milestone.to_owned(),
                n: x.len(),
                spearman: match x.len() {
                    0 | 1 => f64::NAN,
                    _ => stats::spearman(&x, &y),
                },
                decision_accuracy: stats::decision_accuracy(&x, &y),
                full_examples,
                cheap_examples,
                examples_saved,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(seed: i64, milestone: &str, cap: Option<i64>, test: f64, examples: i64) -> MacroRow {
        MacroRow {
            dataset: "babylm".into(),
            model_size: "20m".into(),
            vocab_size: 8000,
            seed,
            anchor: crate::config::Anchor::Full,
            schedule: crate::config::ScheduleKind::Cosine,
            milestone: milestone.into(),
            tasks: 2,
            val: None,
            test: Some(test),
            max_train_examples: cap,
            train_examples: Some(examples),
        }
    }

    #[test]
    fn a_cheap_glue_is_judged_against_the_full_one_per_anchor() {
        let mut rows = Vec::new();
        for s in 0..4 {
            let v = s as f64 / 10.0;
            rows.push(m(s, "final", None, 0.5 + v, 1000));
            rows.push(m(s, "final", Some(100), 0.4 + v, 100));
            rows.push(m(s, "25", None, 0.5 + v, 1000));
            // At 25M the cheap ranking swaps seeds 0 and 1: 5 of 6 pairs agree.
            let swapped = [0.51, 0.5, 0.7, 0.8][s as usize];
            rows.push(m(s, "25", Some(100), swapped, 100));
        }
        // A checkpoint with only the cheap result is not paired.
        rows.push(m(9, "final", Some(100), 0.9, 100));
        let f = fidelity(&rows);
        assert_eq!(
            f.iter().map(|r| r.milestone.as_str()).collect::<Vec<_>>(),
            ["25", "final"]
        );
        assert_eq!(
            (f[1].n, f[1].spearman, f[1].decision_accuracy),
            (4, 1.0, 1.0)
        );
        assert!((f[0].decision_accuracy - 5.0 / 6.0).abs() < 1e-12);
        assert!((f[0].spearman - 0.8).abs() < 1e-12, "{}", f[0].spearman);
        assert_eq!(
            (f[1].full_examples, f[1].cheap_examples),
            (Some(4000), Some(400))
        );
        assert!((f[1].examples_saved.unwrap() - 0.9).abs() < 1e-12);
    }
}
