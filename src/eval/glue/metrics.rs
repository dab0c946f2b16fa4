//! The pipeline's metrics of a set of predictions: accuracy, F1 (of label 1 for binary tasks,
//! the macro average otherwise) and the Matthews correlation (scikit-learn's multiclass form).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub accuracy: f64,
    pub f1: f64,
    pub mcc: f64,
}

/// The metrics of `pred` against `gold` over `k` labels.
pub fn metrics(gold: &[i64], pred: &[i64], k: usize) -> Metrics {
    let mut confusion = vec![vec![0f64; k]; k];
    for (&g, &p) in gold.iter().zip(pred) {
        confusion[g as usize][p as usize] += 1.0;
    }
    let n = gold.len() as f64;
    let correct: f64 = (0..k).map(|i| confusion[i][i]).sum();
    let f1_of = |c: usize| {
        let tp = confusion[c][c];
        let predicted: f64 = (0..k).map(|g| confusion[g][c]).sum();
        let actual: f64 = confusion[c].iter().sum();
        if predicted + actual == 0.0 {
            0.0
        } else {
            2.0 * tp / (predicted + actual)
        }
    };
    let f1 = if k == 2 {
        f1_of(1)
    } else {
        (0..k).map(f1_of).sum::<f64>() / k as f64
    };
    let t: Vec<f64> = (0..k).map(|i| confusion[i].iter().sum()).collect();
    let p: Vec<f64> = (0..k)
        .map(|j| (0..k).map(|i| confusion[i][j]).sum())
        .collect();
    let cov_yp = correct * n - t.iter().zip(&p).map(|(a, b)| a * b).sum::<f64>();
    let cov_pp = n * n - p.iter().map(|x| x * x).sum::<f64>();
    let cov_yy = n * n - t.iter().map(|x| x * x).sum::<f64>();
    let mcc = if cov_pp * cov_yy == 0.0 {
        0.0
    } else {
        cov_yp / (cov_pp * cov_yy).sqrt()
    };
    Metrics {
        accuracy: if n > 0.0 { correct / n } else { 0.0 },
        f1,
        mcc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_scikit_learn_computes_them() {
        // sklearn: accuracy 0.6, f1_score 0.6666…, matthews_corrcoef 0.1666…
        let m = metrics(&[1, 1, 0, 0, 1], &[1, 0, 0, 1, 1], 2);
        assert!((m.accuracy - 0.6).abs() < 1e-12);
        assert!((m.f1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.mcc - 1.0 / 6.0).abs() < 1e-12);
        // Multiclass: sklearn's matthews_corrcoef([0,1,2,2,1],[0,2,2,1,1]) = 0.375.
        let m = metrics(&[0, 1, 2, 2, 1], &[0, 2, 2, 1, 1], 3);
        assert!((m.mcc - 0.375).abs() < 1e-12, "{}", m.mcc);
        // A constant prediction has no correlation.
        assert_eq!(metrics(&[0, 1, 1], &[1, 1, 1], 2).mcc, 0.0);
    }
}
