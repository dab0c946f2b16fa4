//! The on-disk layout, the contract between the stages, declared once: where a run's folder is and
//! what it holds ([`RunLayout`]), what a checkpoint folder holds ([`checkpoint`]), the training
//! log ([`metrics`]), and where results go ([`results`]: [`ResultLayout`]). Each file format sits beside its reader.

pub mod card;
pub mod checkpoint;
pub mod meta;
pub mod metrics;
pub mod results;

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::identity::{schedule_suffix, CheckpointLabel, RunKey};
use super::units::Anchor;
pub use checkpoint::Checkpoint;
pub use results::{ResultLayout, ResultPlace};

/// The run's claim on its folder: which run, trained with which configuration.
pub const RUN_RECORD_FILE: &str = "run.json";
/// The advisory lock the training rank holds for the run's life.
pub const LOCK_FILE: &str = "run.lock";
/// One JSON object per logged step.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// TensorBoard's event files (training's and each evaluation's).
pub const TENSORBOARD_DIR: &str = "tb";
/// The current resume state; the one before it is kept beside it as `resume.prev/`.
pub const RESUME_DIR: &str = "resume";

/// A run's folder and what lives in it:
///
/// ```text
/// <output>/models/<dataset>/llama-<size>/tokenizer-<V>-seed-<S>[-wsd]/[budget-<M>M/]
///     run.json  run.lock  metrics.jsonl  tb/  resume/  resume.prev/
///     init/  milestone-<M>M/ …  final/      (checkpoint folders)
///     branch-<M>M/  branch-<M>M.prev/      (a WSD trunk's states for its budget runs)
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RunLayout {
    dir: PathBuf,
}

impl RunLayout {
    /// The study's folder of the run `key` under `output_dir`.
    pub fn of(output_dir: &Path, key: &RunKey) -> RunLayout {
        let dir = output_dir
            .join("models")
            .join(&key.dataset)
            .join(format!("llama-{}", key.model))
            .join(format!(
                "tokenizer-{}-seed-{}{}",
                key.vocab_size,
                key.seed,
                schedule_suffix(key.schedule, "-")
            ));
        let dir = match key.anchor {
            Anchor::Full => dir,
            Anchor::Budget(m) => dir.join(format!("budget-{m}M")),
        };
        RunLayout { dir }
    }

    /// A run folder found elsewhere (a flag, a manifest).
    pub fn at(dir: impl Into<PathBuf>) -> RunLayout {
        RunLayout { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folder of checkpoint `label`.
    pub fn checkpoint(&self, label: CheckpointLabel) -> PathBuf {
        self.dir.join(label.to_string())
    }

    /// The resume state's folder.
    pub fn resume(&self) -> PathBuf {
        self.dir.join(RESUME_DIR)
    }

    /// The resume state before the current one (kept until the next one is complete).
    pub fn resume_prev(&self) -> PathBuf {
        self.dir.join(format!("{RESUME_DIR}.prev"))
    }

    /// Where a WSD trunk keeps the state its `anchor` budget run starts from.
    pub fn branch_state(&self, anchor: Anchor) -> PathBuf {
        self.dir.join(format!("branch-{anchor}"))
    }

    pub fn lock(&self) -> PathBuf {
        self.dir.join(LOCK_FILE)
    }

    pub fn metrics(&self) -> PathBuf {
        self.dir.join(METRICS_FILE)
    }

    /// TensorBoard's folder of the run: training's and every evaluation's event files.
    pub fn tensorboard(&self) -> PathBuf {
        self.dir.join(TENSORBOARD_DIR)
    }

    pub fn run_record(&self) -> PathBuf {
        self.dir.join(RUN_RECORD_FILE)
    }

    /// The run's checkpoints in token order ([`checkpoint::run_checkpoints`]).
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        checkpoint::run_checkpoints(&self.dir)
    }

    /// Tokens of the last line of `metrics.jsonl`, if any.
    pub fn tokens_reached(&self) -> Option<u64> {
        metrics::tokens_reached(&self.metrics())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ScheduleKind;

    #[test]
    fn run_folders_follow_the_study() {
        let mut key = RunKey {
            dataset: "babylm".into(),
            model: "60m".into(),
            vocab_size: 8000,
            seed: 2,
            anchor: Anchor::Full,
            schedule: ScheduleKind::Cosine,
        };
        let run = RunLayout::of(Path::new("out"), &key);
        assert_eq!(
            run.dir(),
            Path::new("out/models/babylm/llama-60m/tokenizer-8000-seed-2")
        );
        assert_eq!(
            run.checkpoint(CheckpointLabel::Final),
            run.dir().join("final")
        );
        assert_eq!(run.metrics(), run.dir().join("metrics.jsonl"));
        key.anchor = "25M".parse().unwrap();
        key.schedule = ScheduleKind::Wsd;
        let run = RunLayout::of(Path::new("out"), &key);
        assert_eq!(
            run.dir(),
            Path::new("out/models/babylm/llama-60m/tokenizer-8000-seed-2-wsd/budget-25M")
        );
        assert_eq!(run.branch_state(key.anchor), run.dir().join("branch-25M"));
    }
}
