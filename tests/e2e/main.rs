//! The end-to-end tests: the real `lmeff` binary on real (tiny) data, real Slurm and real MPI, a
//! module per command (one test binary, so libtorch is linked once). `common` holds the shared
//! scaffolding: scratch studies, the prepared samples, the loopback HTTP servers (a file server and
//! a Hugging Face Hub on one core).
//!
//! Without the `torch` feature only `login_node` runs: the commands a login node has, on the
//! binary built without libtorch.

mod common;

#[cfg(feature = "torch")]
mod aggregate;
#[cfg(feature = "torch")]
mod data;
#[cfg(feature = "torch")]
mod decisions;
#[cfg(feature = "torch")]
mod demo;
#[cfg(feature = "torch")]
mod dist;
#[cfg(feature = "torch")]
mod eval;
#[cfg(feature = "torch")]
mod glue;
#[cfg(feature = "torch")]
mod gpu_check;
#[cfg(feature = "torch")]
mod hub;
#[cfg(feature = "torch")]
mod kernels;
mod login_node;
#[cfg(feature = "torch")]
mod plan;
#[cfg(feature = "torch")]
mod race;
#[cfg(feature = "torch")]
mod reliability;
#[cfg(feature = "torch")]
mod slurm;
#[cfg(feature = "torch")]
mod slurm_race;
#[cfg(feature = "torch")]
mod study;
#[cfg(feature = "torch")]
mod train;
#[cfg(feature = "torch")]
mod train_golden;
#[cfg(feature = "torch")]
mod wsd;
