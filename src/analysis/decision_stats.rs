//! Statistics of decisions between configurations, with seeds as replicates (DataDecide's decision
//! accuracy, MultiBERTs' hierarchical bootstrap; see the docs book's "Decisions" chapter). Pure
//! functions over one group's configurations at one anchor; `tests/python/decisions_check.py`
//! recomputes each with numpy and scipy.

use crate::rng::SplitMix;

use super::stats;

/// One configuration at one anchor: its seeds' (anchor, final) values, seeds in ascending order.
pub type Paired = Vec<(f64, f64)>;

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    s / n as f64
}

/// Seed means at the anchor and at the final, per configuration.
pub fn means(configs: &[Paired]) -> (Vec<f64>, Vec<f64>) {
    configs
        .iter()
        .map(|c| (mean(c.iter().map(|p| p.0)), mean(c.iter().map(|p| p.1))))
        .unzip()
}

/// Whether a pair of configurations is ordered alike at the anchor and at the final: the signs
/// of the two differences are equal (a tie is sign 0, as `np.sign` gives it).
fn agree(at: (f64, f64), fin: (f64, f64)) -> bool {
    let sign = |d: f64| (d > 0.0) as i8 - (d < 0.0) as i8;
    sign(at.0 - at.1) == sign(fin.0 - fin.1)
}

/// The rank at the anchor (1 = highest mean) of the configuration with the highest final mean
/// (the first such on ties); a configuration tied with it counts as ranked with it.
pub fn winner_rank(at: &[f64], fin: &[f64]) -> Option<usize> {
    let winner = (0..fin.len()).reduce(|best, i| if fin[i] > fin[best] { i } else { best })?;
    Some(1 + at.iter().filter(|&&a| a > at[winner]).count())
}

/// The share of configuration pairs whose final means differ by more than two standard errors of
/// the difference, 2·σ·√(1/n_a + 1/n_b), σ² the within-configuration seed variance pooled over
/// all configurations (Σ squared deviations / Σ (n − 1)). `None` without two configurations or
/// without a second seed anywhere.
pub fn pairs_resolved(configs: &[Paired]) -> Option<f64> {
    let finals: Vec<Vec<f64>> = configs
        .iter()
        .map(|c| c.iter().map(|p| p.1).collect())
        .collect();
    let dof: usize = finals.iter().map(|f| f.len().saturating_sub(1)).sum();
    if finals.len() < 2 || dof == 0 {
        return None;
    }
    let m: Vec<f64> = finals.iter().map(|f| mean(f.iter().copied())).collect();
    let ss: f64 = finals
        .iter()
        .zip(&m)
        .map(|(f, m)| f.iter().map(|v| (v - m).powi(2)).sum::<f64>())
        .sum();
    let sigma = (ss / dof as f64).sqrt();
    let (mut resolved, mut pairs) = (0usize, 0usize);
    for a in 0..finals.len() {
        for b in a + 1..finals.len() {
            let se = sigma * (1.0 / finals[a].len() as f64 + 1.0 / finals[b].len() as f64).sqrt();
            resolved += usize::from((m[a] - m[b]).abs() > 2.0 * se);
            pairs += 1;
        }
    }
    Some(resolved as f64 / pairs as f64)
}

/// What a perfect predictor could reach against finals averaged over seeds: among configurations
/// with at least two final seeds (`finals`, each in seed order), for each j below the fewest
/// seeds any has, the decision accuracy of every configuration's j-th seed against the mean of
/// its other seeds; the mean over j. `None` with fewer than two such configurations.
pub fn noise_ceiling(finals: &[Vec<f64>]) -> Option<f64> {
    let many: Vec<&Vec<f64>> = finals.iter().filter(|f| f.len() >= 2).collect();
    let k = many.iter().map(|f| f.len()).min()?;
    if many.len() < 2 {
        return None;
    }
    let held_out = (0..k).map(|j| {
        let one: Vec<f64> = many.iter().map(|f| f[j]).collect();
        let rest: Vec<f64> = many
            .iter()
            .map(|f| (f.iter().sum::<f64>() - f[j]) / (f.len() - 1) as f64)
            .collect();
        stats::decision_accuracy(&one, &rest)
    });
    Some(mean(held_out))
}

/// 95% percentile interval of the decision accuracy under a hierarchical bootstrap, `draws` times
/// from `seed` (SplitMix64; one generator for the whole interval, drawn in this order): pick as
/// many configurations as there are, with replacement; then, for each pick in turn, as many of its
/// seeds as it has, with replacement; take the picks' seed means. The accuracy is over pairs of
/// picks of different configurations (two picks of one configuration are no decision); a draw
/// without such a pair is skipped. `None` when every draw is.
pub fn bootstrap_interval(configs: &[Paired], draws: usize, seed: u64) -> Option<(f64, f64)> {
    let n = configs.len();
    let mut rng = SplitMix(seed);
    let mut values = Vec::with_capacity(draws);
    let mut picks = vec![0usize; n];
    let mut at = vec![0.0; n];
    let mut fin = vec![0.0; n];
    for _ in 0..draws {
        for i in 0..n {
            picks[i] = rng.below(n);
            let c = &configs[picks[i]];
            let (mut sa, mut sf) = (0.0, 0.0);
            for _ in 0..c.len() {
                let (a, f) = c[rng.below(c.len())];
                sa += a;
                sf += f;
            }
            at[i] = sa / c.len() as f64;
            fin[i] = sf / c.len() as f64;
        }
        let (mut agreeing, mut pairs) = (0usize, 0usize);
        for i in 0..n {
            for j in i + 1..n {
                if picks[i] != picks[j] {
                    agreeing += usize::from(agree((at[i], at[j]), (fin[i], fin[j])));
                    pairs += 1;
                }
            }
        }
        if pairs > 0 {
            values.push(agreeing as f64 / pairs as f64);
        }
    }
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some((
        stats::percentile(&values, 2.5),
        stats::percentile(&values, 97.5),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_ceiling_and_resolved_pairs_follow_their_definitions() {
        // Three configurations 0.1 apart, seed spread ±0.01: every pair resolved, and one seed
        // already orders them as the others' mean does.
        let c = |m: f64| vec![(m, m - 0.01), (m, m), (m, m + 0.01)];
        let configs = [c(0.5), c(0.6), c(0.7)];
        assert_eq!(pairs_resolved(&configs), Some(1.0));
        let finals: Vec<Vec<f64>> = configs
            .iter()
            .map(|c| c.iter().map(|p| p.1).collect())
            .collect();
        assert_eq!(noise_ceiling(&finals), Some(1.0));
        // Means 0.001 apart under the same spread: nothing resolved.
        let close = [c(0.5), c(0.501)];
        assert_eq!(pairs_resolved(&close), Some(0.0));
        // One seed each: no seed variance, no ceiling.
        let single = [vec![(0.5, 0.5)], vec![(0.6, 0.6)]];
        assert_eq!(pairs_resolved(&single), None);
        assert_eq!(noise_ceiling(&[vec![0.5], vec![0.6]]), None);
    }

    #[test]
    fn the_final_winner_is_ranked_at_the_anchor() {
        assert_eq!(winner_rank(&[0.3, 0.2, 0.1], &[0.1, 0.2, 0.3]), Some(3));
        assert_eq!(winner_rank(&[0.3, 0.3, 0.1], &[0.1, 0.3, 0.2]), Some(1));
        assert_eq!(winner_rank(&[], &[]), None);
    }

    #[test]
    fn the_interval_brackets_a_clear_ranking_and_repeats_with_its_seed() {
        let c = |m: f64| vec![(m, m + 0.1), (m + 0.002, m + 0.101), (m - 0.001, m + 0.099)];
        let clear: Vec<Paired> = (0..6).map(|i| c(0.5 + 0.05 * i as f64)).collect();
        let (lo, hi) = bootstrap_interval(&clear, 200, 7).unwrap();
        assert_eq!((lo, hi), (1.0, 1.0), "an order far beyond the seed noise");
        let crossed: Vec<Paired> = (0..6)
            .map(|i| {
                let m = 0.5 + 0.01 * i as f64;
                vec![
                    (m, 0.9 - m),
                    (m + 0.02, 0.9 - m + 0.03),
                    (m - 0.02, 0.9 - m - 0.03),
                ]
            })
            .collect();
        let (lo, hi) = bootstrap_interval(&crossed, 200, 7).unwrap();
        assert!(lo < hi && hi < 1.0, "{lo} {hi}");
        assert_eq!(bootstrap_interval(&crossed, 200, 7), Some((lo, hi)));
        assert_eq!(
            bootstrap_interval(&clear[..1], 50, 7),
            None,
            "one configuration"
        );
    }
}
