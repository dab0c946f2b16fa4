//! The checkpointer: decides when a run saves and what. Checkpoints at the milestone steps
//! (`milestone-<M>M/`), the resume state every `save_every` steps, at every milestone and when a
//! stop signal arrives, the initialisation (`--init-only`) and the final checkpoint; the metadata
//! of every checkpoint is built here. Only the main rank writes; every rank reads the resume state.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tch::nn;
use tracing::{info, warn};

use super::config::{Outcome, TrainConfig};
use super::data::RunData;
use super::logger::Logger;
use super::optim::AdamW;
use super::resume::{ResumeDir, ResumeState};
use super::run_dir::RunDir;
use super::state::TrainState;
use crate::config::layout::meta::CheckpointMeta;
use crate::config::wsd::BranchPoint;
use crate::config::{CheckpointKey, CheckpointLabel};
use crate::config::{DataSettings, MilestoneStep, Run, SeedMode};
use crate::dist::World;
use crate::hub::publisher::Publisher;
use crate::model::checkpoint::save_checkpoint;
use crate::model::weights::{self, Weights};
use crate::model::LlamaConfig;

/// The file that says a branch point's state will never come (`<state dir>.unreachable`).
pub fn unreachable_note(state_dir: &std::path::Path) -> PathBuf {
    PathBuf::from(format!("{}.unreachable", state_dir.display()))
}

/// Saves a run's checkpoints and resume states.
pub struct Checkpointer<'w> {
    world: &'w World,
    run: Run,
    dir: RunDir,
    main: bool,
    milestones: Vec<MilestoneStep>,
    save_every: u64,
    resume: ResumeDir,
    model_cfg: LlamaConfig,
    tokenizer: PathBuf,
    /// Recorded in every checkpoint's metadata.
    seed_mode: SeedMode,
    data: DataSettings,
    started: Instant,
    /// WSD trunk: the branch points it passes (those beyond its own decay start are marked
    /// unreachable when the run starts).
    branch_points: Vec<BranchPoint>,
    /// `milestone_store = "hf"`: gets every checkpoint saved.
    publisher: Option<Publisher>,
}

impl<'w> Checkpointer<'w> {
    /// The checkpointer of `cfg`'s run of `total` steps in `dir`, on one rank of `world`.
    pub fn new(
        cfg: &TrainConfig,
        dir: RunDir,
        total: u64,
        model_cfg: LlamaConfig,
        data: &RunData,
        world: &'w World,
    ) -> Checkpointer<'w> {
        let run = &cfg.run;
        Checkpointer {
            world,
            milestones: run
                .milestone_steps
                .iter()
                .filter(|m| m.step <= total)
                .copied()
                .collect(),
            save_every: cfg.settings.save_every,
            resume: ResumeDir::new(dir.path()),
            run: run.clone(),
            dir,
            main: world.is_main(),
            model_cfg,
            tokenizer: data.tokenizer.clone(),
            seed_mode: cfg.settings.seed_mode,
            data: cfg.data,
            started: Instant::now(),
            branch_points: run.branch_points.clone(),
            publisher: None,
        }
    }

    /// Removes the resume state of a finished run (main rank).
    pub fn clear_resume(&self) -> Result<()> {
        match self.main {
            true => self.dir.clear_resume(),
            false => Ok(()),
        }
    }

    /// Hands every checkpoint saved from now on to `publisher` (main rank).
    pub fn publish_to(&mut self, publisher: Publisher) {
        self.publisher = Some(publisher);
    }

    /// Waits at most `wait` for the pushes under way.
    pub fn finish_pushes(&mut self, wait: Duration) {
        if let Some(p) = self.publisher.take() {
            p.finish(wait);
        }
    }

    /// Marks the branch points this trunk cannot serve (beyond `last`, the last step whose
    /// learning rate a budget run shares: its decay start, or its end); keeps the others.
    pub fn drop_branch_points_after(&mut self, last: u64, why: &str) -> Result<()> {
        let (keep, drop): (Vec<_>, Vec<_>) =
            self.branch_points.drain(..).partition(|b| b.step <= last);
        self.branch_points = keep;
        drop.iter().try_for_each(|b| self.note_unreachable(b, why))
    }

    /// Tells the budget run of `b` (main rank) that its branch state will never come, and why.
    fn note_unreachable(&self, b: &BranchPoint, why: &str) -> Result<()> {
        if !self.main {
            return Ok(());
        }
        let note = unreachable_note(&b.state_dir);
        fs_err::write(
            &note,
            format!(
                "step {} of {}: {why}; the {} run trains from the start\n",
                b.step, self.run.run_id, b.anchor
            ),
        )?;
        info!(anchor = %b.anchor, step = b.step, "{why}: {}", note.display());
        Ok(())
    }

    /// `milestone_meta.json` of checkpoint `name` at `step`.
    fn meta(
        &self,
        name: CheckpointLabel,
        step: u64,
        lr: f64,
        losses: [Option<f64>; 2],
    ) -> CheckpointMeta {
        let run = &self.run;
        CheckpointMeta {
            run_id: run.run_id.clone(),
            key: CheckpointKey {
                run: run.key.clone(),
                label: name,
            },
            model_vocab_size: self.model_cfg.vocab_size,
            tokens_seen: step * run.tokens_per_step,
            step,
            learning_rate: lr,
            train_loss: losses[0],
            eval_loss: losses[1],
            wall_time_s: self.started.elapsed().as_secs_f64(),
            lmeff_version: env!("CARGO_PKG_VERSION").into(),
            seed_mode: self.seed_mode,
            encoding: self.data.encoding,
            tokenizer_recipe: self.data.tokenizer_recipe,
        }
    }

    fn save(
        &self,
        name: CheckpointLabel,
        weights: &Weights,
        meta: &CheckpointMeta,
    ) -> Result<PathBuf> {
        let dir = save_checkpoint(
            &self.dir.checkpoint(name),
            weights,
            &self.model_cfg,
            &self.tokenizer,
            meta,
        )?;
        if let Some(p) = &self.publisher {
            p.offer(&dir);
        }
        Ok(dir)
    }

    /// Writes the seeded initialisation to `init/` and ends the run.
    pub fn save_init(&self, params: &Weights) -> Result<Outcome> {
        let dir = self.dir.checkpoint(CheckpointLabel::Init);
        if self.main {
            let meta = self.meta(CheckpointLabel::Init, 0, 0.0, [None, None]);
            self.save(CheckpointLabel::Init, params, &meta)?;
        }
        Ok(Outcome::Initialized(dir))
    }

    /// Loads the newest valid resume state into the model and optimizer: the state and the best
    /// weights so far, or a fresh state for a new run. The wall clock continues from it.
    pub fn restore(
        &mut self,
        vs: &nn::VarStore,
        opt: &mut AdamW,
        config_sha256: &str,
    ) -> Result<(ResumeState, Option<Weights>)> {
        let Some(r) = self.resume.load()? else {
            self.started = Instant::now();
            return Ok((
                ResumeState::fresh(self.run.run_id.as_str(), config_sha256),
                None,
            ));
        };
        if r.state.config_sha256 != config_sha256 {
            bail!(
                "{}: the resume state belongs to a different configuration of {}; delete {} to start over",
                r.from.display(), self.run.run_id, self.dir.path().display()
            );
        }
        let device = vs.device();
        let on_device = |m: Weights| -> Weights {
            m.into_iter()
                .map(|(k, v)| (k, v.to_device(device)))
                .collect()
        };
        // Stopped at a branch point after its own state and before the branch's (runs of
        // earlier versions saved them in that order): the resumed state is the branch's.
        for b in self
            .branch_points
            .iter()
            .filter(|b| self.main && b.step == r.state.step)
        {
            if !b.state_dir.exists() {
                ResumeDir::at(b.state_dir.clone()).save(
                    &r.state,
                    &r.model,
                    &r.optimizer,
                    r.best.as_ref(),
                )?;
                info!(step = b.step, anchor = %b.anchor, "branch point saved in {}", b.state_dir.display());
            }
        }
        weights::copy_into(vs, &r.model, &r.from)?;
        opt.load_state(&on_device(r.optimizer))
            .with_context(|| format!("{}: optimizer state", r.from.display()))?;
        if self.main {
            info!(run = %self.run.run_id, step = r.state.step, "resuming from {}", r.from.display());
        }
        self.started = Instant::now() - Duration::from_secs_f64(r.state.wall_time_s);
        Ok((r.state, r.best.map(on_device)))
    }

    /// After the trainer's step: the milestone checkpoint when one falls here; the resume state
    /// every `save_every` steps, at milestones, at branch points and when `stopping`.
    pub fn at_step(
        &mut self,
        state: &mut TrainState,
        logger: &mut Logger,
        stopping: bool,
    ) -> Result<()> {
        let (step, lr) = (state.progress.step, state.lr);
        let milestone = self.milestones.iter().find(|m| m.step == step).copied();
        if let Some(m) = milestone.filter(|_| self.main) {
            let name = CheckpointLabel::Milestone(m.millions);
            let p = &state.progress;
            let losses = [p.last_train_loss, p.last_eval_loss];
            self.save(name, &state.params, &self.meta(name, step, lr, losses))?;
            logger.note(|| info!(step, tokens = p.tokens, "saved {name}"));
        }
        let branching = self.branch_points.iter().any(|b| b.step == step);
        if !step.is_multiple_of(self.save_every) && milestone.is_none() && !branching && !stopping {
            return Ok(());
        }
        let p = &mut state.progress;
        (p.pending_loss, p.pending_steps) = logger.pending(step, self.world)?;
        p.metrics_bytes = logger.metrics_bytes();
        p.wall_time_s = self.started.elapsed().as_secs_f64();
        if self.main {
            let opt_state = state.opt.state();
            let (p, params, best) = (&state.progress, &state.params, state.early.best());
            // Branch states first: a run stopped between the two passes the step again.
            for b in self.branch_points.iter().filter(|b| b.step == step) {
                ResumeDir::at(b.state_dir.clone()).save(p, params, &opt_state, best)?;
                logger.note(|| info!(step, anchor = %b.anchor, "branch point saved in {}", b.state_dir.display()));
            }
            self.resume.save(p, params, &opt_state, best)?;
        }
        self.world.barrier();
        logger.reset_clock(step);
        Ok(())
    }

    /// The outcome of a run stopped by a signal at `step`, its state saved.
    pub fn interrupted(&self, step: u64) -> Outcome {
        if self.main {
            warn!(
                step,
                "stop signal: state saved in {}; exiting with 75 to be requeued",
                self.dir.resume().display()
            );
        }
        Outcome::Interrupted { step }
    }

    /// Writes `final/` (main rank) and drops the resume state.
    pub fn save_final(
        &self,
        weights: &Weights,
        step: u64,
        lr: f64,
        losses: [Option<f64>; 2],
        last_norm: Option<f64>,
    ) -> Result<Outcome> {
        let world = self.world;
        let name = CheckpointLabel::Final;
        if !self.main {
            world.barrier();
            return Ok(Outcome::Finished(self.dir.checkpoint(name)));
        }
        let dir = self.save(name, weights, &self.meta(name, step, lr, losses))?;
        let why = format!("the trunk ended at step {step} before it");
        for b in self.branch_points.iter().filter(|b| !b.state_dir.exists()) {
            self.note_unreachable(b, &why)?;
        }
        self.dir.clear_resume()?;
        info!(run = %self.run.run_id, step, last_norm, "final checkpoint {}", dir.display());
        world.barrier();
        Ok(Outcome::Finished(dir))
    }
}
