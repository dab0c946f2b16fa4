//! Training one run of the plan: batches from the token files, the LLaMA model, fused AdamW with
//! the cosine schedule, evaluation on the dev tokens, checkpoints at the milestone steps, the final
//! checkpoint, and exact resumption.
//!
//! Every random draw is a function of (seed, step): the initial weights of the seed, the data
//! windows of [`TokenFile::random_windows`]. Nothing else is random (no dropout), so a run resumed
//! from `resume/` computes exactly what the uninterrupted run computes.

pub mod checkpoint;
pub mod metrics;
pub mod optim;
pub mod schedule;
pub mod settings;
pub mod step;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tch::{nn, Tensor};
use tracing::{info, warn};

use crate::config::{Anchor, ModelPreset, Run};
use crate::data::layout::{DatasetDir, Split};
use crate::data::tokenizer::load_tokenizer;
use crate::data::tokens::TokenFile;
use crate::device::Device;
use crate::dist::World;
use crate::io::{sha256_file, sha256_hex, write_json_atomic};
use crate::model::llama::next_token_loss;
use crate::model::{weights, Llama, LlamaConfig};
use checkpoint::{save_checkpoint, CheckpointMeta, EarlyStop, ResumeDir, ResumeState};
use metrics::{Metrics, Progress, Record};
use optim::{AdamW, AdamWConfig};
use schedule::lr_at;
pub use settings::{Precision, TrainSettings};
use step::{train_step, StepOptions};

/// Everything one training run needs, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct TrainConfig {
    pub run: Run,
    pub preset: ModelPreset,
    pub settings: TrainSettings,
    /// `data_dir` of the settings (the dataset is `run.dataset` under it).
    pub data_dir: PathBuf,
    #[serde(skip)]
    pub device: Device,
    /// Write only the initial weights (`init/`) and stop.
    #[serde(skip)]
    pub init_only: bool,
    /// Accept a world size that does not divide the global batch (ranks get unequal shares).
    #[serde(skip)]
    pub allow_uneven: bool,
}

/// How a call to [`train`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Trained to the end; the final checkpoint.
    Finished(PathBuf),
    /// `final/` already existed for this run: nothing to do.
    AlreadyDone(PathBuf),
    /// A stop signal arrived; the state was saved at this step (exit code 75: requeue me).
    Interrupted { step: u64 },
    /// `--init-only`: the initial weights.
    Initialized(PathBuf),
}

/// The settings that define the computation: a resume state must match them.
#[derive(Serialize)]
struct Identity<'a> {
    run_id: &'a str,
    model: &'a crate::config::ModelShape,
    vocab: u32,
    seq_len: u32,
    seed: u64,
    batch_size: u32,
    grad_accum: u32,
    total_steps: u64,
    learning_rate: f64,
    weight_decay: f64,
    warmup_steps: u64,
    training: &'a crate::config::TrainingDefaults,
    precision: Precision,
    tokenizer_sha256: &'a str,
}

/// The data a run reads.
struct Data {
    tokenizer: PathBuf,
    tokenizer_sha256: String,
    vocab: u32,
    train: TokenFile,
    dev: TokenFile,
}

fn open_data(cfg: &TrainConfig) -> Result<Data> {
    let run = &cfg.run;
    let ds = DatasetDir::new(&cfg.data_dir, &run.dataset);
    let tokenizer = ds.tokenizer_path(run.vocab_size);
    let hint = format!(
        "run `lmeff data prepare --dataset {} --vocab-sizes {}`",
        run.dataset, run.vocab_size
    );
    if !tokenizer.is_file() {
        bail!("tokenizer {} not found: {hint}", tokenizer.display());
    }
    let tokenizer_sha256 = sha256_file(&tokenizer)?;
    let vocab = load_tokenizer(&tokenizer)?.get_vocab_size(true) as u32;
    let open = |split| {
        let bin = ds.token_file(run.vocab_size, split);
        if !bin.is_file() {
            bail!("token file {} not found: {hint}", bin.display());
        }
        let file = TokenFile::open(&bin, Some(&tokenizer_sha256))?;
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
    Ok(Data {
        train: open(Split::Train)?,
        dev: open(Split::Dev)?,
        tokenizer,
        tokenizer_sha256,
        vocab,
    })
}

/// Optimizer steps of the run: the budget's, or `epochs` passes over the training tokens.
fn total_steps(run: &Run, train_tokens: u64) -> u64 {
    run.max_steps
        .unwrap_or_else(|| run.epochs as u64 * (train_tokens / run.tokens_per_step).max(1))
}

/// Norm weights get no weight decay.
fn decays(name: &str) -> bool {
    !name.ends_with("norm.weight")
}

/// This rank's rows of each micro-batch: `start .. start + count` of the global batch, and the loss
/// scale that makes the average over ranks the global mean (1 when the world divides the batch).
fn rank_rows(batch: u32, world: &World, allow_uneven: bool) -> Result<(u64, usize, f64)> {
    let (b, n, r) = (batch as u64, world.size() as u64, world.rank() as u64);
    if b % n != 0 && !allow_uneven {
        bail!(
            "the global batch of {batch} sequences is not divisible by the {n} ranks; use a world size that divides it, or --allow-uneven"
        );
    }
    if b < n {
        bail!("the global batch of {batch} sequences is smaller than the {n} ranks");
    }
    let start = r * b / n;
    let count = (r + 1) * b / n - start;
    Ok((start, count as usize, (count * n) as f64 / b as f64))
}

/// Runs (or resumes) training as one rank of `world`. `stop` is set by SIGUSR1/SIGTERM; a stop on
/// any rank stops all of them at the same step. Only the main rank writes.
pub fn train(cfg: &TrainConfig, world: &World, stop: &AtomicBool) -> Result<Outcome> {
    let run = &cfg.run;
    let s = &cfg.settings;
    let main = world.is_main();
    let data = open_data(cfg)?;
    let (first_row, per_rank, loss_scale) = rank_rows(run.batch_size, world, cfg.allow_uneven)?;
    let total = total_steps(run, data.train.len());
    let milestones: Vec<_> = run
        .milestone_steps
        .iter()
        .filter(|m| m.step <= total)
        .copied()
        .collect();
    let out = &run.output_dir;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;

    let device = cfg.device.activate()?;
    let cuda = device.is_cuda();
    let bf16 = s.precision.bf16_on(cuda);
    let precision = if bf16 {
        Precision::Bf16
    } else {
        Precision::Fp32
    };
    let identity = serde_json::to_vec(&Identity {
        run_id: run.run_id.as_str(),
        model: &cfg.preset.model,
        vocab: data.vocab,
        seq_len: run.seq_len,
        seed: run.seed,
        batch_size: run.batch_size,
        grad_accum: run.grad_accum,
        total_steps: total,
        learning_rate: run.learning_rate,
        weight_decay: run.weight_decay,
        warmup_steps: run.warmup_steps,
        training: &cfg.preset.training,
        precision,
        tokenizer_sha256: &data.tokenizer_sha256,
    })?;
    let config_sha256 = sha256_hex(&identity);
    if main {
        claim_output(out, cfg, &config_sha256, total)?;
    }
    world.barrier();
    let final_dir = out.join("final");
    if final_dir.join(checkpoint::MODEL_FILE).is_file() && !cfg.init_only {
        checkpoint::verify(&final_dir)?;
        return Ok(Outcome::AlreadyDone(final_dir));
    }

    tch::manual_seed(run.seed as i64);
    let vs = nn::VarStore::new(device);
    let model_cfg = LlamaConfig::from_shape(&cfg.preset.model, data.vocab);
    let model = Llama::new(&vs, &model_cfg)?;
    let params = weights::variables(&vs);
    let meta = |name: &str, step: u64, lr: f64, train_loss, eval_loss, wall| CheckpointMeta {
        run_id: run.run_id.to_string(),
        name: name.to_owned(),
        dataset: run.dataset.clone(),
        model: run.model.clone(),
        seed: run.seed,
        anchor: run.anchor.clone(),
        vocab_size: run.vocab_size,
        model_vocab_size: data.vocab,
        tokens_seen: step * run.tokens_per_step,
        step,
        learning_rate: lr,
        train_loss,
        eval_loss,
        wall_time_s: wall,
        lmeff_version: env!("CARGO_PKG_VERSION").into(),
    };
    if cfg.init_only {
        if !main {
            return Ok(Outcome::Initialized(out.join("init")));
        }
        let dir = save_checkpoint(
            &out.join("init"),
            &params,
            &model_cfg,
            &data.tokenizer,
            &meta("init", 0, 0.0, None, None, 0.0),
        )?;
        return Ok(Outcome::Initialized(dir));
    }

    let t = &cfg.preset.training;
    let mut opt = AdamW::new(
        &params,
        AdamWConfig {
            beta1: t.adam_beta1,
            beta2: t.adam_beta2,
            eps: t.adam_epsilon,
            weight_decay: run.weight_decay,
        },
        decays,
    );
    let resume = ResumeDir::new(out);
    let mut state = ResumeState {
        run_id: run.run_id.to_string(),
        config_sha256: config_sha256.clone(),
        step: 0,
        tokens: 0,
        early_stop: EarlyStop::default(),
        metrics_bytes: 0,
        wall_time_s: 0.0,
        last_train_loss: None,
        last_eval_loss: None,
        pending_loss: 0.0,
        pending_steps: 0,
    };
    let full = run.anchor_kind == Anchor::Full;
    let mut best: Option<std::collections::BTreeMap<String, Tensor>> = None;
    if let Some(r) = resume.load()? {
        if r.state.config_sha256 != config_sha256 {
            bail!(
                "{}: the resume state belongs to a different configuration of {}; delete {} to start over",
                r.from.display(), run.run_id, out.display()
            );
        }
        weights::copy_into(&vs, &r.model, &r.from)?;
        opt.load_state(
            &r.optimizer
                .into_iter()
                .map(|(k, v)| (k, v.to_device(device)))
                .collect(),
        )
        .with_context(|| format!("{}: optimizer state", r.from.display()))?;
        best = r.best.map(|b| {
            b.into_iter()
                .map(|(k, v)| (k, v.to_device(device)))
                .collect()
        });
        if main {
            info!(run = %run.run_id, step = r.state.step, "resuming from {}", r.from.display());
        }
        state = r.state;
    }
    // Every rank has read the state before the main rank may replace it.
    world.barrier();
    let mut metrics = match main {
        true => Some(Metrics::open(
            &out.join("metrics.jsonl"),
            state.metrics_bytes,
        )?),
        false => None,
    };
    info!(
        rank = world.rank(),
        world = world.size(),
        run = %run.run_id,
        params = params.values().map(|p| p.numel() as u64).sum::<u64>(),
        steps = total,
        tokens_per_step = run.tokens_per_step,
        precision = ?precision,
        "training on {device:?}"
    );

    let step_options = StepOptions {
        bf16,
        cuda,
        max_grad_norm: t.max_grad_norm,
        comm: s.comm_dtype,
        loss_scale,
    };
    let window = run.seq_len as usize + 1;
    let mut comm_secs = 0f64;
    let loss_sum = Tensor::from(state.pending_loss).to_device(device);
    let mut logged_steps = state.pending_steps;
    let mut since = Instant::now();
    let mut since_step = state.step;
    let started = Instant::now() - std::time::Duration::from_secs_f64(state.wall_time_s);
    let mut last_norm = None;
    let progress = Progress::new(if main { total } else { 0 }, state.step, main);
    while state.step < total {
        let step = state.step;
        let lr = lr_at(step, run.learning_rate, run.warmup_steps, total);
        opt.set_lr(lr);
        // Micro-batch m of the step is rows m·batch … of the global batch; this rank reads its share.
        let batches = (0..run.grad_accum).map(|micro| {
            let first = micro as u64 * run.batch_size as u64 + first_row;
            let ids = data
                .train
                .random_windows(run.seed, step, first, per_rank, window)?;
            Ok(Tensor::from_slice(&ids)
                .view([per_rank as i64, window as i64])
                .to_device(device))
        });
        let norm = train_step(
            &model,
            &mut opt,
            world,
            batches,
            &loss_sum,
            &mut comm_secs,
            step_options,
        )?;
        state.step += 1;
        state.tokens = state.step * run.tokens_per_step;
        logged_steps += 1;
        let step = state.step;
        let last = step == total;

        let mut record = None;
        if step % s.log_every == 0 || last {
            let mut sum = [loss_sum.double_value(&[])];
            world.sum_f64(&mut sum);
            let loss = sum[0] / world.size() as f64 / logged_steps as f64;
            let _ = loss_sum.shallow_clone().zero_();
            logged_steps = 0;
            if !loss.is_finite() {
                bail!(
                    "training loss is {loss} at step {step} of {}; stopping (the last good state is in {})",
                    run.run_id, out.join("resume").display()
                );
            }
            let secs = since.elapsed().as_secs_f64();
            let tps = (step - since_step) as f64 * run.tokens_per_step as f64 / secs.max(1e-9);
            let comm_share = world.is_distributed().then(|| comm_secs / secs.max(1e-9));
            comm_secs = 0.0;
            since = Instant::now();
            since_step = step;
            last_norm = Some(norm.double_value(&[]));
            state.last_train_loss = Some(loss);
            let tokens = state.tokens;
            if progress.is_bar() {
                progress.update(
                    step,
                    Some(format!("{tokens} tokens  loss {loss:.4}  {tps:.0} tok/s")),
                );
            } else if main {
                info!(
                    step,
                    tokens,
                    loss = format!("{loss:.4}"),
                    lr = format!("{lr:.3e}"),
                    tok_per_s = format!("{tps:.0}"),
                    allreduce_share = comm_share.map(|c| format!("{c:.3}")),
                    "train"
                );
            }
            record = Some(Record {
                step,
                tokens: state.tokens,
                loss: Some(loss),
                lr,
                grad_norm: last_norm,
                tokens_per_s: Some(tps),
                allreduce_share: comm_share,
                eval_loss: None,
            });
        }
        let mut stop_early = false;
        if step % t.eval_every == 0 || last {
            let eval = evaluate(
                &model,
                &data.dev,
                world,
                window,
                per_rank,
                s.eval_tokens,
                device,
                bf16,
                cuda,
            )?;
            state.last_eval_loss = Some(eval);
            if main {
                progress.suspend(|| info!(step, eval_loss = format!("{eval:.4}"), "eval"));
            }
            let r = record.get_or_insert(Record {
                step,
                tokens: state.tokens,
                loss: None,
                lr,
                grad_norm: None,
                tokens_per_s: None,
                allreduce_share: None,
                eval_loss: None,
            });
            r.eval_loss = Some(eval);
            if full {
                stop_early = early_stopping(&mut state.early_stop, eval, step, state.tokens, s);
                if state.early_stop.best_step == step {
                    best = Some(
                        params
                            .iter()
                            .map(|(k, v)| (k.clone(), v.detach().copy()))
                            .collect(),
                    );
                }
            }
        }
        if let (Some(r), Some(m)) = (&record, metrics.as_mut()) {
            m.write(r)?;
        }
        let wall = started.elapsed().as_secs_f64();
        let milestone = milestones.iter().find(|m| m.step == step);
        if let Some(m) = milestone.filter(|_| main) {
            let name = format!("milestone-{}M", m.millions);
            save_checkpoint(
                &out.join(&name),
                &params,
                &model_cfg,
                &data.tokenizer,
                &meta(
                    &name,
                    step,
                    lr,
                    state.last_train_loss,
                    state.last_eval_loss,
                    wall,
                ),
            )?;
            progress.suspend(|| info!(step, tokens = state.tokens, "saved {name}"));
        }
        progress.update(step, None);
        let stopping = world.any(stop.load(Ordering::SeqCst));
        let save = step % s.save_every == 0 || milestone.is_some() || stopping;
        if save {
            // The mean over ranks (each rank restarts from it, so the next log line is exact).
            let mut pending = [loss_sum.double_value(&[])];
            world.sum_f64(&mut pending);
            state.pending_loss = (pending[0] / world.size() as f64) as f32;
            state.pending_steps = logged_steps;
            if !state.pending_loss.is_finite() {
                bail!(
                    "training loss is not finite at step {step}; keeping the last good state in {}",
                    out.join("resume").display()
                );
            }
            state.metrics_bytes = metrics.as_ref().map_or(0, Metrics::bytes);
            state.wall_time_s = wall;
            if main {
                resume.save(&state, &params, &opt.state(), best.as_ref())?;
            }
            world.barrier();
        }
        if save || record.as_ref().is_some_and(|r| r.eval_loss.is_some()) {
            // Evaluation and saving are not training time.
            since = Instant::now();
            since_step = step;
        }
        if stopping && !last {
            if !main {
                return Ok(Outcome::Interrupted { step });
            }
            warn!(
                step,
                "stop signal: state saved in {}; exiting with 75 to be requeued",
                out.join("resume").display()
            );
            return Ok(Outcome::Interrupted { step });
        }
        if stop_early {
            if main {
                info!(
                    step,
                    best_step = state.early_stop.best_step,
                    "early stopping"
                );
            }
            break;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    progress.finish();
    if !main {
        world.barrier();
        return Ok(Outcome::Finished(final_dir));
    }
    let (final_weights, final_step) = match (&best, full) {
        (Some(b), true) => (b, state.early_stop.best_step),
        _ => (&params, state.step),
    };
    let lr = lr_at(
        final_step.saturating_sub(1),
        run.learning_rate,
        run.warmup_steps,
        total,
    );
    let eval = if full {
        state.early_stop.best_eval
    } else {
        state.last_eval_loss
    };
    let dir = save_checkpoint(
        &final_dir,
        final_weights,
        &model_cfg,
        &data.tokenizer,
        &meta("final", final_step, lr, state.last_train_loss, eval, wall),
    )?;
    for d in ["resume", "resume.prev"] {
        let p = out.join(d);
        if p.exists() {
            std::fs::remove_dir_all(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    info!(run = %run.run_id, step = final_step, last_norm, "final checkpoint {}", dir.display());
    world.barrier();
    Ok(Outcome::Finished(dir))
}

/// Records this run in `run.json` in its folder; a folder holding a different run is refused.
fn claim_output(out: &Path, cfg: &TrainConfig, config_sha256: &str, total: u64) -> Result<()> {
    #[derive(Serialize, serde::Deserialize)]
    struct RunRecord {
        run_id: String,
        config_sha256: String,
        total_steps: u64,
        #[serde(default)]
        config: serde_json::Value,
    }
    let path = out.join("run.json");
    if path.is_file() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let old: RunRecord =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if old.config_sha256 != config_sha256 {
            bail!(
                "{} holds run {} trained with a different configuration (or different data); refusing to mix them: move it away or use another output_dir",
                out.display(), old.run_id
            );
        }
        return Ok(());
    }
    write_json_atomic(
        &path,
        &RunRecord {
            run_id: cfg.run.run_id.to_string(),
            config_sha256: config_sha256.to_owned(),
            total_steps: total,
            config: serde_json::to_value(cfg)?,
        },
    )
}

/// The study's early stopping for full runs: track the best eval loss; once past
/// `early_stopping_after` tokens, count evaluations that do not improve on the best by more than
/// the threshold, and stop after `patience` of them. Returns whether to stop.
fn early_stopping(
    es: &mut EarlyStop,
    eval: f64,
    step: u64,
    tokens: u64,
    s: &TrainSettings,
) -> bool {
    let improved_enough = es
        .best_eval
        .is_none_or(|b| eval < b - s.early_stopping_threshold);
    if es.best_eval.is_none_or(|b| eval < b) {
        es.best_eval = Some(eval);
        es.best_step = step;
    }
    if tokens < s.early_stopping_after.tokens().0 {
        return false;
    }
    if improved_enough {
        es.bad_evals = 0;
    } else {
        es.bad_evals += 1;
    }
    es.bad_evals >= s.early_stopping_patience
}

/// Mean next-token loss over the first `max_tokens` of `dev` (all when 0), in consecutive windows
/// shared out over the ranks.
#[allow(clippy::too_many_arguments)]
fn evaluate(
    model: &Llama,
    dev: &TokenFile,
    world: &World,
    window: usize,
    batch: usize,
    max_tokens: u64,
    device: tch::Device,
    bf16: bool,
    cuda: bool,
) -> Result<f64> {
    let starts: Vec<u64> = dev
        .sequential_starts(window)
        .take(if max_tokens == 0 {
            usize::MAX
        } else {
            (max_tokens as usize).div_ceil(window - 1).max(1)
        })
        .enumerate()
        .filter(|(i, _)| i % world.size() == world.rank())
        .map(|(_, s)| s)
        .collect();
    let (mut sum, mut count) = (0f64, 0u64);
    tch::no_grad(|| -> Result<()> {
        for chunk in starts.chunks(batch) {
            let mut ids = Vec::with_capacity(chunk.len() * window);
            for &s in chunk {
                dev.window_into(s, window, &mut ids);
            }
            let ids = Tensor::from_slice(&ids)
                .view([chunk.len() as i64, window as i64])
                .to_device(device);
            let input = ids.narrow(1, 0, window as i64 - 1);
            let target = ids.narrow(1, 1, window as i64 - 1);
            let f = || next_token_loss(&model.forward(&input), &target);
            let loss = if bf16 {
                optim::autocast_bf16(cuda, f)?
            } else {
                f()
            };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_stopping_waits_for_the_token_threshold_then_for_patience() {
        let s = TrainSettings {
            early_stopping_after: crate::config::Millions::new(1.0).unwrap(),
            early_stopping_patience: 2,
            ..Default::default()
        };
        let mut es = EarlyStop::default();
        // Before 1M tokens, no stopping however flat the loss.
        for step in 1..=5 {
            assert!(!early_stopping(&mut es, 3.0, step, 1000, &s));
        }
        assert_eq!((es.best_eval, es.best_step), (Some(3.0), 1));
        // Past it: an improvement below the threshold does not reset patience, but is the best.
        assert!(!early_stopping(&mut es, 2.9995, 6, 2_000_000, &s));
        assert_eq!(es.best_step, 6);
        assert!(early_stopping(&mut es, 3.1, 7, 2_100_000, &s));
        // A real improvement resets the count.
        let mut es = EarlyStop::default();
        assert!(!early_stopping(&mut es, 3.0, 1, 2_000_000, &s));
        assert!(!early_stopping(&mut es, 3.5, 2, 2_000_000, &s));
        assert!(!early_stopping(&mut es, 2.0, 3, 2_000_000, &s));
        assert_eq!(es.bad_evals, 0);
    }
}
