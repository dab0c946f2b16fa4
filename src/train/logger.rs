//! The trainer's logger: decides when to log (`log_every` steps and the last), reduces the loss
//! over ranks and the steps since the last line, stops a run whose loss is not finite (the one
//! NaN check), measures tokens/s over training time only, writes the `metrics.jsonl` record and
//! its TensorBoard scalars (x axis: tokens) and drives the progress bar or the plain log lines.

use std::time::Instant;

use anyhow::{bail, Result};
use tch::Tensor;
use tracing::info;

use super::step::StepOutcome;
use crate::config::layout::metrics::{Metrics, Record};
use crate::dist::World;
use crate::io::tensorboard::EventWriter;
use crate::progress::StepProgress;

/// Where the loss, timings and records of a run go.
pub struct Logger {
    main: bool,
    log_every: u64,
    tokens_per_step: u64,
    /// The run's last step.
    total: u64,
    /// The fp32 device sum of the (scaled) losses since the last log line, and their count.
    loss_sum: Tensor,
    pending_steps: u64,
    comm_secs: f64,
    since: Instant,
    since_step: u64,
    last_norm: Option<f64>,
    metrics: Option<Metrics>,
    /// The run's TensorBoard event file (main rank).
    board: Option<EventWriter>,
    progress: StepProgress,
    /// Named by the error of a non-finite loss.
    run_id: String,
    resume_dir: std::path::PathBuf,
}

/// Where a resumed logger starts.
pub struct LoggerStart {
    pub step: u64,
    pub total: u64,
    pub pending_loss: f32,
    pub pending_steps: u64,
}

impl Logger {
    /// A logger for `run_id`; only the main rank has `metrics` and shows progress.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        world: &World,
        metrics: Option<Metrics>,
        board: Option<EventWriter>,
        start: LoggerStart,
        log_every: u64,
        tokens_per_step: u64,
        device: tch::Device,
        run_id: &str,
        resume_dir: &std::path::Path,
    ) -> Logger {
        let main = world.is_main();
        Logger {
            main,
            log_every,
            tokens_per_step,
            total: start.total,
            loss_sum: Tensor::from(start.pending_loss).to_device(device),
            pending_steps: start.pending_steps,
            comm_secs: 0.0,
            since: Instant::now(),
            since_step: start.step,
            last_norm: None,
            metrics,
            board,
            progress: StepProgress::new(if main { start.total } else { 0 }, start.step, main),
            run_id: run_id.to_owned(),
            resume_dir: resume_dir.to_owned(),
        }
    }

    /// The device scalar a step adds its loss to.
    pub fn loss_sum(&self) -> &Tensor {
        &self.loss_sum
    }

    /// Counts the step just taken; at a logging step (or the `last`), reduces the loss and
    /// returns the record. A loss that is not finite stops the run.
    pub fn log(
        &mut self,
        step: u64,
        last: bool,
        lr: f64,
        out: &StepOutcome,
        world: &World,
    ) -> Result<Option<Record>> {
        self.comm_secs += out.comm_secs;
        self.pending_steps += 1;
        if !step.is_multiple_of(self.log_every) && !last {
            return Ok(None);
        }
        let mut sum = [self.loss_sum.double_value(&[])];
        world.sum_f64(&mut sum);
        let loss = sum[0] / world.size() as f64 / self.pending_steps as f64;
        let _ = self.loss_sum.shallow_clone().zero_();
        self.pending_steps = 0;
        if !loss.is_finite() {
            bail!(
                "training loss is {loss} at step {step} of {}; stopping ({})",
                self.run_id,
                self.last_good_state()
            );
        }
        let secs = self.since.elapsed().as_secs_f64().max(1e-9);
        let tps = (step - self.since_step) as f64 * self.tokens_per_step as f64 / secs;
        let comm_share = world.is_distributed().then(|| self.comm_secs / secs);
        self.comm_secs = 0.0;
        self.reset_clock(step);
        self.last_norm = Some(out.norm.double_value(&[]));
        let tokens = step * self.tokens_per_step;
        if self.progress.is_bar() {
            let m = format!("{tokens} tokens  loss {loss:.4}  {tps:.0} tok/s");
            self.progress.update(step, Some(m));
        } else if self.main {
            let eta = self.total.saturating_sub(step) as f64 * self.tokens_per_step as f64 / tps;
            info!(
                step,
                of = self.total,
                pct = format!("{:.1}", 100.0 * step as f64 / self.total.max(1) as f64),
                eta = crate::progress::eta_text(eta),
                tokens,
                loss = format!("{loss:.4}"),
                lr = format!("{lr:.3e}"),
                tok_per_s = format!("{tps:.0}"),
                allreduce_share = comm_share.map(|c| format!("{c:.3}")),
                "train"
            );
        }
        Ok(Some(Record {
            step,
            tokens,
            loss: Some(loss),
            lr,
            grad_norm: self.last_norm,
            tokens_per_s: Some(tps),
            allreduce_share: comm_share,
            eval_loss: None,
            ..Default::default()
        }))
    }

    /// Adds an evaluation at `step` to its record (made when the step logged nothing else).
    pub fn eval(&mut self, record: &mut Option<Record>, step: u64, lr: f64, eval: f64) {
        if self.main {
            self.note(|| info!(step, eval_loss = format!("{eval:.4}"), "eval"));
        }
        let r = record.get_or_insert(Record {
            step,
            tokens: step * self.tokens_per_step,
            loss: None,
            lr,
            grad_norm: None,
            tokens_per_s: None,
            allreduce_share: None,
            eval_loss: None,
            ..Default::default()
        });
        r.eval_loss = Some(eval);
    }

    /// Writes the step's record (main rank) and moves the bar. Evaluation is not training time.
    pub fn write(&mut self, record: Option<&Record>, step: u64) -> Result<()> {
        if let (Some(r), Some(m)) = (record, self.metrics.as_mut()) {
            m.write(r)?;
        }
        if let (Some(r), Some(b)) = (record, self.board.as_mut()) {
            let v = |x: Option<f64>| x.unwrap_or(f64::NAN);
            b.scalars(
                r.tokens,
                &[
                    ("train/loss", v(r.loss)),
                    ("train/lr", r.lr),
                    ("train/grad_norm", v(r.grad_norm)),
                    ("train/tokens_per_s", v(r.tokens_per_s)),
                    ("eval/loss", v(r.eval_loss)),
                ],
            )?;
        }
        if record.is_some_and(|r| r.eval_loss.is_some()) {
            self.reset_clock(step);
        }
        self.progress.update(step, None);
        Ok(())
    }

    /// The mean over ranks of the loss not yet logged and its step count, for a resume state
    /// (each rank restarts from it, so the next log line is exact).
    pub fn pending(&self, step: u64, world: &World) -> Result<(f32, u64)> {
        let mut pending = [self.loss_sum.double_value(&[])];
        world.sum_f64(&mut pending);
        let loss = (pending[0] / world.size() as f64) as f32;
        if !loss.is_finite() {
            bail!(
                "training loss is not finite at step {step}; stopping ({})",
                self.last_good_state()
            );
        }
        Ok((loss, self.pending_steps))
    }

    /// Where the run would resume from, said as it is.
    fn last_good_state(&self) -> String {
        match self.resume_dir.is_dir() {
            true => format!(
                "the last good state is in {}; the same command resumes from it",
                self.resume_dir.display()
            ),
            false => "no state was saved before it, so the same command starts over; \
                      a lower learning rate may help"
                .to_owned(),
        }
    }

    /// Bytes of `metrics.jsonl` written so far (0 off the main rank).
    pub fn metrics_bytes(&self) -> u64 {
        self.metrics.as_ref().map_or(0, Metrics::bytes)
    }

    /// Restarts the tokens/s clock at `step` (after saving or evaluating).
    pub fn reset_clock(&mut self, step: u64) {
        self.since = Instant::now();
        self.since_step = step;
    }

    /// The gradient norm of the last log line.
    pub fn last_norm(&self) -> Option<f64> {
        self.last_norm
    }

    /// Runs `f` (which logs) with the bar out of the way.
    pub fn note<T>(&self, f: impl FnOnce() -> T) -> T {
        self.progress.suspend(f)
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.progress.finish();
    }
}
