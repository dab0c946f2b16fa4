//! Configuration, the bottom layer: layered [`settings`] with every stage's section ([`train`],
//! [`slurm`]), model [`preset`]s, the `configs.csv` [`matrix`] and its expansion into the [`plan`]
//! of runs, in the [`units`] every stage counts in. It imports no other stage.

pub mod aggregate;
pub mod data;
pub mod dataset;
pub mod device;
pub mod identity;
pub mod layout;
pub mod matrix;
pub mod memory;
pub mod origin;
pub mod plan;
pub mod preset;
pub mod race;
pub mod run;
pub mod settings;
pub mod slurm;
pub mod train;
pub mod units;
pub mod wsd;

pub use aggregate::{
    AggregateSettings, Band, FigureStyle, GlueMeasure, HeatmapScale, Phenomena, YScale,
};
pub use data::{DataSettings, Encoding, TokenizerRecipe};
pub use dataset::{is_folder_name, DatasetName};
pub use device::Device;
pub use identity::{schedule_suffix, CheckpointKey, CheckpointLabel, Configuration, RunId, RunKey};
pub use layout::RunLayout;
pub use matrix::{read_matrix, MatrixError, MatrixRow};
pub use plan::Plan;
pub use preset::{ModelPreset, ModelShape, Presets, TrainingDefaults};
pub use race::{GroupColumn, RaceSettings};
pub use run::{MilestoneStep, Run};
pub use settings::{BatchFrom, Settings, SettingsOverrides};
pub use slurm::{Benchmark, GpuRequest, SlurmSettings};
pub use train::{
    Accelerator, BatchOrder, BudgetFinal, CommDtype, DecayShape, EvalTokens, Kernels,
    MilestoneStore, Precision, ScheduleKind, SeedMode, Seeds, TrainSettings,
};
pub use units::{Anchor, Millions, SlurmTime, TokenCount, MIN_VOCAB};
