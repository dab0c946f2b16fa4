//! Predicting final accuracies from early anchors: per full run, a saturating learning curve
//! acc(t) = a − b·t^(−c) (t in millions of tokens; 0 ≤ a ≤ 1, b ≥ 0, 0.01 ≤ c ≤ 3) fitted by least
//! squares to the anchors up to t_k, then read at the final's token count. Per anchor and group:
//! the mean absolute error of the predicted finals and how well they rank the runs, beside the
//! raw ranking's ρ. A fit that cannot be made is "no fit" with its reason, never a number.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::predictiveness::grouped;
use super::record::{Milestone, Record, RunKey};
use super::stats::{decision_accuracy, spearman};

/// Bounds of the exponent c.
const C_MIN: f64 = 0.01;
const C_MAX: f64 = 3.0;
/// The fewest anchors a fit takes (three parameters).
pub const MIN_POINTS: usize = 3;

/// A fitted curve acc(t) = a − b·t^(−c).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Curve {
    pub a: f64,
    pub b: f64,
    pub c: f64,
}

impl Curve {
    /// The curve's accuracy at `t` million tokens.
    pub fn at(&self, t: f64) -> f64 {
        self.a - self.b * t.powf(-self.c)
    }
}

/// The best (a, b) for a fixed c under the bounds, and its squared error.
fn best_ab(points: &[(f64, f64)], c: f64) -> (f64, f64, f64) {
    let n = points.len() as f64;
    let xs: Vec<f64> = points.iter().map(|p| p.0.powf(-c)).collect();
    let (mx, my) = (
        xs.iter().sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, p) in xs.iter().zip(points) {
        sxy += (x - mx) * (p.1 - my);
        sxx += (x - mx) * (x - mx);
    }
    let (mut a, mut b) = match sxx > 0.0 {
        true => {
            let b = -sxy / sxx;
            (my + b * mx, b)
        }
        false => (my, 0.0),
    };
    if b < 0.0 {
        (a, b) = (my, 0.0);
    }
    if !(0.0..=1.0).contains(&a) {
        // On the bound: a fixed, b the least-squares slope of (a − y) on x, kept ≥ 0.
        a = a.clamp(0.0, 1.0);
        let (num, den) = xs
            .iter()
            .zip(points)
            .fold((0.0, 0.0), |(s, q), (x, p)| (s + (a - p.1) * x, q + x * x));
        b = (num / den).max(0.0);
    }
    let sse = xs
        .iter()
        .zip(points)
        .map(|(x, p)| (a - b * x - p.1).powi(2))
        .sum();
    (a, b, sse)
}

/// Fits the curve to `(t, acc)` points (t > 0).
pub fn fit(points: &[(f64, f64)]) -> Result<Curve, String> {
    let mut ts: Vec<f64> = points.iter().map(|p| p.0).collect();
    ts.sort_by(f64::total_cmp);
    ts.dedup();
    if ts.len() < MIN_POINTS {
        return Err(format!("needs {MIN_POINTS} anchors, has {}", ts.len()));
    }
    if points
        .iter()
        .any(|p| !(p.0 > 0.0 && p.0.is_finite() && p.1.is_finite()))
    {
        return Err("an anchor's tokens or accuracy is not a positive finite number".into());
    }
    // A log-spaced grid over c, then golden-section search between the best point's neighbours.
    let grid: Vec<f64> = (0..=120)
        .map(|i| C_MIN * (C_MAX / C_MIN).powf(i as f64 / 120.0))
        .collect();
    let sse = |c: f64| best_ab(points, c).2;
    let best = (0..grid.len())
        .min_by(|&i, &j| sse(grid[i]).total_cmp(&sse(grid[j])))
        .expect("a grid");
    let (mut lo, mut hi) = (
        grid[best.saturating_sub(1)],
        grid[(best + 1).min(grid.len() - 1)],
    );
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..60 {
        let (m1, m2) = (hi - phi * (hi - lo), lo + phi * (hi - lo));
        if sse(m1) <= sse(m2) {
            hi = m2;
        } else {
            lo = m1;
        }
    }
    let c = (lo + hi) / 2.0;
    let (a, b, _) = best_ab(points, c);
    let curve = Curve { a, b, c };
    match [a, b, c].iter().all(|v| v.is_finite()) {
        true => Ok(curve),
        false => Err("the least-squares fit did not converge".into()),
    }
}

/// One run's prediction from the anchors up to `milestone` (`fits.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFit {
    pub dataset: String,
    pub model_size: String,
    pub vocab_size: i64,
    pub seed: i64,
    /// The last anchor used (M tokens).
    pub milestone: f64,
    pub anchors_used: i64,
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub c: Option<f64>,
    /// Tokens of the final checkpoint (M), where known.
    pub final_millions: Option<f64>,
    pub predicted_final: Option<f64>,
    pub actual_final: f64,
    /// `fit`, or `no fit: <reason>`.
    pub status: String,
}

/// One row of `prediction.csv`: how well the fits of a group at an anchor predict the finals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionRow {
    pub group: String,
    pub milestone: f64,
    pub n_runs: i64,
    pub n_fits: i64,
    /// Mean |predicted − actual| over the runs with a fit.
    pub mae: Option<f64>,
    /// Spearman ρ of the predicted finals with the actual finals (runs with a fit).
    pub spearman_predicted: Option<f64>,
    /// Spearman ρ of the raw accuracies at the anchor with the finals (the same runs).
    pub spearman_raw: Option<f64>,
    /// The share of run pairs the predicted finals order as the actual finals do, and the share
    /// the raw accuracies at the anchor do (the same runs): whether extrapolating decides better.
    pub decision_accuracy_predicted: Option<f64>,
    pub decision_accuracy_raw: Option<f64>,
}

/// Per full run: its anchors `(t, acc)` in token order, and its final `(tokens, acc)`.
type Curves = BTreeMap<RunKey, (Vec<(f64, f64)>, Option<(Option<f64>, f64)>)>;

fn curves(overall: &[Record]) -> Curves {
    let mut out: Curves = BTreeMap::new();
    for r in overall.iter().filter(|r| r.run.is_full()) {
        let e = out.entry(r.run.clone()).or_default();
        match r.milestone {
            // The initialisation (t = 0) is no point of a power law in t.
            Milestone::Millions(t) if t > 0.0 => e.0.push((t, r.acc)),
            Milestone::Millions(_) => {}
            Milestone::Final => e.1 = Some((r.tokens.map(|t| t as f64 / 1e6), r.acc)),
        }
    }
    for e in out.values_mut() {
        e.0.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// Every run's fit at every anchor it has, and the per-group summary per anchor.
pub fn predict(overall: &[Record]) -> (Vec<RunFit>, Vec<PredictionRow>) {
    let curves = curves(overall);
    let mut fits = Vec::new();
    // Beside each fit: its run and the raw accuracy at its milestone.
    let mut of_fit: Vec<(&RunKey, f64)> = Vec::new();
    for (run, (points, fin)) in &curves {
        let Some((final_t, actual)) = *fin else {
            continue;
        };
        for k in 0..points.len() {
            let used = &points[..=k];
            let milestone = used[k].0;
            let result = match final_t {
                None => Err("the final's token count is unknown".to_owned()),
                Some(t) if t <= milestone => Err("the final is not beyond the anchor".to_owned()),
                Some(_) => fit(used),
            };
            let (curve, status) = match result {
                Ok(c) => (Some(c), "fit".to_owned()),
                Err(why) => (None, format!("no fit: {why}")),
            };
            fits.push(RunFit {
                dataset: run.dataset.clone(),
                model_size: run.model.clone(),
                vocab_size: i64::from(run.vocab_size),
                seed: run.seed as i64,
                milestone,
                anchors_used: used.len() as i64,
                a: curve.map(|c| c.a),
                b: curve.map(|c| c.b),
                c: curve.map(|c| c.c),
                final_millions: final_t,
                predicted_final: curve.zip(final_t).map(|(c, t)| c.at(t)),
                actual_final: actual,
                status,
            });
            of_fit.push((run, used[k].1));
        }
    }
    let runs: Vec<RunKey> = curves.keys().cloned().collect();
    let mut rows = Vec::new();
    for (group, members) in grouped(&runs).0 {
        let mut by_m: BTreeMap<u64, Vec<(&RunFit, f64)>> = BTreeMap::new();
        for (f, &(run, raw)) in fits.iter().zip(&of_fit) {
            if members.contains(run) {
                by_m.entry(f.milestone.to_bits())
                    .or_default()
                    .push((f, raw));
            }
        }
        for (m, fs) in by_m {
            let ok: Vec<&(&RunFit, f64)> = fs
                .iter()
                .filter(|f| f.0.predicted_final.is_some())
                .collect();
            let pred: Vec<f64> = ok
                .iter()
                .map(|f| f.0.predicted_final.expect("fit"))
                .collect();
            let actual: Vec<f64> = ok.iter().map(|f| f.0.actual_final).collect();
            let raw: Vec<f64> = ok.iter().map(|f| f.1).collect();
            let defined = |v: f64| v.is_finite().then_some(v);
            rows.push(PredictionRow {
                group: group.clone(),
                milestone: f64::from_bits(m),
                n_runs: fs.len() as i64,
                n_fits: ok.len() as i64,
                mae: (!ok.is_empty()).then(|| {
                    pred.iter()
                        .zip(&actual)
                        .map(|(p, a)| (p - a).abs())
                        .sum::<f64>()
                        / ok.len() as f64
                }),
                spearman_predicted: defined(spearman(&pred, &actual)),
                spearman_raw: defined(spearman(&raw, &actual)),
                decision_accuracy_predicted: defined(decision_accuracy(&pred, &actual)),
                decision_accuracy_raw: defined(decision_accuracy(&raw, &actual)),
            });
        }
    }
    (fits, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reproducible normal draw (Box–Muller on a fixed LCG).
    fn noise(state: &mut u64) -> f64 {
        let mut u = || {
            *state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((*state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let (u1, u2) = (u(), u());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    #[test]
    fn recovers_known_curves_from_noisy_anchors() {
        let anchors = [
            25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 1250.0, 1500.0,
        ];
        let mut state = 7;
        for truth in [
            Curve {
                a: 0.80,
                b: 0.50,
                c: 0.40,
            },
            Curve {
                a: 0.72,
                b: 0.90,
                c: 0.70,
            },
            Curve {
                a: 0.85,
                b: 0.30,
                c: 0.25,
            },
        ] {
            let exact: Vec<(f64, f64)> = anchors.iter().map(|&t| (t, truth.at(t))).collect();
            let c = fit(&exact).unwrap();
            assert!(
                (c.a - truth.a).abs() < 1e-4 && (c.c - truth.c).abs() < 1e-3,
                "{c:?}"
            );
            let noisy: Vec<(f64, f64)> = exact
                .iter()
                .map(|&(t, y)| (t, y + 0.002 * noise(&mut state)))
                .collect();
            let c = fit(&noisy).unwrap();
            let (want, got) = (truth.at(2000.0), c.at(2000.0));
            assert!(
                (want - got).abs() < 0.01,
                "{truth:?} → {c:?}: {want} vs {got}"
            );
            assert!((0.0..=1.0).contains(&c.a) && c.b >= 0.0 && (C_MIN..=C_MAX).contains(&c.c));
        }
    }

    #[test]
    fn fits_keep_their_bounds_and_refuse_too_few_anchors() {
        assert_eq!(
            fit(&[(25.0, 0.6), (50.0, 0.62)]).unwrap_err(),
            "needs 3 anchors, has 2"
        );
        // Falling accuracies: no saturating rise fits better than a flat line (b = 0).
        let c = fit(&[(25.0, 0.7), (50.0, 0.65), (100.0, 0.6)]).unwrap();
        assert!(c.b == 0.0 && (c.a - 0.65).abs() < 1e-12, "{c:?}");
        // Accuracies that would saturate above 1 are held at a = 1.
        let c = fit(&[(1.0, 0.5), (2.0, 0.9), (3.0, 0.99)]).unwrap();
        assert!(c.a <= 1.0, "{c:?}");
        assert!(fit(&[(0.0, 0.5), (1.0, 0.6), (2.0, 0.7)]).is_err());
    }

    /// Four runs whose curves cross: at 25M the raw order is the final one reversed, while the
    /// fitted curves, read at the final's tokens, order them right.
    #[test]
    fn extrapolated_finals_are_judged_by_their_decisions() {
        let curves = [(0.70, 1.0), (0.72, 1.3), (0.74, 1.6), (0.76, 1.9)];
        let mut overall = Vec::new();
        for (seed, &(a, b)) in curves.iter().enumerate() {
            let truth = Curve { a, b, c: 0.5 };
            let run = RunKey {
                dataset: "ts".into(),
                model: "20m".into(),
                vocab_size: 16000,
                seed: seed as u64,
                anchor: crate::config::Anchor::Full,
                schedule: crate::config::ScheduleKind::Cosine,
            };
            let rec = |milestone, acc, tokens| Record {
                run: run.clone(),
                milestone,
                task: None,
                field: None,
                phenomenon: None,
                acc,
                n: None,
                tokens,
                paradigms: None,
                source: "x".into(),
            };
            for t in [25.0, 50.0, 100.0] {
                overall.push(rec(Milestone::Millions(t), truth.at(t), None));
            }
            overall.push(rec(Milestone::Final, truth.at(2000.0), Some(2_000_000_000)));
        }
        let (_, rows) = predict(&overall);
        let at = rows
            .iter()
            .find(|r| r.group == "global" && r.milestone == 100.0)
            .expect("the 100M row");
        assert_eq!(at.n_fits, 4, "{at:?}");
        assert_eq!(at.decision_accuracy_predicted, Some(1.0), "{at:?}");
        assert_eq!(at.decision_accuracy_raw, Some(0.0), "{at:?}");
    }
}
