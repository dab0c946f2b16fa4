//! How much of a run's batch passes through the model at once (`train.max_micro_batch`), and an
//! estimate of the peak device memory that takes: what `lmeff plan` shows and warns with.

use std::collections::BTreeMap;

use anyhow::Result;

use super::device::Device;
use super::plan::Plan;
use super::preset::{ModelShape, Presets};
use super::run::Run;
use super::settings::Settings;
use super::train::Accelerator;

const GIB: f64 = (1u64 << 30) as f64;

/// How a step's sequences go through the model: `count` passes of `size` sequences each (over
/// all ranks), gradients accumulated over them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MicroBatching {
    /// Sequences per pass, over all ranks.
    pub size: u32,
    /// Passes per optimizer step.
    pub count: u32,
    /// Into how many equal pieces each of the run's own micro-batches was cut (1: not cut).
    pub split: u32,
}

impl MicroBatching {
    /// The run's `batch_size × grad_accum`, each micro-batch cut into the fewest equal pieces
    /// that leave at most `max` sequences per rank (`max` 0: no limit) and that `ranks` divide
    /// (unless `allow_uneven`). The step reads the same windows, in the same order, either way.
    pub fn plan(
        batch_size: u32,
        grad_accum: u32,
        ranks: u32,
        max: u32,
        allow_uneven: bool,
    ) -> Result<MicroBatching, String> {
        let ranks = ranks.max(1);
        if max == 0 || batch_size.div_ceil(ranks) <= max {
            // Not cut: whether the ranks share the batch evenly is the rank share's to say.
            return Ok(MicroBatching::whole(batch_size, grad_accum));
        }
        let fits = |size: u32| {
            size >= ranks
                && (allow_uneven || size.is_multiple_of(ranks))
                && (max == 0 || size.div_ceil(ranks) <= max)
        };
        let split = (1..=batch_size)
            .filter(|k| batch_size.is_multiple_of(*k))
            .find(|k| fits(batch_size / k))
            .ok_or_else(|| {
                format!(
                    "train.max_micro_batch = {max}: the micro-batch of {batch_size} sequences cannot be cut into equal pieces of at most {max} sequences on each of {ranks} rank(s)"
                )
            })?;
        Ok(MicroBatching {
            size: batch_size / split,
            count: grad_accum * split,
            split,
        })
    }

    /// The run's micro-batches as they are: `grad_accum` passes of `batch_size`, not cut.
    pub fn whole(batch_size: u32, grad_accum: u32) -> MicroBatching {
        MicroBatching {
            size: batch_size,
            count: grad_accum,
            split: 1,
        }
    }

    /// The sequences one rank runs through the model at once (the largest share).
    pub fn rows_per_rank(&self, ranks: u32) -> u32 {
        self.size.div_ceil(ranks.max(1))
    }
}

/// The estimated peak memory of one training rank, by what holds it. Accounting, per token and
/// layer in bf16 autocast: the fp32 residual stream and the norms' fp32 inputs and outputs
/// (16·d bytes), q, k, v after RoPE and the attention output (8·d), the two normed inputs cast to
/// bf16 (4·d), and the MLP's gate, up, SiLU(gate) and their product (8·i); in fp32, twice the
/// bf16 parts. The logits cost 12 bytes per token and vocabulary entry (the logits, their fp32
/// log-softmax and its gradient, at the loss's backward); weights, gradients and AdamW's moments
/// 16 bytes per parameter (18 with autocast's bf16 weight copies); the CUDA context and cuBLAS's
/// workspace about 1 GiB. For the 180m preset at 256 × 256 tokens this gives 67 GiB at vocab
/// 16000 and 80 GiB at 32000.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryEstimate {
    pub weights_and_optimizer: u64,
    pub activations: u64,
    pub logits: u64,
    pub context: u64,
}

impl MemoryEstimate {
    /// The estimate for `shape` at `vocab`, `rows` sequences of `seq_len` tokens at once.
    pub fn of(
        shape: &ModelShape,
        params: u64,
        vocab: u32,
        rows: u32,
        seq_len: u32,
        bf16: bool,
    ) -> Self {
        let tokens = rows as u64 * seq_len as u64;
        let (d, i) = (shape.hidden_size as u64, shape.intermediate_size as u64);
        let per_token_layer = match bf16 {
            true => 28 * d + 8 * i,
            false => 40 * d + 16 * i,
        };
        MemoryEstimate {
            weights_and_optimizer: params * if bf16 { 18 } else { 16 },
            activations: tokens * shape.num_hidden_layers as u64 * per_token_layer,
            logits: tokens * vocab as u64 * 12,
            context: 1 << 30,
        }
    }

    /// The estimate under `train.kernels = "fused"`, whose linear + cross-entropy holds one chunk
    /// of [`cross_entropy_chunk`] tokens' bf16 logits (twice, the matmul's output and the
    /// gradient's), the hidden states' bf16 gradient and the LM head's fp32 one (with a bf16
    /// chunk term) instead of every token's logits.
    pub fn fused(self, shape: &ModelShape, rows: u32, seq_len: u32, vocab: u32) -> Self {
        let tokens = rows as u64 * seq_len as u64;
        let (d, v) = (shape.hidden_size as u64, vocab as u64);
        let chunk = cross_entropy_chunk(tokens, d, v);
        MemoryEstimate {
            logits: chunk * v * 4 + tokens * d * 2 + v * d * 6,
            ..self
        }
    }

    /// The whole estimate, in bytes.
    pub fn total(&self) -> u64 {
        self.weights_and_optimizer + self.activations + self.logits + self.context
    }

    /// The whole estimate, in GiB.
    pub fn gib(&self) -> f64 {
        self.total() as f64 / GIB
    }
}

/// The tokens per chunk of the fused linear + cross-entropy over `tokens` tokens (Liger-Kernel's
/// rule): a chunk's logits (`chunk × vocab`) stay near the size of the hidden states
/// (`tokens × hidden`).
pub fn cross_entropy_chunk(tokens: u64, hidden: u64, vocab: u64) -> u64 {
    let inc_factor = vocab.div_ceil(hidden.max(1));
    tokens
        .div_ceil(inc_factor)
        .next_power_of_two()
        .min(tokens)
        .max(1)
}

/// Each run's estimated peak memory per rank as the settings will train it (precision as on a
/// GPU of compute capability 8.0 or later when the device is CUDA), and warnings for the CUDA runs
/// over 90 % of `train.gpu_memory_gib`.
pub struct PeakMemory {
    presets: Presets,
    max_micro_batch: u32,
    bf16: bool,
    fused: bool,
    cuda: bool,
    capacity_gib: f64,
}

impl PeakMemory {
    /// The estimator for `settings` (its presets, device, precision and micro-batch limit).
    pub fn of(settings: &Settings) -> Result<PeakMemory> {
        let cuda = matches!(settings.device, Device::Cuda(_));
        let accelerator = match cuda {
            true => Accelerator::Cuda {
                capability: Some((8, 0)),
            },
            false => Accelerator::Cpu,
        };
        Ok(PeakMemory {
            presets: Presets::load(&settings.models_dir)?,
            max_micro_batch: settings.train.max_micro_batch,
            bf16: settings.train.precision.bf16_on(accelerator),
            fused: settings.train.kernels == crate::config::Kernels::Fused,
            cuda,
            capacity_gib: settings.train.gpu_memory_gib,
        })
    }

    /// Run `r`'s estimate at its micro-batches as `train.max_micro_batch` cuts them (`None`
    /// for a preset or a cut that does not exist).
    pub fn of_run(&self, r: &Run) -> Option<MemoryEstimate> {
        self.at(r, self.rows(r)?)
    }

    /// The sequences one rank of run `r` runs at once under `train.max_micro_batch`.
    fn rows(&self, r: &Run) -> Option<u32> {
        let (batch, accum, max) = (r.batch_size, r.grad_accum, self.max_micro_batch);
        let micro = MicroBatching::plan(batch, accum, r.world, max, true).ok()?;
        Some(micro.rows_per_rank(r.world))
    }

    fn at(&self, r: &Run, rows: u32) -> Option<MemoryEstimate> {
        let preset = self.presets.get(&r.key.model)?;
        let params = preset.num_parameters(r.key.vocab_size);
        let (vocab, seq) = (r.key.vocab_size, r.seq_len);
        let e = MemoryEstimate::of(&preset.model, params, vocab, rows, seq, self.bf16);
        Some(match self.fused {
            true => e.fused(&preset.model, rows, seq, vocab),
            false => e,
        })
    }

    /// One line per kind of CUDA run (model, vocabulary, micro-batch) estimated over 90 % of
    /// `train.gpu_memory_gib`, with the `train.max_micro_batch` that would fit.
    pub fn warnings(&self, plan: &Plan) -> Vec<String> {
        if !self.cuda {
            return Vec::new();
        }
        let limit = 0.9 * self.capacity_gib;
        let mut kinds: BTreeMap<String, (usize, String)> = BTreeMap::new();
        for r in &plan.runs {
            let Some(rows) = self.rows(r) else { continue };
            let Some(e) = self.at(r, rows).filter(|e| e.gib() > limit) else {
                continue;
            };
            let fix = (1..=rows)
                .filter(|k| rows.is_multiple_of(*k))
                .map(|k| rows / k)
                .find_map(|m| Some((m, self.at(r, m)?.gib())).filter(|(_, g)| *g <= limit));
            let advice = match fix {
                Some((m, gib)) => {
                    format!("set train.max_micro_batch = {m} (estimated {gib:.1} GiB)")
                }
                None => "no micro-batch fits: a GPU with more memory is needed".into(),
            };
            let what = format!(
                "llama-{} at vocab {} ({rows} sequences of {} tokens at once)",
                r.key.model, r.key.vocab_size, r.seq_len
            );
            let line = format!(
                "an estimated {:.1} GiB per GPU, over 90% of train.gpu_memory_gib = {}: {advice}",
                e.gib(),
                self.capacity_gib
            );
            kinds.entry(what).or_insert((0, line)).0 += 1;
        }
        kinds
            .into_iter()
            .map(|(what, (n, line))| format!("{n} run(s) of {what}: {line}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(d: u32, i: u32, layers: u32) -> ModelShape {
        ModelShape {
            hidden_size: d,
            intermediate_size: i,
            num_attention_heads: d / 64,
            num_hidden_layers: layers,
            max_position_embeddings: 256,
            rms_norm_eps: 1e-6,
            rope_theta: 1e4,
            tie_word_embeddings: false,
        }
    }

    fn params(s: &ModelShape, v: u64) -> u64 {
        let (h, i) = (s.hidden_size as u64, s.intermediate_size as u64);
        2 * v * h + s.num_hidden_layers as u64 * (4 * h * h + 3 * h * i + 2 * h) + h
    }

    /// The figures for the 180m preset at micro-batch 256 × 256: about 65 GiB at vocab
    /// 16000 (fits an 80 GB card), about 77 GiB at 32000 (does not, safely); half the micro-batch
    /// fits easily.
    #[test]
    fn the_180m_preset_at_vocab_32000_is_too_close_to_80_gib() {
        let s = shape(768, 1792, 24);
        let at =
            |v: u32, rows| MemoryEstimate::of(&s, params(&s, v as u64), v, rows, 256, true).gib();
        assert!((62.0..70.0).contains(&at(16000, 256)), "{}", at(16000, 256));
        assert!((76.0..84.0).contains(&at(32000, 256)), "{}", at(32000, 256));
        assert!(at(32000, 128) < 45.0, "{}", at(32000, 128));
        let fp32 = MemoryEstimate::of(&s, params(&s, 16000), 16000, 256, 256, false);
        assert!(fp32.gib() > at(16000, 256));
        // The fused loss holds 2048 tokens' logits of the 65,536: the 32000 row fits whole.
        assert_eq!(cross_entropy_chunk(65536, 768, 32000), 2048);
        let e = MemoryEstimate::of(&s, params(&s, 32000), 32000, 256, 256, true);
        let fused = e.fused(&s, 256, 256, 32000);
        assert!(fused.logits < e.logits / 10, "{fused:?}");
        assert_eq!(fused.activations, e.activations);
        assert!(fused.gib() < 0.9 * 80.0, "{}", fused.gib());
    }

    #[test]
    fn micro_batches_are_cut_into_the_fewest_equal_pieces() {
        let m = |b, a, ranks, max, uneven| MicroBatching::plan(b, a, ranks, max, uneven);
        assert_eq!(
            m(256, 2, 1, 0, false).unwrap(),
            MicroBatching {
                size: 256,
                count: 2,
                split: 1
            }
        );
        assert_eq!(m(256, 2, 1, 256, false).unwrap().split, 1);
        assert_eq!(
            m(256, 2, 1, 128, false).unwrap(),
            MicroBatching {
                size: 128,
                count: 4,
                split: 2
            }
        );
        assert_eq!(
            m(256, 2, 1, 100, false).unwrap(),
            MicroBatching {
                size: 64,
                count: 8,
                split: 4
            }
        );
        // 96 over 2 ranks, at most 20 per rank: 96/3 = 32 is 16 per rank.
        let two = m(96, 1, 2, 20, false).unwrap();
        assert_eq!((two.size, two.count, two.rows_per_rank(2)), (32, 3, 16));
        // 9 sequences over 2 ranks, not cut: the rank share refuses it, with its own message.
        assert_eq!(m(9, 1, 2, 0, false).unwrap().split, 1);
        assert!(m(9, 1, 2, 4, false).is_err());
        assert_eq!(
            m(9, 1, 2, 3, true).unwrap(),
            MicroBatching {
                size: 3,
                count: 3,
                split: 3
            }
        );
        let e = m(6, 1, 4, 1, false).unwrap_err();
        assert!(
            e.contains("max_micro_batch = 1") && e.contains("6 sequences"),
            "{e}"
        );
    }
}
