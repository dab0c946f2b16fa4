//! lmeff: data-efficiency studies of small LLaMA-style language models on HPC clusters.
//!
//! The modules follow the pipeline, in the order data flows through them:
//! [`config`] (settings, model presets, the `configs.csv` matrix and its plan of runs) →
//! data → model → train → dist → eval → results → analysis → slurm (added issue by issue).
//! [`device`] makes libtorch's CPU or CUDA backend ready for the stages that compute.

pub mod config;
pub mod data;
pub mod device;
pub mod dist;
pub mod eval;
pub mod io;
pub mod model;
pub mod results;
pub mod train;
