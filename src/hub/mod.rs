//! The Hugging Face Hub as a checkpoint store: publishing a run's checkpoints as the study's
//! revision branches ([`push`], in the background while training with [`publisher`]), and pulling
//! released checkpoints into the standard cache to score them ([`pull`]). Names are in [`names`],
//! credentials in [`credentials`], the calls themselves in [`client`].

pub mod client;
pub mod credentials;
pub mod download;
pub mod names;
pub mod publisher;
pub mod pull;
pub mod push;
pub mod upload;

pub use client::Hub;
pub use credentials::Credentials;
pub use names::{Branch, RepoId};
