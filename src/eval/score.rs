//! Scoring sentences: the sum of the log-probabilities of every token after `<s>`.
//!
//! Distinct sentences are scored once, sorted by length and batched by a token budget so that a
//! batch holds sequences of one length only (no padding). Per batch only the target tokens'
//! log-probabilities are kept: `logit[target] − logsumexp(logits)` in fp32.

use std::collections::HashMap;

use anyhow::{bail, Result};
use tch::{Kind, Tensor};
use tokenizers::Tokenizer;

use crate::data::encode::FastEncoder;
use crate::model::Llama;
use crate::train::optim::autocast_bf16;

use super::blimp_data::Pair;

/// The BLiMP sentences of a tokenizer: distinct token sequences (`<s>` + sentence) and, per pair,
/// the index of its good and bad sequence.
pub struct Encoded {
    pub seqs: Vec<Vec<i64>>,
    pub good: Vec<usize>,
    pub bad: Vec<usize>,
}

/// Tokenizes every pair as `<s>` + sentence (what the model saw in training: `<s>` then the text).
pub fn encode(tokenizer: &Tokenizer, pairs: &[Pair]) -> Result<Encoded> {
    let enc = FastEncoder::new(tokenizer)?;
    let mut index: HashMap<Vec<i64>, usize> = HashMap::new();
    let mut seqs = Vec::new();
    let mut id = |text: &str| -> Result<usize> {
        let mut ids = Vec::new();
        enc.encode_into(&format!("<s>{text}"), &mut ids)?;
        let ids: Vec<i64> = ids.into_iter().map(i64::from).collect();
        if ids.len() < 2 {
            bail!("{text:?} encodes to no token after <s>");
        }
        Ok(*index.entry(ids).or_insert_with_key(|k| {
            seqs.push(k.clone());
            seqs.len() - 1
        }))
    };
    let mut good = Vec::with_capacity(pairs.len());
    let mut bad = Vec::with_capacity(pairs.len());
    for p in pairs {
        good.push(id(&p.good)?);
        bad.push(id(&p.bad)?);
    }
    Ok(Encoded { seqs, good, bad })
}

/// How to score.
#[derive(Debug, Clone, Copy)]
pub struct ScoreOptions {
    /// Tokens per forward pass (a batch holds ⌊budget / length⌋ sequences, at least one).
    pub batch_tokens: usize,
    pub bf16: bool,
    pub cuda: bool,
}

/// Summed log-probability of each sequence (tokens after the first), in `seqs` order.
/// `progress(n)` is told how many sequences each batch finished.
pub fn score(
    model: &Llama,
    seqs: &[Vec<i64>],
    o: ScoreOptions,
    mut progress: impl FnMut(usize),
) -> Result<Vec<f64>> {
    let max = model.config.max_position_embeddings as usize;
    if let Some(s) = seqs.iter().find(|s| s.len() > max + 1) {
        bail!(
            "a sentence of {} tokens is longer than the model's {max} positions",
            s.len()
        );
    }
    let device = model.device();
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    order.sort_by_key(|&i| (seqs[i].len(), i));
    let mut out = vec![0f64; seqs.len()];
    let mut start = 0;
    while start < order.len() {
        let len = seqs[order[start]].len();
        let per_batch = (o.batch_tokens / len).max(1);
        let mut end = start;
        while end < order.len() && end - start < per_batch && seqs[order[end]].len() == len {
            end += 1;
        }
        let batch = &order[start..end];
        let flat: Vec<i64> = batch
            .iter()
            .flat_map(|&i| seqs[i].iter().copied())
            .collect();
        let ids = Tensor::from_slice(&flat)
            .view([batch.len() as i64, len as i64])
            .to_device(device);
        let sums = tch::no_grad(|| -> Result<Tensor> {
            let input = ids.narrow(1, 0, len as i64 - 1);
            let target = ids.narrow(1, 1, len as i64 - 1);
            let logits = if o.bf16 {
                autocast_bf16(o.cuda, || model.forward(&input))?
            } else {
                model.forward(&input)
            }
            .to_kind(Kind::Float);
            let picked = logits
                .gather(-1, &target.unsqueeze(-1), false)
                .squeeze_dim(-1);
            let lse = logits.logsumexp([-1], false);
            Ok((picked - lse).sum_dim_intlist([1i64].as_slice(), false, Kind::Double))
        })?;
        let sums: Vec<f64> = Vec::try_from(sums.to_device(tch::Device::Cpu))?;
        for (k, &i) in batch.iter().enumerate() {
            out[i] = sums[k];
        }
        progress(batch.len());
        start = end;
    }
    Ok(out)
}
