//! BLiMP evaluation of checkpoints: the study's scoring (`<s>` + sentence, summed token
//! log-probabilities, good > bad strictly), fast (distinct sentences once, length-sorted batches
//! without padding, only the target log-probabilities kept), written as Parquet and
//! lm-evaluation-harness JSON by [`crate::results::blimp`].

pub mod blimp_data;
pub mod checkpoint;
pub mod glue;
pub mod identity;
pub mod score;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Result};
use tracing::info;

use crate::config::layout::checkpoint::TOKENIZER_FILE;
use crate::config::Precision;
use crate::device::{Compute, Device};
use crate::model::Llama;
use crate::results::blimp::{self as out, EvalConfig, PairScore};
use blimp_data::Pair;
use checkpoint::Ready;
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
/// per distinct tokenizer and prefix-space setting ([`checkpoint::Ready::encoding`]). With `out`,
/// `run_layout` puts each checkpoint's files in `out/<milestone>/` (a Hub checkpoint's in
/// `out/<revision>/`).
/// Adds a checkpoint's scores at its `tokens` to the TensorBoard run of its run folder (one
/// with `metrics.jsonl`), in an event file of this evaluation; nothing for a lone checkpoint.
pub fn to_tensorboard(
    checkpoint: &Path,
    what: &str,
    tokens: u64,
    values: &[(&str, f64)],
) -> Result<()> {
    let Some(run) = checkpoint.parent() else {
        return Ok(());
    };
    let layout = crate::config::RunLayout::at(run);
    if !layout.metrics().is_file() {
        return Ok(());
    }
    let label = checkpoint.file_name().unwrap_or_default().to_string_lossy();
    let role = format!("{what}-{label}");
    crate::io::tensorboard::EventWriter::create(&layout.tensorboard(), &role)?
        .scalars(tokens, values)
}

pub fn evaluate(
    checkpoints: &[Target],
    o: &EvalOptions,
    run_layout: bool,
) -> Result<Vec<Evaluated>> {
    let ready = checkpoints
        .iter()
        .map(|target| {
            let r = Ready::new(target)?;
            let dest = blimp_destination(&r, o, run_layout)?;
            Ok((r, dest))
        })
        .collect::<Result<Vec<_>>>()?;
    let pairs = blimp_data::load(&o.blimp_dir, &o.paradigms)?;
    let compute = Compute::new(o.device, o.precision)?;
    let mut encoded: HashMap<String, Encoded> = HashMap::new();
    let mut done = Vec::new();
    // The last checkpoint's pairs/s: where the next bar's ETA starts.
    let mut prior_rate = None;
    for (r, dest) in ready {
        let (ck, id, prefix_space) = (r.dir(), &r.id, r.prefix_space);
        let tok_path = ck.join(TOKENIZER_FILE);
        let (sha, tok_sha) = (r.weights_sha256.clone(), r.tokenizer_sha256.clone());
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
        let encoding = r.encoding();
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
        let bar = crate::progress::eval_bar(
            pairs.len() as u64,
            &format!("blimp {}", id.milestone),
            "pairs",
            prior_rate,
        );
        let pairs_per_seq = pairs.len() as f64 / enc.seqs.len() as f64;
        let mut seqs_done = 0usize;
        let what = format!("BLiMP {}", ck.display());
        let mut lines = crate::progress::LineProgress::new(&what, "pairs", pairs.len() as u64);
        let sums = score::score(
            &model,
            &enc.seqs,
            ScoreOptions {
                batch_tokens: o.batch_tokens,
                compute,
            },
            |n| {
                seqs_done += n;
                let pairs_done = (seqs_done as f64 * pairs_per_seq) as u64;
                bar.set_position(pairs_done);
                lines.update(pairs_done);
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
        let rows = out::write(&dest, id, &cfg, &scores)?;
        let correct: i64 = rows.iter().map(|r| r.correct).sum();
        let accuracy = correct as f64 / pairs.len() as f64;
        let pairs_per_s = pairs.len() as f64 / secs.max(1e-9);
        prior_rate = Some(pairs_per_s);
        info!(
            checkpoint = %ck.display(),
            accuracy = format!("{accuracy:.4}"),
            pairs_per_s = format!("{pairs_per_s:.0}"),
            "BLiMP → {}",
            dest.display()
        );
        if let Some(tokens) = id.tokens_seen {
            to_tensorboard(ck, "blimp", tokens, &[("blimp/accuracy", accuracy)])?;
        }
        done.push(Evaluated {
            checkpoint: id.checkpoint.clone(),
            results: dest,
            accuracy: Some(accuracy),
            pairs_per_s: Some(pairs_per_s),
        });
    }
    Ok(done)
}

/// A checkpoint's BLiMP folder: under `--out` (a run's checkpoints each in a folder named by its
/// milestone, a Hub checkpoint's by its revision), else in the results layout (a foreign Hub
/// checkpoint's in the Hub fallback).
fn blimp_destination(r: &Ready, o: &EvalOptions, run_layout: bool) -> Result<PathBuf> {
    let hub = r.target.hub.as_ref();
    let name = run_layout.then(|| hub.map_or(&r.id.milestone, |h| &h.revision).as_str());
    let layout =
        r.id.results_dir(&o.results_dir)
            .or_else(|| hub.map(|h| identity::hub_fallback_dir(&o.results_dir, h)));
    let missing = " has no lmeff milestone_meta.json: say where results go with --out";
    let dest = checkpoint::destination(r.dir(), o.out.as_deref(), name, layout, missing)?;
    out::check_destination(&dest)?;
    Ok(dest)
}

fn pair_scores(pairs: &[Pair], enc: &Encoded, sums: &[f64]) -> Vec<PairScore> {
    pairs
        .iter()
        .enumerate()
        .map(|(i, p)| PairScore {
            paradigm: p.paradigm.clone(),
            pair_id: p.pair_id,
            field: p.field.clone(),
            linguistics_term: p.linguistics_term.clone(),
            logp_good: sums[enc.good[i]],
            logp_bad: sums[enc.bad[i]],
            n_tokens_good: enc.seqs[enc.good[i]].len() as i64 - 1,
            n_tokens_bad: enc.seqs[enc.bad[i]].len() as i64 - 1,
        })
        .collect()
}
