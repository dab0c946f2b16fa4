//! Scoring sentences: the sum of the log-probabilities of every token after `<s>`, computed with
//! as little work as possible.
//!
//! All distinct sentences go into a prefix tree of their input tokens (every token but the last),
//! so a shared beginning — `<s>`, a good and a bad sentence's common words, sentences of a paradigm
//! starting alike — is computed once. The tree is cut into rows of a fixed length (sentences in
//! lexicographic order, each row holding whole root-to-sentence paths); a token's rotary position
//! is its depth and it attends to its ancestors only, which gives exactly the numbers of separate
//! causal passes. Rows are batched by a token budget; only the target tokens' log-probabilities are
//! kept: `logit[target] − logsumexp(logits)` in fp32, for real (not padding) tokens only.

use std::collections::HashMap;

use anyhow::{bail, Result};
use tch::{Kind, Tensor};
use tokenizers::Tokenizer;

use crate::data::encode::FastEncoder;
use crate::device::{upload, Compute};
use crate::model::Llama;

use super::blimp_data::Pair;

/// The BLiMP sentences of a tokenizer: distinct token sequences (`<s>` + sentence) and, per pair,
/// the index of its good and bad sequence.
pub struct Encoded {
    pub seqs: Vec<Vec<i64>>,
    pub good: Vec<usize>,
    pub bad: Vec<usize>,
}

/// Tokenizes every pair as `<s>` + sentence (what the model saw in training: `<s>` then the
/// text), with the prefix space or without, as transformers encodes for the checkpoint.
pub fn encode(tokenizer: &Tokenizer, prefix_space: bool, pairs: &[Pair]) -> Result<Encoded> {
    let enc = FastEncoder::with_prefix_space(tokenizer, prefix_space)?;
    let mut index: HashMap<Vec<i64>, usize> = HashMap::new();
    let mut seqs = Vec::new();
    let mut id = |text: &str| -> Result<usize> {
        let mut ids = Vec::new();
        enc.encode_into(&format!("<s>{text}"), &mut ids)?;
        if ids.len() < 2 {
            bail!("{text:?} encodes to no token after <s>");
        }
        let ids: Vec<i64> = ids.into_iter().map(i64::from).collect();
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

/// One row of the prefix tree: tokens, their depths, their parents (`None` for a root).
#[derive(Debug, Default, PartialEq)]
struct Row {
    ids: Vec<i64>,
    depth: Vec<i64>,
    parent: Vec<Option<usize>>,
    /// (token index in the row, target token, sentence) per predicted token.
    targets: Vec<(usize, i64, usize)>,
    /// Sentences whose whole path is in this row.
    sentences: usize,
}

impl Row {
    fn len(&self) -> usize {
        self.ids.len()
    }

    /// Additive attention mask `[len, len]` for a row padded to `len`: 0 where a token may attend
    /// (itself and its ancestors), −∞ elsewhere; padding attends to itself.
    fn mask(&self, len: usize) -> Vec<f32> {
        let mut m = vec![f32::NEG_INFINITY; len * len];
        for i in 0..len {
            m[i * len + i] = 0.0;
            let mut a = self.parent.get(i).copied().flatten();
            while let Some(j) = a {
                m[i * len + j] = 0.0;
                a = self.parent[j];
            }
        }
        m
    }
}

/// Packs the inputs of `seqs` into rows of at most `row_len` tokens.
fn pack(seqs: &[Vec<i64>], row_len: usize) -> Vec<Row> {
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    order.sort_by(|&a, &b| seqs[a].cmp(&seqs[b]));
    let mut rows = Vec::new();
    let mut row = Row::default();
    let mut children: HashMap<(Option<usize>, i64), usize> = HashMap::new();
    for s in order {
        let inputs = &seqs[s][..seqs[s].len() - 1];
        let mut node = None;
        let mut known = 0;
        for &tok in inputs {
            match children.get(&(node, tok)) {
                Some(&c) => {
                    node = Some(c);
                    known += 1;
                }
                None => break,
            }
        }
        if row.len() + inputs.len() - known > row_len && row.len() > 0 {
            rows.push(std::mem::take(&mut row));
            children.clear();
        }
        let mut node = None;
        for (q, &tok) in inputs.iter().enumerate() {
            let next = *children.entry((node, tok)).or_insert_with(|| {
                row.ids.push(tok);
                row.depth.push(q as i64);
                row.parent.push(node);
                row.ids.len() - 1
            });
            row.targets.push((next, seqs[s][q + 1], s));
            node = Some(next);
        }
        row.sentences += 1;
    }
    if row.len() > 0 {
        rows.push(row);
    }
    rows
}

/// How to score.
#[derive(Debug, Clone, Copy)]
pub struct ScoreOptions {
    /// Tokens per forward pass (rows of [`ROW_TOKENS`], at least one row).
    pub batch_tokens: usize,
    pub compute: Compute,
}

/// Tokens per packed row (longer sentences get a row of their own length).
pub const ROW_TOKENS: usize = 128;

/// Summed log-probability of each sequence (tokens after the first), in `seqs` order.
/// `progress(n)` is told how many sequences each batch finished.
pub fn score(
    model: &Llama,
    seqs: &[Vec<i64>],
    o: ScoreOptions,
    mut progress: impl FnMut(usize),
) -> Result<Vec<f64>> {
    let max = model.config.max_position_embeddings as usize;
    let longest = seqs.iter().map(Vec::len).max().unwrap_or(0);
    if longest > max + 1 {
        bail!("a sentence of {longest} tokens is longer than the model's {max} positions");
    }
    let row_len = ROW_TOKENS.max(longest);
    let rows = pack(seqs, row_len);
    let device = model.device();
    let kind = if o.compute.bf16 {
        Kind::BFloat16
    } else {
        Kind::Float
    };
    let v = model.config.vocab_size as i64;
    let mut out = vec![0f64; seqs.len()];
    let per_batch = (o.batch_tokens / row_len).max(1);
    for batch in rows.chunks(per_batch) {
        let (b, l) = (batch.len() as i64, row_len as i64);
        let mut ids = vec![0i64; batch.len() * row_len];
        let mut pos = vec![0i64; batch.len() * row_len];
        let mut mask = Vec::with_capacity(batch.len() * row_len * row_len);
        // Real tokens (flattened row index), and per target: its index among the real tokens.
        let (mut real, mut pick, mut flat, mut owner) = (vec![], vec![], vec![], vec![]);
        for (k, r) in batch.iter().enumerate() {
            ids[k * row_len..k * row_len + r.len()].copy_from_slice(&r.ids);
            pos[k * row_len..k * row_len + r.len()].copy_from_slice(&r.depth);
            mask.extend(r.mask(row_len));
            let first = real.len();
            real.extend((0..r.len()).map(|i| (k * row_len + i) as i64));
            for &(node, target, s) in &r.targets {
                let i = (first + node) as i64;
                pick.push(i);
                flat.push(i * v + target);
                owner.push(s);
            }
        }
        let lp = tch::no_grad(|| -> Result<Tensor> {
            let to = |x: &[i64]| upload(Tensor::from_slice(x), device);
            let ids = to(&ids).view([b, l]);
            let pos = to(&pos).view([b, l]);
            let mask = upload(Tensor::from_slice(&mask), device)
                .view([b, 1, l, l])
                .to_kind(kind);
            let real = to(&real);
            let logits = || {
                let h = model.hidden_packed(&ids, &pos, &mask);
                let h = h.view([b * l, -1]).index_select(0, &real);
                model.project(&h)
            };
            let logits = o.compute.autocast(logits)?.to_kind(Kind::Float);
            let lse = logits.logsumexp([-1], false);
            Ok(logits.view([-1]).index_select(0, &to(&flat)) - lse.index_select(0, &to(&pick)))
        })?;
        let lp: Vec<f32> = Vec::try_from(lp.to_device(tch::Device::Cpu))?;
        for (&s, &x) in owner.iter().zip(&lp) {
            out[s] += x as f64;
        }
        progress(batch.iter().map(|r| r.sentences).sum());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LlamaConfig;
    use tch::{nn, Device};

    #[test]
    fn packing_shares_prefixes_and_keeps_paths_whole() {
        let seqs = vec![
            vec![1, 5, 6, 7],
            vec![1, 5, 8, 9, 10],
            vec![1, 5, 6],
            vec![1, 2],
        ];
        let rows = pack(&seqs, 100);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        // Sorted: [1 2] [1 5 6] [1 5 6 7] [1 5 8 9 10]; inputs 1 | 5 6 | 8 9 (shared 1 and 5 6).
        assert_eq!(r.ids, [1, 5, 6, 8, 9]);
        assert_eq!(r.depth, [0, 1, 2, 2, 3]);
        assert_eq!(r.parent, [None, Some(0), Some(1), Some(1), Some(3)]);
        assert_eq!(r.targets.len(), 1 + 2 + 3 + 4);
        let m = r.mask(6);
        assert_eq!(
            &m[4 * 6..5 * 6],
            &[0.0, 0.0, f32::NEG_INFINITY, 0.0, 0.0, f32::NEG_INFINITY]
        );
        assert_eq!(m[5 * 6 + 5], 0.0, "padding attends to itself");
        // Small rows: a sentence's path is never split; shared nodes are repeated in a new row.
        let rows = pack(&seqs, 4);
        assert!(rows.iter().all(|r| r.len() <= 4));
        assert_eq!(rows.iter().map(|r| r.targets.len()).sum::<usize>(), 10);
        for r in &rows {
            for (i, p) in r.parent.iter().enumerate() {
                assert_eq!(p.map_or(0, |p| r.depth[p] + 1), r.depth[i]);
            }
        }
    }

    #[test]
    fn packed_scores_equal_separate_causal_passes() {
        tch::manual_seed(1);
        let cfg = LlamaConfig::from_shape(
            &crate::config::ModelShape {
                hidden_size: 32,
                intermediate_size: 64,
                num_attention_heads: 4,
                num_hidden_layers: 2,
                max_position_embeddings: 32,
                rms_norm_eps: 1e-6,
                rope_theta: 10000.0,
                tie_word_embeddings: false,
            },
            40,
        );
        let vs = nn::VarStore::new(Device::Cpu);
        let model = Llama::new(&vs, &cfg).unwrap();
        let seqs = vec![
            vec![1, 5, 6, 7],
            vec![1, 5, 8, 9, 10],
            vec![1, 5, 6],
            vec![1, 9],
            vec![1, 11, 12, 13],
            vec![1, 14, 12, 13],
        ];
        let direct = |s: &[i64]| -> f64 {
            let ids = Tensor::from_slice(s).view([1, -1]);
            let logits = tch::no_grad(|| model.forward(&ids.narrow(1, 0, s.len() as i64 - 1)));
            let lp = logits.log_softmax(-1, Kind::Float);
            (1..s.len())
                .map(|i| lp.double_value(&[0, i as i64 - 1, s[i]]))
                .sum()
        };
        for budget in [1, 300, 100_000] {
            let got = score(
                &model,
                &seqs,
                ScoreOptions {
                    batch_tokens: budget,
                    compute: Compute::cpu(),
                },
                |_| {},
            )
            .unwrap();
            for (k, s) in seqs.iter().enumerate() {
                assert!(
                    (got[k] - direct(s)).abs() < 1e-4,
                    "{k} at budget {budget}: {} vs {}",
                    got[k],
                    direct(s)
                );
            }
        }
    }
}
