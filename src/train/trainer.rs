//! One run's training, constructed then run. [`Trainer::new`] prepares everything before the first
//! step: the run's data and this rank's share, the run folder (taken by the main rank; a finished
//! run is noticed), the model, the schedule and the checkpointer. [`Trainer::run`] ends at once for
//! a finished or `--init-only` run, waits for a WSD budget run's trunk state, restores the resume
//! state into a [`TrainState`], runs the loop and saves `final/`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use tch::nn;
use tracing::info;

use super::branch::{self, Branched};
use super::checkpointer::Checkpointer;
use super::config::{Outcome, TrainConfig};
use super::data::{Batches, RankShare, RunData};
use super::early_stop::EarlyStopping;
use super::logger::{Logger, LoggerStart};
use super::optim::AdamW;
use super::profile::StepProfiler;
use super::resume::ResumeDir;
use super::run_dir::{ConfigFingerprint, RunDir};
use super::schedule::{AfterWarmup, Schedule};
use super::state::TrainState;
use super::step::{train_step, StepOptions};
use super::validate::{EvalWindows, Validator};
use crate::config::layout::metrics::Metrics;
use crate::config::memory::MicroBatching;
use crate::config::ModelShape;
use crate::config::{Anchor, EvalTokens, MilestoneStore, Run, RunLayout};
use crate::device::Compute;
use crate::dist::World;
use crate::hub::publisher::Publisher;
use crate::hub::Credentials;
use crate::io::tensorboard::EventWriter;
use crate::model::kernels::launcher;
use crate::model::{weights, Llama, LlamaConfig};

/// A run ready to train on one rank of `world`.
pub struct Trainer<'w> {
    cfg: TrainConfig,
    world: &'w World,
    data: RunData,
    micro: MicroBatching,
    share: RankShare,
    total: u64,
    compute: Compute,
    config_sha256: String,
    /// `final/` of a run trained before (not for `--init-only`).
    finished: Option<PathBuf>,
    schedule: Schedule,
    vs: nn::VarStore,
    model: Llama,
    checkpointer: Checkpointer<'w>,
}

/// The model of `shape` with `vocab` tokens on `device`, initialised from `seed`: drawn on the
/// CPU and copied, the same weights on every rank, every resume and every device.
pub fn init_model(
    shape: &ModelShape,
    vocab: u32,
    seed: u64,
    device: tch::Device,
) -> Result<(nn::VarStore, Llama)> {
    let config = LlamaConfig::from_shape(shape, vocab);
    weights::seeded(seed as i64, device, |vs| Llama::new(vs, &config))
}

/// Optimizer steps of the run: the budget's, or `epochs` passes over the training tokens.
fn total_steps(run: &Run, train_tokens: u64) -> u64 {
    run.max_steps
        .unwrap_or_else(|| run.epochs as u64 * (train_tokens / run.tokens_per_step).max(1))
}

impl<'w> Trainer<'w> {
    /// The run of `cfg` as one rank of `world`: its data, its folder (taken by the main rank), the
    /// seeded model, the schedule and the checkpointer (publishing to the Hub when configured).
    pub fn new(cfg: &TrainConfig, world: &'w World) -> Result<Trainer<'w>> {
        let (run, s) = (&cfg.run, &cfg.settings);
        let data = RunData::open(&cfg.data_dir, cfg.data, run)?;
        let micro = MicroBatching::plan(
            run.batch_size,
            run.grad_accum,
            world.size() as u32,
            s.max_micro_batch,
            cfg.allow_uneven,
        )
        .map_err(|e| anyhow!("{}: {e}", run.run_id))?;
        if micro.split > 1 {
            info!(
                micro_batch = micro.size,
                passes = micro.count,
                "micro-batches of {} cut in {} (train.max_micro_batch = {})",
                run.batch_size,
                micro.split,
                s.max_micro_batch
            );
        }
        let share = RankShare::new(micro.size, world, cfg.allow_uneven)?;
        let total = total_steps(run, data.train.len());
        if total == 0 {
            bail!("{}: the run has no optimizer step to take", run.run_id);
        }
        let mut dir = RunDir::create(&run.output_dir)?;
        let compute = Compute::new(cfg.device, s.precision)?;
        let config_sha256 = ConfigFingerprint::of(
            cfg,
            data.vocab,
            total,
            compute.precision(),
            &data.tokenizer_sha256,
        )
        .sha256()?;
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
        let finished = dir.finished()?.filter(|_| !cfg.init_only);
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
        let (vs, mut model) = init_model(
            &cfg.preset.model,
            data.vocab,
            cfg.seeds().init,
            compute.device,
        )?;
        launcher::choose(
            &mut model,
            s.kernels,
            compute.device,
            compute.bf16,
            s.kernels_dir.as_deref(),
        )?;
        let mut checkpointer =
            Checkpointer::new(cfg, dir, total, model.config.clone(), &data, world);
        let publish = s.milestone_store == MilestoneStore::Hf && world.is_main();
        if publish && finished.is_none() {
            let creds = Credentials::load(Path::new(".env"))?;
            checkpointer.publish_to(Publisher::start(&run.output_dir, creds, s.hub_public)?);
        }
        Ok(Trainer {
            cfg: cfg.clone(),
            world,
            data,
            micro,
            share,
            total,
            compute,
            config_sha256,
            finished,
            schedule,
            vs,
            model,
            checkpointer,
        })
    }

    /// Trains to the end, or until `stop` (SIGUSR1/SIGTERM on any rank) at the same step on every
    /// rank. Only the main rank writes.
    pub fn run(mut self, stop: &AtomicBool) -> Result<Outcome> {
        if let Some(done) = self.finished.take() {
            // A run stopped right after writing `final/` left its resume state behind.
            self.checkpointer.clear_resume()?;
            return Ok(Outcome::AlreadyDone(done));
        }
        let push_wait = Duration::from_secs(self.cfg.settings.push_wait);
        if self.cfg.init_only {
            let init = self.checkpointer.save_init(&weights::variables(&self.vs))?;
            self.checkpointer.finish_pushes(push_wait);
            return Ok(init);
        }
        if let AfterWarmup::Wsd { start, .. } = self.schedule.after_warmup {
            let why = "beyond the trunk's own decay start";
            self.checkpointer.drop_branch_points_after(start, why)?;
        }
        if matches!(self.take_trunk_state(stop)?, Branched::Stopped) {
            return Ok(Outcome::Interrupted { step: 0 });
        }
        let mut state = self.restore()?;
        let mut logger = self.logger(&state)?;
        let (run, world, total) = (&self.cfg.run, self.world, self.total);
        let t = &self.cfg.preset.training;
        let seeds = self.cfg.seeds();
        let eval_windows = match (self.cfg.settings.eval_tokens, run.anchor_tokens) {
            (EvalTokens::First(n), _) => EvalWindows::First(n),
            (EvalTokens::Budget10, None) => EvalWindows::First(0),
            // The study's rule: int(0.1 · budget) // seq_len windows, drawn by the run's seed.
            (EvalTokens::Budget10, Some(budget)) => EvalWindows::Sample {
                windows: budget.0 / 10 / u64::from(run.seq_len),
                seed: run.key.seed,
            },
        };
        let validator = Validator::new(
            self.data.dev,
            run.seq_len as usize + 1,
            self.share.rows,
            eval_windows,
            t.eval_every,
            self.compute,
        );
        info!(
            data_seed = seeds.data,
            init_seed = seeds.init,
            eval_tokens = validator.tokens(),
            "data order, initialisation and evaluation set"
        );
        let batches = Batches::new(
            self.data.train,
            run,
            (seeds.data, self.cfg.settings.batches),
            (self.micro, self.share),
            self.compute.device,
        );
        let options = StepOptions {
            compute: self.compute,
            max_grad_norm: t.max_grad_norm,
            comm: self.cfg.settings.comm_dtype,
            loss_scale: self.share.loss_scale,
        };

        let done = (state.progress.step, total);
        let cuda = self.compute.is_cuda();
        let mut profiler = StepProfiler::of(self.cfg.profile.as_ref(), done, world.rank(), cuda)?;

        while state.progress.step < total {
            profiler.before_step(state.progress.step + 1)?;
            state.lr = self.schedule.lr_at(state.progress.step);
            state.opt.set_lr(state.lr);
            let micro_batches = batches.of_step(state.progress.step);
            let loss_sum = logger.loss_sum();
            let out = train_step(
                &self.model,
                &mut state.opt,
                world,
                micro_batches,
                loss_sum,
                options,
            )?;
            state.progress.advance(run.tokens_per_step);
            let (step, last) = (state.progress.step, state.progress.step == total);

            let mut record = logger.log(step, last, state.lr, &out, world)?;
            if let Some(loss) = record.as_ref().and_then(|r| r.loss) {
                state.progress.last_train_loss = Some(loss);
            }
            let mut stop_early = false;
            if validator.should_validate(step, last) {
                let eval = validator.validate(&self.model, world)?;
                logger.eval(&mut record, step, state.lr, eval);
                stop_early = state.observe(eval);
            }
            logger.write(record.as_ref(), step)?;

            let stopping = world.any(stop.load(Ordering::SeqCst));
            profiler.after_step(step, last || stop_early || stopping)?;
            self.checkpointer
                .at_step(&mut state, &mut logger, stopping)?;
            if stopping && !last {
                return Ok(self.checkpointer.interrupted(step));
            }
            if stop_early {
                if world.is_main() {
                    let best_step = state.progress.early_stop.best_step;
                    info!(step, best_step, "early stopping");
                }
                break;
            }
        }
        logger.finish();
        let p = &state.progress;
        let (weights, step, eval) =
            state
                .early
                .final_choice(&p.early_stop, &state.params, p.step, p.last_eval_loss);
        let lr = self.schedule.lr_at(step.saturating_sub(1));
        let losses = [p.last_train_loss, eval];
        let finished =
            self.checkpointer
                .save_final(weights, step, lr, losses, logger.last_norm())?;
        self.checkpointer.finish_pushes(push_wait);
        Ok(finished)
    }

    /// A WSD budget run: the main rank takes its trunk's state (waiting for it at most
    /// `branch_wait`, or until `stop`); every rank learns the answer.
    fn take_trunk_state(&self, stop: &AtomicBool) -> Result<Branched> {
        let run = &self.cfg.run;
        let wait = Duration::from_secs(self.cfg.settings.branch_wait);
        let took = match self.world.is_main() {
            true => {
                let own = ResumeDir::new(&run.output_dir);
                branch::take_trunk_state(run, &own, &self.config_sha256, wait, stop)
            }
            false => Ok(Branched::No),
        };
        if self.world.any(took.is_err()) {
            return Err(took
                .err()
                .unwrap_or_else(|| anyhow!("rank 0 could not take the branch state")));
        }
        let stopped = matches!(took, Ok(Branched::Stopped));
        Ok(match self.world.any(stopped) {
            true => Branched::Stopped,
            false => took.unwrap_or(Branched::No),
        })
    }

    /// The state to train from: the newest valid resume state loaded into the model and
    /// optimizer, or a fresh one; every rank has read it before the main rank may replace it.
    fn restore(&mut self) -> Result<TrainState> {
        let run = &self.cfg.run;
        let params = weights::variables(&self.vs);
        let t = &self.cfg.preset.training;
        let mut opt = AdamW::for_training(&params, t, run.weight_decay);
        let (progress, best) =
            self.checkpointer
                .restore(&self.vs, &mut opt, &self.config_sha256)?;
        self.world.barrier();
        let full = run.key.anchor == Anchor::Full;
        Ok(TrainState {
            progress,
            params,
            opt,
            lr: 0.0,
            early: EarlyStopping::new(&self.cfg.settings, full, best),
        })
    }

    /// The logger, continuing `metrics.jsonl` and the pending loss sums from `state`.
    fn logger(&self, state: &TrainState) -> Result<Logger> {
        let (run, world, p) = (&self.cfg.run, self.world, &state.progress);
        let layout = RunLayout::at(run.output_dir.clone());
        let (metrics, board) = match world.is_main() {
            true => {
                let metrics =
                    Metrics::open(&layout.metrics(), p.metrics_bytes, run.run_id.as_str())?;
                let mut board = EventWriter::create(&layout.tensorboard(), "train")?;
                if p.step > 0 {
                    // Just past the state's own step: what was logged up to it stays.
                    board.restart(p.step * run.tokens_per_step + 1)?;
                }
                (Some(metrics), Some(board))
            }
            false => (None, None),
        };
        let start = LoggerStart {
            step: p.step,
            total: self.total,
            pending_loss: p.pending_loss,
            pending_steps: p.pending_steps,
        };
        let device = self.compute.device;
        info!(
            rank = world.rank(),
            world = world.size(),
            run = %run.run_id,
            params = state.params.values().map(|p| p.numel() as u64).sum::<u64>(),
            steps = self.total,
            tokens_per_step = run.tokens_per_step,
            precision = ?self.compute.precision(),
            "training on {device:?}"
        );
        Ok(Logger::new(
            world,
            metrics,
            board,
            start,
            self.cfg.settings.log_every,
            run.tokens_per_step,
            device,
            run.run_id.as_str(),
            &layout.resume(),
        ))
    }
}
