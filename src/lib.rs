//! lmeff: data-efficiency studies of small LLaMA-style language models on HPC clusters.
//!
//! The modules follow the pipeline, in the order data flows through them:
//! [`config`] (settings, model presets, the `configs.csv` matrix and its plan of runs) →
//! [`data`] (fetch, clean, tokenizers, token files) → [`model`] (the LLaMA decoder, HF checkpoints)
//! → [`hub`] (checkpoints published to and pulled from the Hugging Face Hub)
//! → [`train`] (the training loop, checkpoints, resume) with [`dist`] (ranks, all-reduce) →
//! [`eval`] (BLiMP) → [`results`] (Parquet and lm-eval files) → [`analysis`] (tables,
//! predictiveness), with [`slurm`] rendering and submitting the whole study as array jobs. [`device`] makes libtorch's CPU or CUDA backend ready for the
//! stages that compute; [`io`] holds atomic writes and hashes.

pub mod analysis;
pub mod config;
pub mod data;
pub mod device;
pub mod dist;
pub mod eval;
pub mod hub;
pub mod io;
pub mod model;
pub mod progress;
pub mod results;
pub mod rng;
pub mod shim;
pub mod slurm;
pub mod train;
