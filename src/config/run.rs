//! One planned training run: what to train, how long, its milestones' steps and its folder.

use std::path::PathBuf;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::identity::{RunId, RunKey};
use super::units::{Millions, SlurmTime, TokenCount};
use super::wsd::{Branch, BranchPoint};

/// A checkpoint milestone of a run: after `tokens` tokens, i.e. at optimizer step `step`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MilestoneStep {
    /// The milestone in millions of tokens (its label).
    pub millions: Millions,
    /// Tokens that define it.
    pub tokens: TokenCount,
    /// ceil(tokens / tokens_per_step).
    pub step: u64,
}

/// Serialises milestones as an ordered JSON object `{"25": 382, "50": 763, …}`.
fn milestones_as_map<S: Serializer>(ms: &[MilestoneStep], s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(ms.len()))?;
    for m in ms {
        map.serialize_entry(&m.millions.to_string(), &m.step)?;
    }
    map.end()
}

/// One training run: what to train, how long, where its checkpoints go.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub run_id: RunId,
    /// Position in the plan: the Slurm array index.
    pub task_index: usize,
    /// configs.csv line the run comes from.
    pub source_line: u64,
    /// Dataset, model, tokenizer size, seed, anchor (`full`, `25M` in JSON) and schedule.
    #[serde(flatten)]
    pub key: RunKey,
    pub seq_len: u32,
    /// The budget in tokens; `null` for a full run.
    pub anchor_tokens: Option<TokenCount>,
    /// Epochs over the training data (full runs).
    pub epochs: u32,
    /// Global sequences per micro-step.
    pub batch_size: u32,
    pub grad_accum: u32,
    /// Ranks per node (GPUs) and nodes; `world = gpus × nodes`.
    pub gpus: u32,
    pub nodes: u32,
    pub world: u32,
    /// Sequences per rank per micro-step.
    pub per_rank_batch: u32,
    pub tokens_per_step: u64,
    /// The last optimizer step of a budget run; `null` for a full run.
    pub max_steps: Option<u64>,
    #[serde(serialize_with = "milestones_as_map")]
    pub milestone_steps: Vec<MilestoneStep>,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub warmup_steps: u64,
    /// WSD budget runs: the trunk state they start from.
    pub branch: Option<Branch>,
    /// WSD full runs: where their budget runs branch off.
    pub branch_points: Vec<BranchPoint>,
    /// Slurm time limit, if the row gives one.
    pub time: Option<SlurmTime>,
    /// Checkpoint folder of the run.
    pub output_dir: PathBuf,
}
