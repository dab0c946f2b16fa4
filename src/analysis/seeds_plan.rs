//! How many seeds a question needs (`data/seeds_plan`, `lmeff aggregate --seeds-plan 1,2,3,5,10`):
//! from the results' variance components at each anchor — the configurations' true differences
//! and the seed variance within a configuration — the expected share of resolved pairs and the
//! expected decision accuracy if every configuration had k seeds.
//!
//! The model (random effects, normal seed noise): a configuration's k-seed mean at the anchor is
//! its true value plus noise of variance σ²_a/k, at the final σ²_f/k (σ² pooled within
//! configurations). A pair's true difference d is estimated from the observed means, its square
//! less the noise the means carry (d² ≈ max(0, Δ² − σ²(1/n_a + 1/n_b))). With s = σ·√(2/k):
//! resolved with probability Φ(|d|/s − 2) + Φ(−|d|/s − 2); ordered alike at the anchor and the
//! final with probability Φ(δ/s_a)Φ(d/s_f) + Φ(−δ/s_a)Φ(−d/s_f) (the two noises taken as
//! independent). Both are averaged over the pairs.

use serde::{Deserialize, Serialize};

use super::decision_stats::Paired;

/// One row of `seeds_plan.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedsPlanRow {
    pub group: String,
    pub measure: String,
    pub milestone: f64,
    pub seeds: i64,
    /// The seed standard deviation within a configuration, at the anchor and at the final.
    pub seed_sd_anchor: f64,
    pub seed_sd_final: f64,
    pub expected_pairs_resolved: f64,
    pub expected_decision_accuracy: f64,
}

/// Pooled within-configuration variance of one side (0: anchor, 1: final), None without a second
/// seed anywhere.
fn pooled_variance(configs: &[Paired], side: usize) -> Option<f64> {
    let (mut ss, mut dof) = (0.0, 0usize);
    for c in configs {
        let v: Vec<f64> = c
            .iter()
            .map(|p| if side == 0 { p.0 } else { p.1 })
            .collect();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        ss += v.iter().map(|x| (x - m).powi(2)).sum::<f64>();
        dof += v.len() - 1;
    }
    (dof > 0).then(|| ss / dof as f64)
}

/// A pair's true difference from its observed one, less the noise of the two means (sign kept).
fn true_difference(observed: f64, var: f64, na: usize, nb: usize) -> f64 {
    let d2 = (observed * observed - var * (1.0 / na as f64 + 1.0 / nb as f64)).max(0.0);
    d2.sqrt().copysign(observed)
}

/// Expected (pairs resolved, decision accuracy) with `k` seeds per configuration; None without
/// two configurations or a second seed.
pub fn expected(configs: &[Paired], k: usize) -> Option<(f64, f64)> {
    let (va, vf) = (pooled_variance(configs, 0)?, pooled_variance(configs, 1)?);
    if configs.len() < 2 || k == 0 {
        return None;
    }
    // Φ through erfc to the last bit (statrs' is good to about 1e-11).
    let phi = |x: f64| 0.5 * libm::erfc(-x / std::f64::consts::SQRT_2);
    let mean = |c: &Paired, side: usize| {
        c.iter()
            .map(|p| if side == 0 { p.0 } else { p.1 })
            .sum::<f64>()
            / c.len() as f64
    };
    let (sa, sf) = ((2.0 * va / k as f64).sqrt(), (2.0 * vf / k as f64).sqrt());
    let (mut resolved, mut agree, mut pairs) = (0.0, 0.0, 0usize);
    for a in 0..configs.len() {
        for b in a + 1..configs.len() {
            let (ca, cb) = (&configs[a], &configs[b]);
            let (na, nb) = (ca.len(), cb.len());
            let delta = true_difference(mean(ca, 0) - mean(cb, 0), va, na, nb);
            let d = true_difference(mean(ca, 1) - mean(cb, 1), vf, na, nb);
            let z = |x: f64, s: f64| {
                if s > 0.0 {
                    x / s
                } else {
                    x.signum() * f64::INFINITY
                }
            };
            resolved += phi(z(d.abs(), sf) - 2.0) + phi(-z(d.abs(), sf) - 2.0);
            let (pa, pf) = (phi(z(delta, sa)), phi(z(d, sf)));
            agree += pa * pf + (1.0 - pa) * (1.0 - pf);
            pairs += 1;
        }
    }
    Some((resolved / pairs as f64, agree / pairs as f64))
}

/// The plan's rows of one group's configurations at one anchor, one per seed count in `ks`.
pub fn rows(
    (group, measure, milestone): (&str, &str, f64),
    configs: &[Paired],
    ks: &[usize],
) -> Vec<SeedsPlanRow> {
    let sd = |side| pooled_variance(configs, side).map_or(f64::NAN, f64::sqrt);
    ks.iter()
        .filter_map(|&k| {
            let (resolved, accuracy) = expected(configs, k)?;
            Some(SeedsPlanRow {
                group: group.to_owned(),
                measure: measure.to_owned(),
                milestone,
                seeds: k as i64,
                seed_sd_anchor: sd(0),
                seed_sd_final: sd(1),
                expected_pairs_resolved: resolved,
                expected_decision_accuracy: accuracy,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats;
    use crate::rng::SplitMix;

    /// A standard normal draw (Box–Muller).
    fn normal(rng: &mut SplitMix) -> f64 {
        let u = |r: &mut SplitMix| (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let (u1, u2) = (u(rng).max(1e-300), u(rng));
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// The predictions against what subsampling k of 40 seeds gives, on a study with known
    /// variances: 8 configurations whose anchor order is partly reversed.
    #[test]
    fn predictions_match_subsampled_seeds() {
        let mut rng = SplitMix(3);
        let truth: Vec<(f64, f64)> = (0..8)
            .map(|i| (0.60 + 0.004 * ((i * 5) % 8) as f64, 0.70 + 0.006 * i as f64))
            .collect();
        let (sd_a, sd_f) = (0.006, 0.004);
        let configs: Vec<Paired> = truth
            .iter()
            .map(|&(a, f)| {
                (0..40)
                    .map(|_| (a + sd_a * normal(&mut rng), f + sd_f * normal(&mut rng)))
                    .collect()
            })
            .collect();
        for k in [1usize, 2, 3, 5] {
            let (resolved, accuracy) = expected(&configs, k).unwrap();
            let (mut got_res, mut got_acc, draws) = (0.0, 0.0, 400);
            for _ in 0..draws {
                let sub: Vec<Paired> = configs
                    .iter()
                    .map(|c| (0..k).map(|_| c[rng.below(c.len())]).collect())
                    .collect();
                let at: Vec<f64> = sub
                    .iter()
                    .map(|c| c.iter().map(|p| p.0).sum::<f64>() / k as f64)
                    .collect();
                let fin: Vec<f64> = sub
                    .iter()
                    .map(|c| c.iter().map(|p| p.1).sum::<f64>() / k as f64)
                    .collect();
                got_acc += stats::decision_accuracy(&at, &fin);
                // Resolved with the known seed variance, as the prediction assumes it known.
                let c = 2.0 * sd_f * (2.0 / k as f64).sqrt();
                let mut hits = 0;
                for a in 0..fin.len() {
                    for b in a + 1..fin.len() {
                        hits += usize::from((fin[a] - fin[b]).abs() > c);
                    }
                }
                got_res += hits as f64 / 28.0;
            }
            let (got_res, got_acc) = (got_res / draws as f64, got_acc / draws as f64);
            assert!(
                (accuracy - got_acc).abs() < 0.04,
                "k = {k}: {accuracy} vs {got_acc}"
            );
            assert!(
                (resolved - got_res).abs() < 0.05,
                "k = {k}: {resolved} vs {got_res}"
            );
        }
        let (r1, a1) = expected(&configs, 1).unwrap();
        let (r10, a10) = expected(&configs, 10).unwrap();
        assert!(
            r10 > r1 && a10 > a1,
            "more seeds resolve more and decide better"
        );
        assert_eq!(expected(&configs[..1], 3), None);
    }
}
