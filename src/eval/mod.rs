//! BLiMP evaluation of checkpoints: the study's scoring (`<s>` + sentence, summed token
//! log-probabilities, good > bad strictly), fast (distinct sentences once, length-sorted batches
//! without padding, only the target log-probabilities kept), written as Parquet and
//! lm-evaluation-harness JSON by [`crate::results::blimp`].

pub mod blimp_data;
pub mod glue;
pub mod identity;
pub mod score;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tracing::info;

use crate::config::layout::checkpoint;
use crate::config::Precision;
use crate::device::{Compute, Device};
use crate::io::sha256_file;
use crate::model::Llama;
use crate::results::blimp::{self as out, EvalConfig, PairScore};
use blimp_data::Pair;
pub use identity::Target;
use score::{Encoded, ScoreOptions};

/// What to evaluate and how.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub paradigms: Vec<String>,
    pub blimp_dir: PathBuf,
    /// `results_dir` of the settings: lmeff checkpoints go to their `blimp/…` folder under it.
    pub results_dir: PathBuf,
    /// Write here instead (a checkpoint's files; for a run, one sub-folder per checkpoint).
    pub out: Option<PathBuf>,
    pub device: Device,
    pub batch_tokens: usize,
    pub precision: Precision,
    pub force: bool,
}

/// The outcome for one checkpoint.
#[derive(Debug, Clone)]
pub struct Evaluated {
    pub checkpoint: PathBuf,
    pub results: PathBuf,
    /// Overall accuracy over all pairs (None when skipped).
    pub accuracy: Option<f64>,
    pub pairs_per_s: Option<f64>,
}

/// Evaluates `checkpoints` (e.g. every checkpoint of a run): BLiMP is read once and tokenized once
/// per distinct tokenizer and prefix-space setting ([`checkpoint::prefix_space`]). With `out`,
/// `run_layout` puts each checkpoint's files in `out/<milestone>/` (a Hub checkpoint's in
/// `out/<revision>/`).
pub fn evaluate(
    checkpoints: &[Target],
    o: &EvalOptions,
    run_layout: bool,
) -> Result<Vec<Evaluated>> {
    for t in checkpoints {
        checkpoint::check_files(&t.dir)?;
    }
    let pairs = blimp_data::load(&o.blimp_dir, &o.paradigms)?;
    let compute = Compute::new(o.device, o.precision)?;
    let mut encoded: HashMap<String, Encoded> = HashMap::new();
    let mut done = Vec::new();
    for target in checkpoints {
        let ck = &target.dir;
        let weights = ck.join(checkpoint::MODEL_FILE);
        let tok_path = ck.join(checkpoint::TOKENIZER_FILE);
        let sha = sha256_file(&weights)?;
        let tok_sha = sha256_file(&tok_path)?;
        let known = [
            (checkpoint::MODEL_FILE, sha.as_str()),
            (checkpoint::TOKENIZER_FILE, tok_sha.as_str()),
        ];
        checkpoint::verify_model_files(ck, &known)
            .context("refusing to score a damaged checkpoint")?;
        let id = identity::identity(target, sha.clone())?;
        let fallback = target
            .hub
            .as_ref()
            .map(|h| identity::hub_fallback_dir(&o.results_dir, h));
        let dest = match (&o.out, run_layout) {
            (Some(out), true) => {
                out.join(target.hub.as_ref().map_or(&id.milestone, |h| &h.revision))
            }
            (Some(out), false) => out.clone(),
            (None, _) => id
                .results_dir(&o.results_dir)
                .or(fallback)
                .with_context(|| {
                    format!(
                        "{} has no lmeff milestone_meta.json: say where results go with --out",
                        ck.display()
                    )
                })?,
        };
        out::check_destination(&dest)?;
        let prefix_space = checkpoint::prefix_space(ck)?;
        let cfg = EvalConfig {
            checkpoint_sha256: sha,
            tokenizer_sha256: tok_sha.clone(),
            prefix_space: Some(prefix_space),
            paradigms: o.paradigms.clone(),
            precision: if compute.bf16 {
                "bf16".into()
            } else {
                "fp32".into()
            },
        };
        let existing = out::existing_config(&dest);
        if let Some(old) = existing.as_ref().filter(|_| !o.force) {
            let lost: Vec<&String> = old
                .paradigms
                .iter()
                .filter(|p| !cfg.paradigms.contains(p))
                .collect();
            if !lost.is_empty() {
                bail!(
                    "{} holds a result over {} paradigms; scoring {} would drop {} of them ({}{}): \
                     pass --force to replace it, or --out to write elsewhere",
                    dest.display(),
                    old.paradigms.len(),
                    cfg.paradigms.len(),
                    lost.len(),
                    lost.iter().take(3).map(|p| p.as_str()).collect::<Vec<_>>().join(", "),
                    if lost.len() > 3 { ", …" } else { "" }
                );
            }
        }
        if !o.force && existing.as_ref() == Some(&cfg) {
            info!(
                "{}: unchanged since its last evaluation in {} (--force re-evaluates)",
                ck.display(),
                dest.display()
            );
            done.push(Evaluated {
                checkpoint: id.checkpoint.clone(),
                results: dest,
                accuracy: None,
                pairs_per_s: None,
            });
            continue;
        }
        let encoding = format!("{tok_sha} prefix space {prefix_space}");
        if !encoded.contains_key(&encoding) {
            let tokenizer = crate::data::tokenizer::load_tokenizer(&tok_path)?;
            let enc = score::encode(&tokenizer, prefix_space, &pairs)?;
            encoded.insert(encoding.clone(), enc);
        }
        let enc = &encoded[&encoding];
        let (model, _vs) = Llama::load(ck, compute.device)?;
        let vocab = i64::from(model.config.vocab_size);
        if let Some(max) = enc
            .seqs
            .iter()
            .flatten()
            .copied()
            .max()
            .filter(|&m| m >= vocab)
        {
            bail!(
                "{}: its tokenizer gives token id {max} on BLiMP, but the model has {vocab} \
                 embeddings (config.json vocab_size): the tokenizer is not this model's; nothing \
                 was written",
                ck.display()
            );
        }
        let start = Instant::now();
        let bar = crate::progress::count_bar(
            pairs.len() as u64,
            &format!("blimp {}", id.milestone),
            "pairs",
        );
        let pairs_per_seq = pairs.len() as f64 / enc.seqs.len() as f64;
        let mut seqs_done = 0usize;
        let sums = score::score(
            &model,
            &enc.seqs,
            ScoreOptions {
                batch_tokens: o.batch_tokens,
                compute,
            },
            |n| {
                seqs_done += n;
                bar.set_position((seqs_done as f64 * pairs_per_seq) as u64);
            },
        )?;
        bar.finish_and_clear();
        let secs = start.elapsed().as_secs_f64();
        let scores = pair_scores(&pairs, enc, &sums);
        if let Some(bad) = scores
            .iter()
            .find(|p| !(p.logp_good.is_finite() && p.logp_bad.is_finite()))
        {
            bail!(
                "{}: paradigm {} pair {}: log-probability {} / {} is not finite: the weights are damaged or the model diverged; nothing was written",
                ck.display(),
                bad.paradigm,
                bad.pair_id,
                bad.logp_good,
                bad.logp_bad
            );
        }
        let rows = out::write(&dest, &id, &cfg, &scores)?;
        let correct: i64 = rows.iter().map(|r| r.correct).sum();
        let accuracy = correct as f64 / pairs.len() as f64;
        let pairs_per_s = pairs.len() as f64 / secs.max(1e-9);
        info!(
            checkpoint = %ck.display(),
            accuracy = format!("{accuracy:.4}"),
            pairs_per_s = format!("{pairs_per_s:.0}"),
            "BLiMP → {}",
            dest.display()
        );
        done.push(Evaluated {
            checkpoint: id.checkpoint.clone(),
            results: dest,
            accuracy: Some(accuracy),
            pairs_per_s: Some(pairs_per_s),
        });
    }
    Ok(done)
}

fn pair_scores(pairs: &[Pair], enc: &Encoded, sums: &[f64]) -> Vec<PairScore> {
    pairs
        .iter()
        .enumerate()
        .map(|(i, p)| PairScore {
            paradigm: p.paradigm.clone(),
            pair_id: p.pair_id.clone(),
            field: p.field.clone(),
            linguistics_term: p.linguistics_term.clone(),
            logp_good: sums[enc.good[i]],
            logp_bad: sums[enc.bad[i]],
            n_tokens_good: enc.seqs[enc.good[i]].len() as i64 - 1,
            n_tokens_bad: enc.seqs[enc.bad[i]].len() as i64 - 1,
        })
        .collect()
}
