//! Validation: the mean next-token loss over the first `eval_tokens` of the dev tokens, every
//! `eval_every` steps of the preset and at the last step, in consecutive windows shared out over
//! the ranks.

use anyhow::Result;
use tch::Tensor;

use crate::data::tokens::TokenFile;
use crate::device::Compute;
use crate::dist::World;
use crate::model::llama::next_token_loss;
use crate::model::Llama;

/// Decides when to validate, and does.
pub struct Validator {
    dev: TokenFile,
    /// Tokens per window (`seq_len + 1`).
    window: usize,
    /// Windows per forward pass.
    batch: usize,
    /// At most this many dev tokens (0 = all).
    max_tokens: u64,
    every: u64,
    compute: Compute,
}

impl Validator {
    pub fn new(
        dev: TokenFile,
        window: usize,
        batch: usize,
        max_tokens: u64,
        every: u64,
        compute: Compute,
    ) -> Validator {
        Validator {
            dev,
            window,
            batch,
            max_tokens,
            every,
            compute,
        }
    }

    /// Whether step `step` (the last when `last`) is validated.
    pub fn should_validate(&self, step: u64, last: bool) -> bool {
        step.is_multiple_of(self.every) || last
    }

    /// The mean loss over this rank's windows, reduced over the world.
    pub fn validate(&self, model: &Llama, world: &World) -> Result<f64> {
        let window = self.window;
        let starts: Vec<u64> = self
            .dev
            .sequential_starts(window)
            .take(if self.max_tokens == 0 {
                usize::MAX
            } else {
                (self.max_tokens as usize).div_ceil(window - 1).max(1)
            })
            .enumerate()
            .filter(|(i, _)| i % world.size() == world.rank())
            .map(|(_, s)| s)
            .collect();
        let (mut sum, mut count) = (0f64, 0u64);
        tch::no_grad(|| -> Result<()> {
            for chunk in starts.chunks(self.batch) {
                let mut ids = Vec::with_capacity(chunk.len() * window);
                for &s in chunk {
                    self.dev.window_into(s, window, &mut ids);
                }
                let ids = Tensor::from_slice(&ids)
                    .view([chunk.len() as i64, window as i64])
                    .to_device(self.compute.device);
                let input = ids.narrow(1, 0, window as i64 - 1);
                let target = ids.narrow(1, 1, window as i64 - 1);
                let loss = self
                    .compute
                    .autocast(|| next_token_loss(&model.forward(&input), &target))?;
                let n = (chunk.len() * (window - 1)) as u64;
                sum += loss.double_value(&[]) * n as f64;
                count += n;
            }
            Ok(())
        })?;
        let mut totals = [sum, count as f64];
        world.sum_f64(&mut totals);
        Ok(totals[0] / totals[1].max(1.0))
    }
}
