//! The study's early stopping for full runs, and the best weights it keeps: track the best eval
//! loss; once past `early_stopping_after` tokens, count evaluations that do not improve on the
//! best by more than the threshold, and stop after `patience` of them. A full run's `final/` is
//! the best evaluation's weights; a budget run is never stopped early and ends with its last
//! weights, or with its best evaluation's when `train.budget_final = "best"` (the study's).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::config::{BudgetFinal, TrainSettings};

/// Early-stopping bookkeeping, saved with the resume state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EarlyStop {
    /// Best eval loss so far and its step.
    pub best_eval: Option<f64>,
    pub best_step: u64,
    /// Evaluations since the last improvement (counted once early stopping is active).
    pub bad_evals: u32,
}

/// Watches the evaluations of a run.
pub struct EarlyStopping {
    /// Full runs only; for budget runs [`EarlyStopping::observe`] never stops.
    enabled: bool,
    /// Whether `final/` holds the best evaluation's weights (full runs; budget runs by setting).
    keeps_best: bool,
    after_tokens: u64,
    patience: u32,
    threshold: f64,
    /// The weights of the best evaluation so far (full runs).
    best: Option<BTreeMap<String, Tensor>>,
}

impl EarlyStopping {
    /// The rule of the settings, `enabled` for full runs; `best` from a resume state.
    pub fn new(
        s: &TrainSettings,
        enabled: bool,
        best: Option<BTreeMap<String, Tensor>>,
    ) -> EarlyStopping {
        EarlyStopping {
            enabled,
            keeps_best: enabled || s.budget_final == BudgetFinal::Best,
            after_tokens: s.early_stopping_after.tokens().0,
            patience: s.early_stopping_patience,
            threshold: s.early_stopping_threshold,
            best,
        }
    }

    /// Stopping after `patience` evaluations without a strict improvement, from the first one,
    /// keeping the best weights (HF's `EarlyStoppingCallback` with `load_best_model_at_end`; for
    /// a metric that grows, observe its negative).
    pub fn patience(patience: u32) -> EarlyStopping {
        EarlyStopping {
            enabled: true,
            keeps_best: true,
            after_tokens: 0,
            patience,
            threshold: 0.0,
            best: None,
        }
    }

    /// Records the evaluation `eval` at `step` (`tokens` seen), copying `params` when it is the
    /// best so far. Returns whether to stop.
    pub fn observe(
        &mut self,
        es: &mut EarlyStop,
        eval: f64,
        step: u64,
        tokens: u64,
        params: &BTreeMap<String, Tensor>,
    ) -> bool {
        if !self.keeps_best {
            return false;
        }
        let stop = self.rule(es, eval, step, tokens) && self.enabled;
        if es.best_step == step {
            self.best = Some(
                params
                    .iter()
                    .map(|(k, v)| (k.clone(), v.detach().copy()))
                    .collect(),
            );
        }
        stop
    }

    fn rule(&self, es: &mut EarlyStop, eval: f64, step: u64, tokens: u64) -> bool {
        let improved_enough = es.best_eval.is_none_or(|b| eval < b - self.threshold);
        if es.best_eval.is_none_or(|b| eval < b) {
            es.best_eval = Some(eval);
            es.best_step = step;
        }
        if tokens < self.after_tokens {
            return false;
        }
        if improved_enough {
            es.bad_evals = 0;
        } else {
            es.bad_evals += 1;
        }
        es.bad_evals >= self.patience
    }

    /// The best weights so far (saved with the resume state).
    pub fn best(&self) -> Option<&BTreeMap<String, Tensor>> {
        self.best.as_ref()
    }

    /// What `final/` holds: the best evaluation's weights, step and eval loss for a full run
    /// (and a budget run under `budget_final = "best"`); the last weights, step and eval loss
    /// otherwise.
    pub fn final_choice<'a>(
        &'a self,
        es: &EarlyStop,
        params: &'a BTreeMap<String, Tensor>,
        step: u64,
        last_eval: Option<f64>,
    ) -> (&'a BTreeMap<String, Tensor>, u64, Option<f64>) {
        match (&self.best, self.keeps_best) {
            (Some(b), true) => (b, es.best_step, es.best_eval),
            (None, true) => (params, step, es.best_eval),
            (_, false) => (params, step, last_eval),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_stopping_waits_for_the_token_threshold_then_for_patience() {
        let s = TrainSettings {
            early_stopping_after: crate::config::Millions::new(1.0).unwrap(),
            early_stopping_patience: 2,
            ..Default::default()
        };
        let e = EarlyStopping::new(&s, true, None);
        let mut es = EarlyStop::default();
        // Before 1M tokens, no stopping however flat the loss.
        for step in 1..=5 {
            assert!(!e.rule(&mut es, 3.0, step, 1000));
        }
        assert_eq!((es.best_eval, es.best_step), (Some(3.0), 1));
        // Past it: an improvement below the threshold does not reset patience, but is the best.
        assert!(!e.rule(&mut es, 2.9995, 6, 2_000_000));
        assert_eq!(es.best_step, 6);
        assert!(e.rule(&mut es, 3.1, 7, 2_100_000));
        // A real improvement resets the count.
        let mut es = EarlyStop::default();
        assert!(!e.rule(&mut es, 3.0, 1, 2_000_000));
        assert!(!e.rule(&mut es, 3.5, 2, 2_000_000));
        assert!(!e.rule(&mut es, 2.0, 3, 2_000_000));
        assert_eq!(es.bad_evals, 0);
    }

    #[test]
    fn budget_runs_never_stop_and_keep_their_last_weights() {
        let s = TrainSettings {
            early_stopping_after: crate::config::Millions::new(1.0).unwrap(),
            early_stopping_patience: 1,
            ..Default::default()
        };
        let mut e = EarlyStopping::new(&s, false, None);
        let params = BTreeMap::from([("w".to_owned(), Tensor::from_slice(&[1.0f32]))]);
        let mut es = EarlyStop::default();
        for step in 1..=4 {
            assert!(!e.observe(&mut es, 3.0 + step as f64, step, 5_000_000, &params));
        }
        assert!(e.best().is_none());
        let (_, step, eval) = e.final_choice(&es, &params, 4, Some(7.0));
        assert_eq!((step, eval), (4, Some(7.0)));
        let mut full = EarlyStopping::new(&s, true, None);
        assert!(!full.observe(&mut es, 2.0, 1, 5_000_000, &params));
        assert!(full.observe(&mut es, 2.5, 2, 5_000_000, &params));
        assert_eq!(full.final_choice(&es, &params, 2, Some(2.5)).1, 1);
        assert!(full.best().is_some());
        // As the study saved them: a budget run's final is its best evaluation, and it runs on.
        let s = TrainSettings {
            budget_final: BudgetFinal::Best,
            ..s
        };
        let mut budget = EarlyStopping::new(&s, false, None);
        let mut es = EarlyStop::default();
        for (step, eval) in [(1, 3.0), (2, 2.0), (3, 2.5), (4, 2.6)] {
            assert!(!budget.observe(&mut es, eval, step, 5_000_000, &params));
        }
        assert_eq!(budget.final_choice(&es, &params, 4, Some(2.6)).1, 2);
        assert_eq!(budget.final_choice(&es, &params, 4, Some(2.6)).2, Some(2.0));
    }
}
