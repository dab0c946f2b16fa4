//! Configuration: layered [`settings`], model [`preset`]s, the `configs.csv` [`matrix`] and its
//! expansion into the [`plan`] of runs, in the [`units`] every stage counts in.

pub mod matrix;
pub mod plan;
pub mod preset;
pub mod settings;
pub mod units;

pub use matrix::{read_matrix, MatrixError, MatrixRow};
pub use plan::{run_output_dir, Milestone, Plan, Run, RunId};
pub use preset::{ModelPreset, ModelShape, Presets, TrainingDefaults};
pub use settings::{Settings, SettingsOverrides};
pub use units::{Anchor, Millions, TokenCount};
