//! How the trainer and the validator draw windows of a token file: random contiguous windows
//! (lmeff's), the study's epochs of consecutive windows in a seeded order, and the consecutive
//! windows of an evaluation. Every draw is a pure function of its arguments.

use anyhow::{bail, Result};

use super::tokens::TokenFile;
use crate::rng::mix64;

impl TokenFile {
    /// A batch of `batch` random contiguous windows of `len` tokens, a pure function of
    /// (`seed`, `step`, `first`): row `r` of the global batch is `first + r`, so ranks reading
    /// disjoint row ranges of one step together read exactly the single-process batch.
    pub fn random_windows(
        &self,
        seed: u64,
        step: u64,
        first: u64,
        batch: usize,
        len: usize,
    ) -> Result<Vec<i64>> {
        if (len as u64) > self.len() {
            bail!(
                "{} has {} tokens, fewer than one window of {len}",
                self.path().display(),
                self.len()
            );
        }
        let starts = self.len() - len as u64 + 1;
        let mut out = Vec::with_capacity(batch * len);
        for r in 0..batch as u64 {
            let start = mix64(seed, step, first + r) % starts;
            self.window_into(start, len, &mut out);
        }
        Ok(out)
    }

    /// A batch of `batch` windows of `len` tokens in epochs, as the study drew them: the file cut
    /// into the consecutive windows of [`TokenFile::sequential_starts`] (each token a target once
    /// an epoch), each epoch in its own seeded order. Row `r` of step `step` is window number
    /// `step · rows_per_step + first + r` of that sequence, so ranks and resumed runs read what one
    /// process reads.
    pub fn epoch_windows(
        &self,
        seed: u64,
        step: u64,
        rows_per_step: u64,
        first: u64,
        batch: usize,
        len: usize,
    ) -> Result<Vec<i64>> {
        let stride = (len as u64).saturating_sub(1).max(1);
        let windows = match self.len().checked_sub(len as u64) {
            Some(rest) => rest / stride + 1,
            None => bail!(
                "{} has {} tokens, fewer than one window of {len}",
                self.path().display(),
                self.len()
            ),
        };
        let mut out = Vec::with_capacity(batch * len);
        for r in 0..batch as u64 {
            let g = step * rows_per_step + first + r;
            let (epoch, pos) = (g / windows, g % windows);
            let k = crate::rng::permute(pos, windows, mix64(seed, epoch, 0x0e90c4));
            self.window_into(k * stride, len, &mut out);
        }
        Ok(out)
    }

    /// Start offsets of consecutive windows of `len` tokens overlapping by one (each token is a
    /// target exactly once), for evaluation; a last partial window is dropped.
    pub fn sequential_starts(&self, len: usize) -> impl Iterator<Item = u64> {
        let stride = (len as u64).saturating_sub(1).max(1);
        let total = self.len();
        let last = total.saturating_sub(len as u64);
        (0..)
            .map(move |k| k * stride)
            .take_while(move |&s| len as u64 <= total && s <= last)
    }
}

#[cfg(test)]
mod tests {
    use crate::data::tokens::{fake_token_file, TokenFile};

    #[test]
    fn epochs_read_every_window_once_in_a_seeded_order() {
        let dir = tempfile::tempdir().unwrap();
        let toks: Vec<u16> = (0..1000).collect();
        let tf = TokenFile::open(&fake_token_file(dir.path(), &toks), None).unwrap();
        // Windows of 11 tokens overlapping by one: 99 of them; 3 steps of 33 rows are one epoch.
        let (len, rows) = (11usize, 33u64);
        let epoch = |seed: u64, first_step: u64| -> Vec<i64> {
            (first_step..first_step + 3)
                .flat_map(|step| {
                    tf.epoch_windows(seed, step, rows, 0, rows as usize, len)
                        .unwrap()
                })
                .collect()
        };
        let starts = |ids: &[i64]| -> Vec<i64> { ids.chunks(len).map(|w| w[0]).collect() };
        let mut first = starts(&epoch(7, 0));
        assert_ne!(
            first,
            (0..99).map(|k| k * 10).collect::<Vec<_>>(),
            "shuffled"
        );
        first.sort_unstable();
        assert_eq!(
            first,
            (0..99).map(|k| k * 10).collect::<Vec<_>>(),
            "each window once"
        );
        // The next epoch is another order; another seed another; the same seed the same.
        assert_ne!(starts(&epoch(7, 3)), starts(&epoch(7, 0)));
        assert_ne!(epoch(8, 0), epoch(7, 0));
        assert_eq!(epoch(7, 0), epoch(7, 0));
        // Rows read by parts (ranks, micro-batches) are the rows read whole.
        let whole = tf.epoch_windows(7, 1, rows, 0, 33, len).unwrap();
        let mut parts = tf.epoch_windows(7, 1, rows, 0, 10, len).unwrap();
        parts.extend(tf.epoch_windows(7, 1, rows, 10, 23, len).unwrap());
        assert_eq!(parts, whole);
    }
}
