//! The `[slurm]` section of the settings: what every rendered job asks the scheduler for, where the
//! templates, generated scripts and logs live, and extra arguments for each stage's lmeff command.

use std::path::PathBuf;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::units::SlurmTime;

/// Whether jobs ask for GPUs (`--gpus-per-node`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GpuRequest {
    /// When the `device` setting is CUDA.
    #[default]
    Auto,
    Always,
    Never,
}

/// A benchmark the eval stage runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Benchmark {
    /// `lmeff eval blimp`: one array per group.
    Blimp,
    /// `lmeff eval glue`: one array per group and GLUE task, so that tasks run side by side.
    Glue,
}

/// Slurm settings (`[slurm]` in `configs/lmeff.toml`, `LMEFF_SLURM__<KEY>` in the environment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlurmSettings {
    /// Templates `train.sbatch`, `eval.sbatch`, `aggregate.sbatch`; a missing file is replaced by
    /// the copy built into lmeff.
    pub templates_dir: PathBuf,
    /// `lmeff launch` writes each launch to `<generated_dir>/<UTC timestamp>/`.
    pub generated_dir: PathBuf,
    /// Job logs: `<logs_dir>/<stage>_<job>_<task>.out`.
    pub logs_dir: PathBuf,
    /// Sourced by every job before lmeff runs (libtorch's paths; written by `make setup`).
    pub env_file: PathBuf,
    /// The lmeff binary jobs run; empty = the binary that launches them.
    pub lmeff: PathBuf,
    /// Prefix of the job names (`<prefix>-train-0`, `<prefix>-eval-0`, `<prefix>-aggregate`).
    pub job_name: String,
    /// `--partition` of every stage; empty = the cluster's default.
    pub partition: String,
    /// `--partition` of the eval jobs; empty = `partition`.
    pub eval_partition: String,
    /// `--partition` of the aggregate job; empty = `partition`.
    pub aggregate_partition: String,
    /// `--account`; empty = none.
    pub account: String,
    /// `--qos`; empty = none.
    pub qos: String,
    /// `--constraint`; empty = none.
    pub constraint: String,
    /// `--mem` per node, e.g. `64G`; empty = the cluster's default.
    pub mem: String,
    /// `--cpus-per-task`: CPU cores per rank (libtorch's threads when `threads` is 0).
    pub cpus_per_task: u32,
    /// GPUs per node for training (the row's `gpus`) and one for evaluation.
    pub gpus: GpuRequest,
    /// Time limit of a training task unless its configs.csv row gives `time`. A run that needs
    /// longer is stopped `grace` seconds before the limit, saves, and is requeued to go on.
    pub time: String,
    /// Time limit of an evaluation task.
    pub eval_time: String,
    /// Time limit of the aggregate job.
    pub aggregate_time: String,
    /// Seconds before the time limit at which a training task is told to save and stop.
    pub grace: u32,
    /// At most this many array tasks of a stage run at once (`--array=…%N`); 0 = no limit.
    pub throttle: u32,
    /// More sbatch options for every job, e.g. `["--exclusive", "--mail-type=FAIL"]`.
    pub extra: Vec<String>,
    /// More arguments for `lmeff train` in the training jobs.
    pub train_args: Vec<String>,
    /// More arguments for `lmeff eval blimp`, e.g. `["--batch-tokens", "65536"]`.
    pub eval_args: Vec<String>,
    /// More arguments for `lmeff aggregate`.
    pub aggregate_args: Vec<String>,
    /// What the eval stage runs after each training task: `blimp`, `glue` or both.
    pub benchmarks: Vec<Benchmark>,
    /// The GLUE tasks of the eval stage, an array each; empty = the study's seven.
    pub glue_tasks: Vec<String>,
    /// More arguments for `lmeff eval glue`, e.g. `["--data", "/scratch/glue"]`.
    pub glue_args: Vec<String>,
}

impl Default for SlurmSettings {
    fn default() -> Self {
        SlurmSettings {
            templates_dir: "slurm".into(),
            generated_dir: "slurm/generated".into(),
            logs_dir: "logs".into(),
            env_file: "env/lmeff.env".into(),
            lmeff: PathBuf::new(),
            job_name: "lmeff".into(),
            partition: String::new(),
            eval_partition: String::new(),
            aggregate_partition: String::new(),
            account: String::new(),
            qos: String::new(),
            constraint: String::new(),
            mem: String::new(),
            cpus_per_task: 8,
            gpus: GpuRequest::Auto,
            time: "24:00:00".into(),
            eval_time: "04:00:00".into(),
            aggregate_time: "01:00:00".into(),
            grace: 300,
            throttle: 0,
            extra: Vec::new(),
            train_args: Vec::new(),
            eval_args: Vec::new(),
            aggregate_args: Vec::new(),
            benchmarks: vec![Benchmark::Blimp],
            glue_tasks: Vec::new(),
            glue_args: Vec::new(),
        }
    }
}

impl SlurmSettings {
    /// Checks values that end up in `#SBATCH` lines: one word each, valid times, sane numbers.
    pub fn validate(&self) -> Result<()> {
        for (key, value) in [
            ("slurm.job_name", &self.job_name),
            ("slurm.partition", &self.partition),
            ("slurm.eval_partition", &self.eval_partition),
            ("slurm.aggregate_partition", &self.aggregate_partition),
            ("slurm.account", &self.account),
            ("slurm.qos", &self.qos),
            ("slurm.constraint", &self.constraint),
            ("slurm.mem", &self.mem),
        ] {
            if value.chars().any(char::is_whitespace) {
                bail!("settings: `{key}` = {value:?} must not contain spaces");
            }
        }
        if self.job_name.is_empty() {
            bail!("settings: `slurm.job_name` must not be empty");
        }
        for (key, value) in [
            ("slurm.time", &self.time),
            ("slurm.eval_time", &self.eval_time),
            ("slurm.aggregate_time", &self.aggregate_time),
        ] {
            value
                .parse::<SlurmTime>()
                .map_err(|e| anyhow::anyhow!("settings: `{key}` = {value:?}: {e}"))?;
        }
        if self.cpus_per_task == 0 {
            bail!("settings: `slurm.cpus_per_task` must be at least 1");
        }
        if self.grace == 0 {
            bail!("settings: `slurm.grace` must be at least 1 second");
        }
        for option in &self.extra {
            if !option.starts_with('-') || option.contains('\n') {
                bail!("settings: `slurm.extra` entry {option:?} is not an sbatch option (e.g. \"--exclusive\")");
            }
        }
        for (key, args) in [
            ("slurm.train_args", &self.train_args),
            ("slurm.eval_args", &self.eval_args),
            ("slurm.aggregate_args", &self.aggregate_args),
            ("slurm.glue_args", &self.glue_args),
        ] {
            if let Some(a) = args.iter().find(|a| a.contains('\n')) {
                bail!("settings: `{key}` entry {a:?} contains a line break");
            }
        }
        if self.benchmarks.is_empty() {
            bail!("settings: `slurm.benchmarks` must name at least one of \"blimp\", \"glue\"");
        }
        if let Some(t) = self
            .glue_tasks
            .iter()
            .find(|t| t.is_empty() || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        {
            bail!("settings: `slurm.glue_tasks` entry {t:?} is not a task name (e.g. \"mnli\")");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_refused_with_their_key() {
        assert!(SlurmSettings::default().validate().is_ok());
        let bad = |f: &dyn Fn(&mut SlurmSettings)| {
            let mut s = SlurmSettings::default();
            f(&mut s);
            s.validate().unwrap_err().to_string()
        };
        assert!(bad(&|s| s.partition = "gpu a100".into()).contains("slurm.partition"));
        assert!(bad(&|s| s.eval_time = "2 hours".into()).contains("slurm.eval_time"));
        assert!(bad(&|s| s.extra = vec!["exclusive".into()]).contains("slurm.extra"));
        assert!(bad(&|s| s.cpus_per_task = 0).contains("cpus_per_task"));
        assert!(bad(&|s| s.benchmarks.clear()).contains("slurm.benchmarks"));
        assert!(bad(&|s| s.glue_tasks = vec!["rte wsc".into()]).contains("slurm.glue_tasks"));
    }
}
