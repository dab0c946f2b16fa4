//! What one training job is ([`TrainConfig`]: the run, its preset and settings, resolved) and how
//! it ended ([`Outcome`]).

use std::path::PathBuf;

use serde::Serialize;

use super::profile::ProfileRequest;
use crate::config::{DataSettings, ModelPreset, Run, Seeds, TrainSettings};
use crate::device::Device;

/// Everything one training run needs, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct TrainConfig {
    pub run: Run,
    pub preset: ModelPreset,
    pub settings: TrainSettings,
    /// `data_dir` of the settings (the dataset is `run.dataset` under it).
    pub data_dir: PathBuf,
    /// Which tokenizer and token files of the dataset the run reads.
    pub data: DataSettings,
    #[serde(skip)]
    pub device: Device,
    /// Write only the initial weights (`init/`) and stop.
    #[serde(skip)]
    pub init_only: bool,
    /// Accept a world size that does not divide the global batch (ranks get unequal shares).
    #[serde(skip)]
    pub allow_uneven: bool,
    /// `--profile`: record a few steps with libtorch's profiler.
    #[serde(skip)]
    pub profile: Option<ProfileRequest>,
}

impl TrainConfig {
    /// The run's data-order and initialisation seeds (`train.seed_mode`).
    pub fn seeds(&self) -> Seeds {
        self.settings.seed_mode.seeds(self.run.key.seed)
    }
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
