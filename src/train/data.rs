//! What a run reads: the tokenizer and token files of its dataset ([`RunData`]), this rank's share
//! of every global batch ([`RankShare`]) and the micro-batches of each step ([`Batches`]).
//!
//! The rows of step `s` are a pure function of (seed, step, row) ([`TokenFile::random_windows`]),
//! so ranks and resumed runs read exactly what one uninterrupted process reads.

use std::path::PathBuf;

use anyhow::{bail, Result};
use tch::Tensor;

use super::config::TrainConfig;
use crate::config::memory::MicroBatching;
use crate::config::{BatchOrder, DataSettings, Run};
use crate::data::layout::{DatasetDir, Split};
use crate::data::tokenizer::load_tokenizer;
use crate::data::tokens::TokenFile;
use crate::device::upload;
use crate::dist::World;
use crate::io::sha256_file;

/// The tokenizer and the token files of a run, checked against each other.
pub struct RunData {
    pub tokenizer: PathBuf,
    pub tokenizer_sha256: String,
    /// The tokenizer's real size (≤ the run's vocab size on small corpora).
    pub vocab: u32,
    pub train: TokenFile,
    pub dev: TokenFile,
}

impl RunData {
    /// Opens `<data_dir>/<dataset>`'s tokenizer and token files of `data`'s recipe and encoding
    /// for `run`.
    pub fn open(data_dir: &std::path::Path, data: DataSettings, run: &Run) -> Result<RunData> {
        let ds = DatasetDir::new(data_dir, &run.key.dataset)?.with(data);
        let tokenizer = ds.tokenizer_path(run.key.vocab_size);
        let hint = match data.is_default() {
            true => format!(
                "run `lmeff data prepare --dataset {} --vocab-sizes {}`",
                run.key.dataset, run.key.vocab_size
            ),
            false => format!(
                "run `lmeff data tokenizer` and `lmeff data tokenize` with --dataset {} \
                 --vocab-sizes {} and the same [data] settings",
                run.key.dataset, run.key.vocab_size
            ),
        };
        if !tokenizer.is_file() {
            bail!("tokenizer {} not found: {hint}", tokenizer.display());
        }
        let tokenizer_sha256 = sha256_file(&tokenizer)?;
        let vocab = load_tokenizer(&tokenizer)?.get_vocab_size(true) as u32;
        let open = |split| {
            let bin = ds.token_file(run.key.vocab_size, split);
            if !bin.is_file() {
                bail!("token file {} not found: {hint}", bin.display());
            }
            let file = TokenFile::open(&bin, Some(&tokenizer_sha256))?;
            file.check_ids()?;
            if file.header().vocab_size != vocab {
                bail!(
                    "{}: encoded with a vocabulary of {} tokens, but {} has {vocab}: {hint}",
                    bin.display(),
                    file.header().vocab_size,
                    tokenizer.display()
                );
            }
            if file.len() < run.seq_len as u64 + 1 {
                bail!(
                    "{} holds {} tokens, fewer than one sequence of {} + 1",
                    bin.display(),
                    file.len(),
                    run.seq_len
                );
            }
            Ok(file)
        };
        Ok(RunData {
            train: open(Split::Train)?,
            dev: open(Split::Dev)?,
            tokenizer,
            tokenizer_sha256,
            vocab,
        })
    }
}

/// This rank's rows of each micro-batch: `first_row .. first_row + rows` of the global batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankShare {
    pub first_row: u64,
    pub rows: usize,
    /// Scales this rank's loss so that the average over ranks is the global mean (1 when the
    /// world divides the batch).
    pub loss_scale: f64,
}

impl RankShare {
    /// The share of `world`'s rank in a global batch of `batch` sequences; a world that does not
    /// divide it is refused unless `allow_uneven`.
    pub fn new(batch: u32, world: &World, allow_uneven: bool) -> Result<RankShare> {
        Self::of(batch, world.rank(), world.size(), allow_uneven)
    }

    /// The whole global batch of `batch` sequences (one rank).
    pub fn whole(batch: u32) -> RankShare {
        RankShare {
            first_row: 0,
            rows: batch as usize,
            loss_scale: 1.0,
        }
    }

    fn of(batch: u32, rank: usize, size: usize, allow_uneven: bool) -> Result<RankShare> {
        let (b, n, r) = (batch as u64, size as u64, rank as u64);
        if b % n != 0 && !allow_uneven {
            bail!(
                "the global batch of {batch} sequences is not divisible by the {n} ranks; use a world size that divides it, or --allow-uneven"
            );
        }
        if b < n {
            bail!("the global batch of {batch} sequences is smaller than the {n} ranks");
        }
        let first_row = r * b / n;
        let rows = (r + 1) * b / n - first_row;
        Ok(RankShare {
            first_row,
            rows: rows as usize,
            loss_scale: (rows * n) as f64 / b as f64,
        })
    }
}

/// The micro-batches of every step of a run, on its device.
pub struct Batches {
    train: TokenFile,
    seed: u64,
    order: BatchOrder,
    micro: MicroBatching,
    share: RankShare,
    window: usize,
    device: tch::Device,
}

impl Batches {
    /// Windows of `run.seq_len + 1` tokens of `train` drawn by `order` as `data_seed` says, in
    /// `micro`'s passes, this rank's `share` of each.
    pub fn new(
        train: TokenFile,
        run: &Run,
        (data_seed, order): (u64, BatchOrder),
        (micro, share): (MicroBatching, RankShare),
        device: tch::Device,
    ) -> Batches {
        Batches {
            train,
            seed: data_seed,
            order,
            micro,
            share,
            window: run.seq_len as usize + 1,
            device,
        }
    }

    /// Step `step`'s micro-batches `[rows, seq_len + 1]`: micro-batch m is rows m·size … of
    /// the step's sequences, of which this rank reads its share. Each is sent to the device
    /// without waiting for it ([`upload`]).
    pub fn of_step(&self, step: u64) -> impl ExactSizeIterator<Item = Result<Tensor>> + '_ {
        (0..self.micro.count).map(move |micro| {
            let ids = self.ids(step, micro)?;
            let host = Tensor::from_slice(&ids).view([self.share.rows as i64, self.window as i64]);
            Ok(upload(host, self.device))
        })
    }

    /// The token ids of micro-batch `micro` of step `step` (this rank's rows, row after row).
    /// A window is a function of the step and its row among the step's sequences, so cutting
    /// micro-batches smaller reads the same windows in the same order.
    fn ids(&self, step: u64, micro: u32) -> Result<Vec<i64>> {
        let first = micro as u64 * self.micro.size as u64 + self.share.first_row;
        let (seed, rows, window) = (self.seed, self.share.rows, self.window);
        match self.order {
            BatchOrder::Random => self.train.random_windows(seed, step, first, rows, window),
            BatchOrder::Epochs => {
                let per_step = self.micro.size as u64 * self.micro.count as u64;
                self.train
                    .epoch_windows(seed, step, per_step, first, rows, window)
            }
        }
    }

    /// The sha256 of each of the first `steps` steps' token ids: the data order, to compare runs.
    pub fn digests(&self, steps: u64) -> Result<Vec<String>> {
        use sha2::{Digest, Sha256};
        (0..steps)
            .map(|step| {
                let mut hash = Sha256::new();
                for micro in 0..self.micro.count {
                    for id in self.ids(step, micro)? {
                        hash.update(id.to_le_bytes());
                    }
                }
                Ok(crate::io::hex(&hash.finalize()))
            })
            .collect()
    }
}

/// The digests of the first `steps` global batches `cfg`'s run reads ([`Batches::digests`]),
/// without touching its folder.
pub fn batch_digests(cfg: &TrainConfig, steps: u64) -> Result<Vec<String>> {
    let data = RunData::open(&cfg.data_dir, cfg.data, &cfg.run)?;
    let micro = MicroBatching::whole(cfg.run.batch_size, cfg.run.grad_accum);
    let share = RankShare::whole(cfg.run.batch_size);
    let order = (cfg.seeds().data, cfg.settings.batches);
    Batches::new(
        data.train,
        &cfg.run,
        order,
        (micro, share),
        tch::Device::Cpu,
    )
    .digests(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_the_batch_once() {
        let shares: Vec<RankShare> = (0..3)
            .map(|r| RankShare::of(8, r, 3, true).unwrap())
            .collect();
        assert_eq!(
            shares
                .iter()
                .map(|s| (s.first_row, s.rows))
                .collect::<Vec<_>>(),
            [(0, 2), (2, 3), (5, 3)]
        );
        // rows × 3 ranks / 8: the mean of the scaled per-rank means is the global mean.
        assert_eq!(
            shares.iter().map(|s| s.loss_scale).collect::<Vec<_>>(),
            [0.75, 1.125, 1.125]
        );
        assert!(RankShare::of(8, 0, 3, false).is_err());
        assert!(RankShare::of(2, 0, 3, true).is_err());
        let even = RankShare::of(8, 1, 2, false).unwrap();
        assert_eq!((even.first_row, even.rows, even.loss_scale), (4, 4, 1.0));
    }
}
