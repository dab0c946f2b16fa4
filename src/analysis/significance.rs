//! What the data can carry: the p-value of Spearman's ρ (exact for small n, the t approximation
//! above, as scipy computes each), the smallest number of runs at which a ranking can be judged at
//! all.

use serde::{Deserialize, Serialize};

use super::stats::{average_ranks, pearson};

/// Up to this many runs the p-value is exact (all n! pairings; 8! = 40,320).
pub const EXACT_MAX_N: usize = 8;

/// How a p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PMethod {
    /// Every pairing of the two rankings enumerated: scipy's
    /// `permutation_test(..., permutation_type="pairings")`, two-sided.
    Exact,
    /// t = ρ √((n − 2) / (1 − ρ²)) with n − 2 degrees of freedom, two-sided: scipy's `spearmanr`.
    TApproximation,
}

impl PMethod {
    pub fn name(self) -> &'static str {
        match self {
            PMethod::Exact => "exact",
            PMethod::TApproximation => "t approximation",
        }
    }
}

/// The two-sided p-value of Spearman's ρ of `x` and `y` under independence, and how it was
/// computed; `None` where ρ is undefined (n < 2, or a side constant).
pub fn spearman_p(x: &[f64], y: &[f64]) -> Option<(f64, PMethod)> {
    let (rx, ry) = (average_ranks(x), average_ranks(y));
    let rho = pearson(&rx, &ry);
    if !rho.is_finite() {
        return None;
    }
    let n = x.len();
    if n <= EXACT_MAX_N {
        return Some((exact_p(&rx, &ry, rho), PMethod::Exact));
    }
    let df = (n - 2) as f64;
    let t2 = rho * rho * df / ((1.0 + rho) * (1.0 - rho));
    let p = match t2.is_finite() {
        true => statrs::function::beta::beta_reg(df / 2.0, 0.5, df / (df + t2)),
        false => 0.0,
    };
    Some((p.clamp(0.0, 1.0), PMethod::TApproximation))
}

/// Two-sided exact permutation p-value of the correlation of ranks `rx`, `ry` (observed `rho`):
/// 2 · min(P(null ≤ ρ), P(null ≥ ρ)) over all n! pairings, capped at 1, with scipy's tolerance for
/// equal statistics.
fn exact_p(rx: &[f64], ry: &[f64], rho: f64) -> f64 {
    let n = rx.len();
    let mean = (n as f64 + 1.0) / 2.0;
    let cx: Vec<f64> = rx.iter().map(|r| r - mean).collect();
    let mut cy: Vec<f64> = ry.iter().map(|r| r - mean).collect();
    let norm =
        (cx.iter().map(|v| v * v).sum::<f64>() * cy.iter().map(|v| v * v).sum::<f64>()).sqrt();
    let gamma = (rho * f64::EPSILON * 100.0).abs();
    let (mut less, mut greater, mut total) = (0u64, 0u64, 0u64);
    let mut count = |cy: &[f64]| {
        let r = cx.iter().zip(cy).map(|(a, b)| a * b).sum::<f64>() / norm;
        less += (r <= rho + gamma) as u64;
        greater += (r >= rho - gamma) as u64;
        total += 1;
    };
    // Heap's algorithm: every permutation of `cy` once.
    let mut c = vec![0usize; n];
    count(&cy);
    let mut i = 1;
    while i < n {
        if c[i] < i {
            let j = if i % 2 == 0 { 0 } else { c[i] };
            cy.swap(j, i);
            count(&cy);
            c[i] += 1;
            i = 1;
        } else {
            c[i] = 0;
            i += 1;
        }
    }
    (2.0 * less.min(greater) as f64 / total as f64).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::aggregate::DEFAULT_MIN_RUNS;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1e-300)
    }

    #[test]
    fn p_values_equal_scipy() {
        // scipy 1.17: permutation_test((x,), lambda x: spearmanr(x, y).statistic,
        // permutation_type="pairings", n_resamples=inf).pvalue, and spearmanr(x, y).pvalue.
        let (p, m) = spearman_p(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert_eq!(m, PMethod::Exact);
        assert!(close(p, 0.016666666666666666), "{p}");
        let (p, _) = spearman_p(
            &[0.61, 0.64, 0.62, 0.61, 0.70, 0.66],
            &[0.70, 0.72, 0.74, 0.76, 0.75, 0.71],
        )
        .unwrap();
        assert!(close(p, 0.9333333333333333), "{p}");
        let (p, _) = spearman_p(
            &[3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.6],
            &[2.0, 7.0, 1.0, 8.0, 2.8, 1.8, 2.9],
        )
        .unwrap();
        assert!(close(p, 0.04801587301587302), "{p}");
        let x = [
            0.0,
            0.8497354476178138,
            0.9423552780653511,
            0.21550017334912341,
            -0.6245710903492505,
            -0.7523127044152045,
            0.018105162958098886,
            1.0619452764047395,
            1.5182838664580927,
            1.0815399728450625,
            0.2824251701023659,
            9.793449296524592e-06,
        ];
        let y = [
            1.0,
            0.3674988286245874,
            -0.6568887533689474,
            -0.42593230420013983,
            0.8685166713003771,
            1.4765876257280235,
            0.653955420562649,
            -0.24772160213111183,
            0.23901574257277125,
            1.5475963386538774,
            1.9074467814501963,
            0.9378855635002818,
        ];
        let (p, m) = spearman_p(&x, &y).unwrap();
        assert_eq!(m, PMethod::TApproximation);
        assert!((p - 0.26523878689278996).abs() < 1e-10, "{p}");
        assert!(spearman_p(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_none());
    }

    #[test]
    fn fewer_runs_than_the_minimum_cannot_reach_five_percent() {
        let perfect = |n: usize| {
            let v: Vec<f64> = (0..n).map(|i| i as f64).collect();
            spearman_p(&v, &v).unwrap().0
        };
        assert!(perfect(DEFAULT_MIN_RUNS - 1) > 0.05);
        assert!(perfect(DEFAULT_MIN_RUNS) < 0.05);
        assert!(close(perfect(2), 1.0));
    }
}
