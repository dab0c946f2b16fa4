//! Training one run of the plan. [`train`] reads top to bottom: the run's data and folder, the
//! model and optimizer, the resume state, then the loop — learning rate → step → log → validate /
//! early stop → checkpoint → stop. Each component decides when it acts: [`logger::Logger`]
//! (`log_every`), [`validate::Validator`] (`eval_every`), [`early_stop::EarlyStopping`] (full
//! runs), [`checkpointer::Checkpointer`] (milestones, `save_every`, stop signals).
//!
//! Every random draw is a function of (seed, step): the initial weights of the seed, the data
//! windows of [`crate::data::tokens::TokenFile::random_windows`]. Nothing else is random (no
//! dropout), so a run resumed from `resume/` computes exactly what the uninterrupted run computes.

pub mod branch;
pub mod checkpointer;
pub mod config;
pub mod data;
pub mod early_stop;
pub mod logger;
pub mod optim;
pub mod resume;
pub mod run_dir;
pub mod run_lock;
pub mod schedule;
pub mod step;
pub mod validate;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{anyhow, bail, Result};
use tch::nn;
use tracing::info;

use crate::config::layout::metrics::Metrics;
use crate::config::{Anchor, MilestoneStore, ModelShape, Run, RunLayout};
pub use crate::config::{Precision, TrainSettings};
use crate::device::Compute;
use crate::dist::World;
use crate::hub::publisher::Publisher;
use crate::hub::Credentials;
use crate::model::{weights, Llama, LlamaConfig};
use checkpointer::Checkpointer;
pub use config::{Outcome, TrainConfig};
use data::{Batches, RankShare, RunData};
use early_stop::EarlyStopping;
use logger::{Logger, LoggerStart};
use optim::AdamW;
use resume::ResumeDir;
use run_dir::{ConfigFingerprint, RunDir};
use schedule::{AfterWarmup, Schedule};
use step::{train_step, StepOptions};
use validate::Validator;

/// Optimizer steps of the run: the budget's, or `epochs` passes over the training tokens.
fn total_steps(run: &Run, train_tokens: u64) -> u64 {
    run.max_steps
        .unwrap_or_else(|| run.epochs as u64 * (train_tokens / run.tokens_per_step).max(1))
}

/// The model of `shape` with `vocab` tokens on `device`, initialised from `seed` (the same draw
/// on every rank and every resume).
pub fn init_model(
    shape: &ModelShape,
    vocab: u32,
    seed: u64,
    device: tch::Device,
) -> Result<(nn::VarStore, Llama)> {
    tch::manual_seed(seed as i64);
    let vs = nn::VarStore::new(device);
    let model = Llama::new(&vs, &LlamaConfig::from_shape(shape, vocab))?;
    Ok((vs, model))
}

/// Runs (or resumes) training as one rank of `world`. `stop` is set by SIGUSR1/SIGTERM; a stop on
/// any rank stops all of them at the same step. Only the main rank writes.
pub fn train(cfg: &TrainConfig, world: &World, stop: &AtomicBool) -> Result<Outcome> {
    let (run, s, t) = (&cfg.run, &cfg.settings, &cfg.preset.training);
    let data = RunData::open(&cfg.data_dir, run)?;
    let share = RankShare::new(run.batch_size, world, cfg.allow_uneven)?;
    let total = total_steps(run, data.train.len());
    if total == 0 {
        bail!("{}: the run has no optimizer step to take", run.run_id);
    }
    let mut dir = RunDir::create(&run.output_dir)?;
    let compute = Compute::new(cfg.device, s.precision)?;
    let fingerprint = ConfigFingerprint::of(
        cfg,
        data.vocab,
        total,
        compute.precision(),
        &data.tokenizer_sha256,
    );
    let config_sha256 = fingerprint.sha256()?;
    let taken = match world.is_main() {
        true => dir.take(cfg, &config_sha256, total),
        false => Ok(()),
    };
    if world.any(taken.is_err()) {
        return Err(taken.err().unwrap_or_else(|| {
            anyhow!(
                "rank 0 could not take the run folder {} (its error is in rank 0's output)",
                run.output_dir.display()
            )
        }));
    }
    if let Some(done) = dir.finished()?.filter(|_| !cfg.init_only) {
        // A run stopped right after writing `final/` left its resume state behind.
        if world.is_main() {
            dir.clear_resume()?;
        }
        return Ok(Outcome::AlreadyDone(done));
    }

    let schedule = Schedule {
        peak: run.learning_rate,
        warmup: run.warmup_steps,
        total,
        after_warmup: AfterWarmup::of(
            run.key.schedule,
            total,
            run.warmup_steps,
            s.cooldown_fraction,
            s.decay,
        ),
    };
    let (vs, model) = init_model(&cfg.preset.model, data.vocab, run.key.seed, compute.device)?;
    let params = weights::variables(&vs);
    let resume_dir = dir.resume();
    let mut checkpointer = Checkpointer::new(cfg, dir, total, model.config.clone(), &data, world);
    if s.milestone_store == MilestoneStore::Hf && world.is_main() {
        let creds = Credentials::load(Path::new(".env"))?;
        checkpointer.publish_to(Publisher::start(&run.output_dir, creds, s.hub_public)?);
    }
    let push_wait = std::time::Duration::from_secs(s.push_wait);
    if cfg.init_only {
        let init = checkpointer.save_init(&params)?;
        checkpointer.finish_pushes(push_wait);
        return Ok(init);
    }
    if let AfterWarmup::Wsd { start, .. } = schedule.after_warmup {
        checkpointer.drop_branch_points_after(start, "beyond the trunk's own decay start")?;
    }
    let wait = std::time::Duration::from_secs(s.branch_wait);
    let took = match world.is_main() {
        true => {
            let own = ResumeDir::new(&run.output_dir);
            branch::take_trunk_state(run, &own, &config_sha256, wait, stop)
        }
        false => Ok(branch::Branched::No),
    };
    if world.any(took.is_err()) {
        return Err(took
            .err()
            .unwrap_or_else(|| anyhow!("rank 0 could not take the branch state")));
    }
    if world.any(matches!(took, Ok(branch::Branched::Stopped))) {
        return Ok(Outcome::Interrupted { step: 0 });
    }
    let mut opt = AdamW::for_training(&params, t, run.weight_decay);
    let (mut state, best) = checkpointer.restore(&vs, &mut opt, &config_sha256)?;
    // Every rank has read the state before the main rank may replace it.
    world.barrier();
    let metrics = match world.is_main() {
        true => Some(Metrics::open(
            &RunLayout::at(run.output_dir.clone()).metrics(),
            state.metrics_bytes,
        )?),
        false => None,
    };
    let start = LoggerStart {
        step: state.step,
        total,
        pending_loss: state.pending_loss,
        pending_steps: state.pending_steps,
    };
    let (device, id) = (compute.device, run.run_id.as_str());
    let mut logger = Logger::new(
        world,
        metrics,
        start,
        s.log_every,
        run.tokens_per_step,
        device,
        id,
        &resume_dir,
    );
    info!(
        rank = world.rank(),
        world = world.size(),
        run = %run.run_id,
        params = params.values().map(|p| p.numel() as u64).sum::<u64>(),
        steps = total,
        tokens_per_step = run.tokens_per_step,
        precision = ?compute.precision(),
        "training on {device:?}"
    );
    let mut early = EarlyStopping::new(s, run.key.anchor == Anchor::Full, best);
    let window = run.seq_len as usize + 1;
    let validator = Validator::new(
        data.dev,
        window,
        share.rows,
        s.eval_tokens,
        t.eval_every,
        compute,
    );
    let batches = Batches::new(data.train, run, share, device);
    let options = StepOptions {
        compute,
        max_grad_norm: t.max_grad_norm,
        comm: s.comm_dtype,
        loss_scale: share.loss_scale,
    };

    while state.step < total {
        let lr = schedule.lr_at(state.step);
        opt.set_lr(lr);
        let micro_batches = batches.of_step(state.step);
        let out = train_step(
            &model,
            &mut opt,
            world,
            micro_batches,
            logger.loss_sum(),
            options,
        )?;
        state.advance(run.tokens_per_step);
        let (step, last) = (state.step, state.step == total);

        let mut record = logger.log(step, last, lr, &out, world)?;
        if let Some(loss) = record.as_ref().and_then(|r| r.loss) {
            state.last_train_loss = Some(loss);
        }
        let mut stop_early = false;
        if validator.should_validate(step, last) {
            let eval = validator.validate(&model, world)?;
            state.last_eval_loss = Some(eval);
            logger.eval(&mut record, step, lr, eval);
            stop_early = early.observe(&mut state.early_stop, eval, step, state.tokens, &params);
        }
        logger.write(record.as_ref(), step)?;

        let stopping = world.any(stop.load(Ordering::SeqCst));
        let best = early.best();
        checkpointer.at_step(
            step,
            lr,
            stopping,
            &mut state,
            &params,
            &opt,
            best,
            &mut logger,
            world,
        )?;
        if stopping && !last {
            return Ok(checkpointer.interrupted(step));
        }
        if stop_early {
            if world.is_main() {
                info!(
                    step,
                    best_step = state.early_stop.best_step,
                    "early stopping"
                );
            }
            break;
        }
    }

    logger.finish();
    let (weights, step, eval) =
        early.final_choice(&state.early_stop, &params, state.step, state.last_eval_loss);
    let lr = schedule.lr_at(step.saturating_sub(1));
    let losses = [state.last_train_loss, eval];
    let finished = checkpointer.save_final(weights, step, lr, losses, logger.last_norm(), world)?;
    checkpointer.finish_pushes(push_wait);
    Ok(finished)
}
