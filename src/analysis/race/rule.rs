//! One rung of the race in one comparison group: each configuration against the group's leader
//! (the highest seed mean) by a one-sided Welch t test over seeds, p-values Holm-adjusted over the
//! rung's comparisons, the rejected ones out — never so many that fewer than `keep` remain.
//! `tests/python/race_check.py` recomputes every p-value with scipy.

use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::analysis::stats::{mean, sample_variance};

/// A configuration out at this rung.
#[derive(Debug, Clone, PartialEq)]
pub struct Out {
    /// Its index among the rung's entries.
    pub index: usize,
    /// Its seed mean minus the leader's (negative).
    pub gap: f64,
    /// The one-sided Welch p-value, and the same Holm-adjusted.
    pub p_value: f64,
    pub p_holm: f64,
}

/// The one-sided p-value that `a`'s mean is below `b`'s (Welch's t, Welch–Satterthwaite degrees of
/// freedom; scipy's `ttest_ind(a, b, equal_var=False, alternative="less")`). `None` with fewer
/// than two values on a side or no spread on either.
pub fn welch_less(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (va, vb) = (
        sample_variance(a) / a.len() as f64,
        sample_variance(b) / b.len() as f64,
    );
    let se2 = va + vb;
    if se2 <= 0.0 || !se2.is_finite() {
        return None;
    }
    let t = (mean(a) - mean(b)) / se2.sqrt();
    let df = se2 * se2 / (va * va / (a.len() as f64 - 1.0) + vb * vb / (b.len() as f64 - 1.0));
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    Some(dist.cdf(t))
}

/// Holm's step-down adjustment of `p` (same order): the i-th smallest becomes
/// max over j ≤ i of min(1, (m − j + 1)·p₍ⱼ₎).
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
    let mut out = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

/// The configurations out at one rung: `seeds[i]` holds configuration i's values at the rung.
/// Comparisons whose test is undefined (one seed, no spread) are left out of Holm's family and
/// never eliminate; with more rejections than `seeds.len() − keep` allows, the largest gaps go
/// first, so that the configurations kept are the ones closest to the leader (a tight seed spread
/// gives a small p to a configuration only a little behind; it must not go before one far behind).
pub fn rung(seeds: &[Vec<f64>], alpha: f64, keep: usize) -> Vec<Out> {
    let means: Vec<f64> = seeds.iter().map(|v| mean(v)).collect();
    let Some(leader) = (0..seeds.len()).reduce(|b, i| if means[i] > means[b] { i } else { b })
    else {
        return Vec::new();
    };
    let tested: Vec<(usize, f64)> = (0..seeds.len())
        .filter(|&i| i != leader)
        .filter_map(|i| Some((i, welch_less(&seeds[i], &seeds[leader])?)))
        .collect();
    let raw: Vec<f64> = tested.iter().map(|t| t.1).collect();
    let adjusted = holm(&raw);
    let mut out: Vec<Out> = tested
        .iter()
        .zip(&adjusted)
        .filter(|(_, &h)| h <= alpha)
        .map(|(&(index, p_value), &p_holm)| Out {
            index,
            gap: means[index] - means[leader],
            p_value,
            p_holm,
        })
        .collect();
    out.sort_by(|a, b| {
        a.gap
            .total_cmp(&b.gap)
            .then(a.p_holm.total_cmp(&b.p_holm))
            .then(a.index.cmp(&b.index))
    });
    out.truncate(seeds.len().saturating_sub(keep));
    out.sort_by_key(|o| o.index);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welch_and_holm_equal_scipy() {
        // scipy.stats.ttest_ind([0.50, 0.52, 0.51], [0.60, 0.61, 0.65], equal_var=False,
        // alternative="less").pvalue
        let p = welch_less(&[0.50, 0.52, 0.51], &[0.60, 0.61, 0.65]).unwrap();
        assert!((p - 0.005410935642528772).abs() < 1e-12, "{p}");
        assert!(welch_less(&[0.5], &[0.6, 0.7]).is_none());
        assert!(welch_less(&[0.5, 0.5], &[0.6, 0.6]).is_none());
        // statsmodels' multipletests(p, method="holm")[1]
        let h = holm(&[0.01, 0.04, 0.03, 0.005]);
        for (got, want) in h.iter().zip([0.03, 0.06, 0.06, 0.02]) {
            assert!((got - want).abs() < 1e-15, "{h:?}");
        }
    }

    #[test]
    fn a_clearly_worse_configuration_goes_and_keep_holds() {
        let seeds = vec![
            vec![0.60, 0.61, 0.62],
            vec![0.50, 0.51, 0.50],
            vec![0.605, 0.615, 0.6],
        ];
        let out = rung(&seeds, 0.05, 2);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].index, 1);
        assert!(out[0].gap < -0.09);
        // Both losers would go, but two configurations stay.
        let seeds = vec![
            vec![0.7, 0.71, 0.72],
            vec![0.5, 0.51, 0.5],
            vec![0.4, 0.41, 0.4],
        ];
        assert_eq!(rung(&seeds, 0.05, 3).len(), 0);
        let out = rung(&seeds, 0.05, 2);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].index, 2, "the largest gap goes first: {out:?}");
        // A configuration just behind with tight seeds has the smaller p; the one far behind goes.
        let seeds = vec![
            vec![0.70, 0.71, 0.72],
            vec![0.69, 0.6901, 0.6902],
            vec![0.30, 0.45, 0.40],
        ];
        let out = rung(&seeds, 0.05, 2);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].index, 2, "{out:?}");
    }
}
