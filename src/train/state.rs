//! What training changes step by step, owned by the trainer and saved by the checkpointer: the
//! resume state's counters, the parameters, the optimizer, the learning rate of the step just
//! taken, and early stopping with the best weights so far.

use super::early_stop::EarlyStopping;
use super::optim::AdamW;
use super::resume::ResumeState;
use crate::model::weights::Weights;

pub struct TrainState {
    /// Step, tokens, losses, early-stopping record: what `resume/state.json` holds.
    pub progress: ResumeState,
    pub params: Weights,
    pub opt: AdamW,
    /// The learning rate of the last step taken.
    pub lr: f64,
    pub early: EarlyStopping,
}

impl TrainState {
    /// Records the evaluation loss `eval` after the current step; returns whether to stop early.
    pub fn observe(&mut self, eval: f64) -> bool {
        let p = &mut self.progress;
        p.last_eval_loss = Some(eval);
        self.early
            .observe(&mut p.early_stop, eval, p.step, p.tokens, &self.params)
    }

    /// The best weights so far (full runs and `budget_final = "best"`).
    pub fn best(&self) -> Option<&Weights> {
        self.early.best()
    }
}
