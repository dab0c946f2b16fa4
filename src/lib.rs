//! lmeff: data-efficiency studies of small LLaMA-style language models on HPC clusters.
//!
//! The modules follow the pipeline, in the order data flows through them:
//! [`config`] (settings, model presets, the `configs.csv` matrix and its plan of runs) →
//! [`data`] (fetch, clean, tokenizers, token files) → [`model`] (the LLaMA decoder, HF checkpoints)
//! → [`hub`] (checkpoints published to and pulled from the Hugging Face Hub)
//! → [`train`] (the training loop, checkpoints, resume) with [`dist`] (ranks, all-reduce) →
//! [`eval`] (BLiMP) → [`results`] (Parquet and lm-eval files) → [`analysis`] (tables,
//! predictiveness), with [`slurm`] rendering and submitting the whole study as array jobs. [`device`] makes libtorch's CPU or CUDA backend ready for the
//! stages that compute; [`io`] holds atomic writes and hashes, [`rng`] the seeded hashes,
//! [`progress`] the shared progress bars.
//!
//! The stages that compute (`shim`, `device`, `dist`, `model`, `train`, `eval`) need libtorch and
//! are behind the `torch` feature (on by default); everything else builds without it.

/// `lmeff --version`: the version, the git commit and date of the build, the libtorch it links
/// and its features (recorded by `build.rs`).
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("BUILD_LMEFF_COMMIT"),
    "\nbuilt: ",
    env!("BUILD_LMEFF_DATE"),
    "\nlibtorch: ",
    env!("BUILD_LMEFF_LIBTORCH"),
    "\nfeatures: ",
    env!("BUILD_LMEFF_FEATURES"),
);

pub mod analysis;
pub mod config;
pub mod data;
#[cfg(feature = "torch")]
pub mod device;
#[cfg(feature = "torch")]
pub mod dist;
#[cfg(feature = "torch")]
pub mod eval;
pub mod hub;
pub mod io;
#[cfg(feature = "torch")]
pub mod model;
pub mod progress;
pub mod results;
pub mod rng;
#[cfg(feature = "torch")]
pub mod shim;
pub mod slurm;
#[cfg(feature = "torch")]
pub mod train;
