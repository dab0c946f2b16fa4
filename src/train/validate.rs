//! Validation: the mean next-token loss over a fixed set of dev windows — the first `eval_tokens`
//! of the dev tokens, or the study's seeded random tenth of a budget run's tokens — every
//! `eval_every` steps of the preset and at the last step, shared out over the ranks.

use anyhow::Result;
use tch::Tensor;

use crate::data::tokens::TokenFile;
use crate::device::{upload, Compute};
use crate::dist::World;
use crate::model::llama::next_token_loss;
use crate::model::Llama;
use crate::rng::SplitMix;

/// Which dev windows every evaluation of a run reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EvalWindows {
    /// Consecutive windows from the start, covering at most this many tokens (0: all).
    First(u64),
    /// `windows` windows (at least one) drawn at random, without replacement, by `seed`.
    Sample { windows: u64, seed: u64 },
}

impl EvalWindows {
    /// The start of each window of `len` tokens in `dev`, in file order.
    pub fn starts(self, dev: &TokenFile, len: usize) -> Vec<u64> {
        let all = dev.sequential_starts(len);
        let covering = |tokens: u64| (tokens as usize).div_ceil(len - 1).max(1);
        match self {
            EvalWindows::First(0) => all.collect(),
            EvalWindows::First(tokens) => all.take(covering(tokens)).collect(),
            EvalWindows::Sample { windows, seed } => {
                let mut all: Vec<u64> = all.collect();
                let n = (windows as usize).max(1).min(all.len());
                // A partial Fisher–Yates shuffle: the first n are a uniform draw.
                let mut rng = SplitMix(seed);
                for i in 0..n {
                    let j = i + rng.below(all.len() - i);
                    all.swap(i, j);
                }
                all.truncate(n);
                all.sort_unstable();
                all
            }
        }
    }
}

/// Decides when to validate, and does.
pub struct Validator {
    dev: TokenFile,
    /// Tokens per window (`seq_len + 1`).
    window: usize,
    /// Windows per forward pass.
    batch: usize,
    /// The windows every evaluation reads.
    starts: Vec<u64>,
    every: u64,
    compute: Compute,
}

impl Validator {
    pub fn new(
        dev: TokenFile,
        window: usize,
        batch: usize,
        windows: EvalWindows,
        every: u64,
        compute: Compute,
    ) -> Validator {
        Validator {
            starts: windows.starts(&dev, window),
            dev,
            window,
            batch,
            every,
            compute,
        }
    }

    /// How many dev tokens each evaluation scores.
    pub fn tokens(&self) -> u64 {
        self.starts.len() as u64 * (self.window as u64 - 1)
    }

    /// Whether step `step` (the last when `last`) is validated.
    pub fn should_validate(&self, step: u64, last: bool) -> bool {
        step.is_multiple_of(self.every) || last
    }

    /// The mean loss over this rank's windows, reduced over the world.
    pub fn validate(&self, model: &Llama, world: &World) -> Result<f64> {
        let window = self.window;
        let starts: Vec<u64> = self
            .starts
            .iter()
            .enumerate()
            .filter(|(i, _)| i % world.size() == world.rank())
            .map(|(_, &s)| s)
            .collect();
        let (mut sum, mut count) = (0f64, 0u64);
        tch::no_grad(|| -> Result<()> {
            for chunk in starts.chunks(self.batch) {
                let mut ids = Vec::with_capacity(chunk.len() * window);
                for &s in chunk {
                    self.dev.window_into(s, window, &mut ids);
                }
                let ids = upload(Tensor::from_slice(&ids), self.compute.device)
                    .view([chunk.len() as i64, window as i64]);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tokens::fake_token_file;

    #[test]
    fn the_studys_evaluation_set_is_a_seeded_draw_of_whole_windows() {
        let dir = tempfile::tempdir().unwrap();
        let toks: Vec<u16> = (0..1000).collect();
        let dev = TokenFile::open(&fake_token_file(dir.path(), &toks), None).unwrap();
        // Windows of 11 tokens, 10 targets each: 99 in the file.
        assert_eq!(EvalWindows::First(0).starts(&dev, 11).len(), 99);
        assert_eq!(EvalWindows::First(35).starts(&dev, 11), [0, 10, 20, 30]);
        // Three windows drawn by the seed.
        let draw = |seed| EvalWindows::Sample { windows: 3, seed }.starts(&dev, 11);
        let a = draw(42);
        assert_eq!(a.len(), 3);
        assert!(a.windows(2).all(|w| w[0] < w[1]), "sorted, distinct: {a:?}");
        assert!(a.iter().all(|s| s % 10 == 0 && *s <= 980));
        assert_eq!(a, draw(42));
        assert_ne!(a, draw(7));
        assert_ne!(a, [0, 10, 20], "not the first windows");
        // More than the file holds: all of it.
        let all = EvalWindows::Sample {
            windows: 1_000,
            seed: 1,
        }
        .starts(&dev, 11);
        assert_eq!(all, EvalWindows::First(0).starts(&dev, 11));
    }
}
