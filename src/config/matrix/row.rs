//! What a configs.csv record becomes: a validated row, or the problems found in it.

use crate::config::train::ScheduleKind;
use crate::config::units::{Anchor, SlurmTime};

/// One validated row of configs.csv.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixRow {
    /// 1-based line in the file (the header is line 1).
    pub line: u64,
    /// Model preset name (`configs/models/<model>.yaml`).
    pub model: String,
    /// Dataset folder name under `data_dir`.
    pub dataset: String,
    /// Passes over the training data for a full run.
    pub epochs: u32,
    /// Global batch in sequences; `None` = the preset's.
    pub batch_size: Option<u32>,
    /// Gradient-accumulation micro-steps; `None` = the preset's.
    pub grad_accum: Option<u32>,
    /// Tokens per training sequence.
    pub seq_length: u32,
    /// Anchors of this row, each its own run.
    pub anchors: Vec<Anchor>,
    /// Tokenizer vocabulary size.
    pub vocab_size: u32,
    /// GPUs (ranks) per node.
    pub gpus: u32,
    /// Nodes per run.
    pub nodes: u32,
    /// Slurm time limit for the run (`[D-]HH:MM:SS` or minutes), if given.
    pub time: Option<SlurmTime>,
    /// Seeds for this row; `None` = the settings' (or `--seeds`).
    pub seeds: Option<Vec<u64>>,
    /// `cosine` or `wsd`; `None` = the setting `train.schedule`.
    pub schedule: Option<ScheduleKind>,
}

/// One problem in one place of the matrix file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line.
    pub line: u64,
    /// 1-based column and its name, when the problem is in a cell.
    pub column: Option<(usize, String)>,
    /// What is wrong.
    pub message: String,
}
