//! Rank statistics for predictiveness: Spearman ρ (average ranks for ties, as scipy's `spearmanr`),
//! Kendall τ-b (as scipy's `kendalltau`), R² of the least-squares line (as scipy's `linregress`),
//! pairwise decision accuracy, and a seeded percentile bootstrap over runs. Pure functions.

use crate::rng::SplitMix;

/// The arithmetic mean (NaN for no values).
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// The sample variance (n − 1; NaN below two values).
pub fn sample_variance(v: &[f64]) -> f64 {
    let m = mean(v);
    v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0)
}

/// Ranks 1..=n with ties given their average rank.
pub fn average_ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            ranks[k] = avg;
        }
        i = j + 1;
    }
    ranks
}

/// Pearson correlation; NaN when either side is constant or n < 2.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    if x.len() < 2 || x.len() != y.len() {
        return f64::NAN;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return f64::NAN;
    }
    (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0)
}

/// Spearman's ρ: Pearson correlation of average ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&average_ranks(x), &average_ranks(y))
}

/// R² of the least-squares line of `y` on `x` (the square of Pearson's r).
pub fn r_squared(x: &[f64], y: &[f64]) -> f64 {
    pearson(x, y).powi(2)
}

/// Kendall's τ-b: (concordant − discordant) / sqrt((n0 − n1)(n0 − n2)) with tie corrections.
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len();
    let (mut conc, mut disc, mut tie_x, mut tie_y) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let (dx, dy) = (x[i] - x[j], y[i] - y[j]);
            match (dx == 0.0, dy == 0.0) {
                (true, true) => {}
                (true, false) => tie_x += 1,
                (false, true) => tie_y += 1,
                (false, false) if (dx > 0.0) == (dy > 0.0) => conc += 1,
                _ => disc += 1,
            }
        }
    }
    let denom = (((conc + disc + tie_x) * (conc + disc + tie_y)) as f64).sqrt();
    if denom == 0.0 {
        f64::NAN
    } else {
        (conc - disc) as f64 / denom
    }
}

/// The share of run pairs ordered the same way by `x` (the anchor) and `y` (the final): pairs tied
/// in both count as agreeing, a tie on one side only as disagreeing. NaN below two runs.
pub fn decision_accuracy(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len();
    let (mut same, mut pairs) = (0u64, 0u64);
    for i in 0..n {
        for j in i + 1..n {
            pairs += 1;
            if (x[i] - x[j]).signum() * ((x[i] != x[j]) as i32 as f64)
                == (y[i] - y[j]).signum() * ((y[i] != y[j]) as i32 as f64)
            {
                same += 1;
            }
        }
    }
    if pairs == 0 {
        f64::NAN
    } else {
        same as f64 / pairs as f64
    }
}

/// Original indices in increasing order of `v`, cut into groups of equal values.
fn tie_groups(v: &[f64]) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for i in idx {
        match groups.last_mut() {
            Some(g) if v[g[0]] == v[i] => g.push(i),
            _ => groups.push(vec![i]),
        }
    }
    groups
}

/// Average ranks of a resample given as `counts` (times each original was drawn), per original.
fn weighted_ranks(groups: &[Vec<usize>], counts: &[u32], out: &mut [f64]) {
    let mut below = 0u32;
    for g in groups {
        let k: u32 = g.iter().map(|&i| counts[i]).sum();
        let avg = below as f64 + (k as f64 + 1.0) / 2.0;
        for &i in g {
            out[i] = avg;
        }
        below += k;
    }
}

/// Pearson correlation of points `(x[i], y[i])` each counted `w[i]` times.
fn weighted_pearson(x: &[f64], y: &[f64], w: &[u32]) -> f64 {
    let n: f64 = w.iter().map(|&c| c as f64).sum();
    let (mut mx, mut my) = (0.0, 0.0);
    for i in 0..x.len() {
        mx += w[i] as f64 * x[i];
        my += w[i] as f64 * y[i];
    }
    mx /= n;
    my /= n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for i in 0..x.len() {
        let (dx, dy, c) = (x[i] - mx, y[i] - my, w[i] as f64);
        sxy += c * dx * dy;
        sxx += c * dx * dx;
        syy += c * dy * dy;
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return f64::NAN;
    }
    (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0)
}

/// 95% percentile bootstrap interval of Spearman's ρ, resampling runs with replacement `draws`
/// times from `seed`; resamples with a constant side (ρ undefined) are skipped. NaN when none is
/// defined. A resample is kept as counts per run, so its ranks come from the presorted values in
/// linear time (the same ranks a sort of the resample would give).
pub fn bootstrap_spearman(x: &[f64], y: &[f64], draws: usize, seed: u64) -> (f64, f64) {
    let n = x.len();
    if n < 2 || draws == 0 {
        return (f64::NAN, f64::NAN);
    }
    let (gx, gy) = (tie_groups(x), tie_groups(y));
    let mut rng = SplitMix(seed);
    let mut counts = vec![0u32; n];
    let (mut rx, mut ry) = (vec![0.0; n], vec![0.0; n]);
    let mut rhos = Vec::with_capacity(draws);
    for _ in 0..draws {
        counts.iter_mut().for_each(|c| *c = 0);
        for _ in 0..n {
            counts[rng.below(n)] += 1;
        }
        weighted_ranks(&gx, &counts, &mut rx);
        weighted_ranks(&gy, &counts, &mut ry);
        let r = weighted_pearson(&rx, &ry, &counts);
        if r.is_finite() {
            rhos.push(r);
        }
    }
    if rhos.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    rhos.sort_by(f64::total_cmp);
    (percentile(&rhos, 2.5), percentile(&rhos, 97.5))
}

/// Linear-interpolated percentile of sorted values (numpy's default).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const X: [f64; 12] = [
        0.61, 0.64, 0.64, 0.70, 0.58, 0.66, 0.70, 0.62, 0.59, 0.67, 0.64, 0.71,
    ];
    const Y: [f64; 12] = [
        0.72, 0.75, 0.73, 0.80, 0.70, 0.79, 0.81, 0.74, 0.70, 0.78, 0.76, 0.83,
    ];

    #[test]
    fn equal_scipy_on_a_fixed_case_with_ties() {
        // scipy 1.x: spearmanr, kendalltau (tau-b), linregress(x, y).rvalue ** 2.
        assert!((spearman(&X, &Y) - 0.9682220588132814).abs() < 1e-12);
        assert!((kendall_tau_b(&X, &Y) - 0.8978883415800706).abs() < 1e-12);
        assert!((r_squared(&X, &Y) - 0.9408215791614046).abs() < 1e-12);
    }

    #[test]
    fn hand_worked_small_cases() {
        // Ranks of [1, 2, 2, 3] are [1, 2.5, 2.5, 4].
        assert_eq!(average_ranks(&[1.0, 2.0, 2.0, 3.0]), [1.0, 2.5, 2.5, 4.0]);
        let (a, b) = ([1.0, 2.0, 2.0, 3.0], [1.0, 3.0, 2.0, 2.0]);
        // scipy: spearmanr 0.5, kendalltau 0.4, linregress r² 0.25.
        assert!((spearman(&a, &b) - 0.5).abs() < 1e-12);
        assert!((kendall_tau_b(&a, &b) - 0.4).abs() < 1e-12);
        assert!((r_squared(&a, &b) - 0.25).abs() < 1e-12);
        // Identical orders, reversed orders, and one tie on one side only (1 of 3 pairs differs).
        assert!((decision_accuracy(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]) - 1.0).abs() < 1e-12);
        assert!((decision_accuracy(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0])).abs() < 1e-12);
        assert!((decision_accuracy(&[1.0, 1.0, 3.0], &[1.0, 2.0, 3.0]) - 2.0 / 3.0).abs() < 1e-12);
        assert!(spearman(&[1.0, 1.0], &[1.0, 2.0]).is_nan());
    }

    #[test]
    fn resample_ranks_equal_sorting_the_resample() {
        let mut rng = SplitMix(3);
        let (gx, gy) = (tie_groups(&X), tie_groups(&Y));
        for _ in 0..200 {
            let mut counts = vec![0u32; X.len()];
            let mut picks = Vec::new();
            for _ in 0..X.len() {
                let i = rng.below(X.len());
                counts[i] += 1;
                picks.push(i);
            }
            let (bx, by): (Vec<f64>, Vec<f64>) = picks.iter().map(|&i| (X[i], Y[i])).unzip();
            let (mut rx, mut ry) = (vec![0.0; X.len()], vec![0.0; X.len()]);
            weighted_ranks(&gx, &counts, &mut rx);
            weighted_ranks(&gy, &counts, &mut ry);
            let direct = spearman(&bx, &by);
            let fast = weighted_pearson(&rx, &ry, &counts);
            assert!(
                direct.is_nan() && fast.is_nan() || (direct - fast).abs() < 1e-12,
                "{direct} vs {fast}"
            );
        }
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_estimate() {
        let a = bootstrap_spearman(&X, &Y, 2000, 7);
        assert_eq!(a, bootstrap_spearman(&X, &Y, 2000, 7));
        assert_ne!(a, bootstrap_spearman(&X, &Y, 2000, 8));
        let rho = spearman(&X, &Y);
        assert!(a.0 <= rho && rho <= a.1 && a.1 <= 1.0 && a.0 > 0.5, "{a:?}");
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.5);
    }
}
