//! Training one run of the plan: [`trainer::Trainer`] is constructed (the run's data and folder,
//! the model, the checkpointer), then run (the resume state, then the loop — learning rate → step
//! → log → validate / early stop → checkpoint → stop). Each component decides when it acts:
//! [`logger::Logger`] (`log_every`), [`validate::Validator`] (`eval_every`),
//! [`early_stop::EarlyStopping`] (full runs), [`checkpointer::Checkpointer`] (milestones,
//! `save_every`, stop signals); what they act on is the trainer's [`state::TrainState`].
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
pub mod profile;
pub mod resume;
pub mod run_dir;
pub mod run_lock;
pub mod schedule;
pub mod state;
pub mod step;
pub mod trainer;
pub mod validate;

use std::sync::atomic::AtomicBool;

use anyhow::Result;

pub use crate::config::{Precision, TrainSettings};
use crate::dist::World;
pub use config::{Outcome, TrainConfig};
pub use trainer::init_model;
use trainer::Trainer;

/// Runs (or resumes) training as one rank of `world`. `stop` is set by SIGUSR1/SIGTERM; a stop on
/// any rank stops all of them at the same step. Only the main rank writes.
pub fn train(cfg: &TrainConfig, world: &World, stop: &AtomicBool) -> Result<Outcome> {
    Trainer::new(cfg, world)?.run(stop)
}
