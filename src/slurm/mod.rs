//! Slurm: the study as array jobs. [`render`] turns the plan into one training array and one
//! evaluation array per resource group plus an aggregate job, from the [`template`]s in `slurm/`;
//! [`launch`] writes them with a [`manifest`] and [`submit`]s them chained (train → `aftercorr` →
//! eval → `afterany` → aggregate) through a [`scheduler`]; [`status`] reads back where every run
//! stands, and [`resubmit`] runs again what failed. With `launch --race`, each rung's evaluation
//! arrays wait for their milestone checkpoints and a decision job ([`race`]) stops the losers.
//! Array task ids are always the plan's task indices.

pub mod array;
pub mod launch;
pub mod manifest;
pub mod race;
pub mod render;
pub mod resubmit;
pub mod scheduler;
pub mod status;
pub mod submit;
pub mod template;

pub use crate::config::{GpuRequest, SlurmSettings};
pub use launch::{launch, LaunchOptions, Launched};
pub use manifest::Manifest;
pub use resubmit::{resubmit_failed, Resubmitted};
pub use scheduler::{Scheduler, Slurm};
pub use status::{status, StatusReport, TaskState};
pub use template::Stage;
