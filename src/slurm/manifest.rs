//! The launch manifest (`manifest.json` in each launch folder): what was rendered and submitted —
//! job ids, the run of every array index, scripts, settings and configs copies, git revision — so
//! that `lmeff status` and `lmeff resubmit` work from it later, from any shell.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::array::TaskSet;
use super::render::Group;
use super::template::{EvalPart, Stage};
use crate::config::{Anchor, CheckpointLabel, Millions, Run, RunKey, ScheduleKind};
use crate::results::blimp::ResultKey;

/// The manifest's file name inside a launch folder.
pub const MANIFEST: &str = "manifest.json";

/// One run of the launch, by array index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "EntryFile", from = "EntryFile")]
pub struct RunEntry {
    /// The plan's task index = the array task id in every stage.
    pub task_index: usize,
    pub run_id: String,
    /// The group (array job) the run belongs to.
    pub group: usize,
    /// Checkpoint folder (relative to `workdir` unless absolute).
    pub output_dir: PathBuf,
    pub key: RunKey,
}

impl RunEntry {
    /// The manifest entry of a planned run.
    pub fn new(run: &Run, group: usize) -> RunEntry {
        RunEntry {
            task_index: run.task_index,
            run_id: run.run_id.to_string(),
            group,
            output_dir: run.output_dir.clone(),
            key: run.key.clone(),
        }
    }
}

impl RunEntry {
    /// The result identity of its checkpoint folder `checkpoint` (for `lmeff eval`'s default
    /// layout under the results folder).
    pub fn result_key(&self, checkpoint: &str) -> ResultKey {
        ResultKey {
            dataset: Some(self.key.dataset.clone()),
            model_size: Some(self.key.model.clone()),
            vocab_size: Some(self.key.vocab_size),
            seed: Some(self.key.seed),
            anchor: Some(self.key.anchor),
            schedule: self.key.schedule.written(),
            seed_mode: None,
            milestone: CheckpointLabel::label_of(checkpoint),
            tokens_seen: None,
            checkpoint: PathBuf::new(),
            checkpoint_sha256: String::new(),
        }
    }
}

/// A run entry as `manifest.json` holds it: the identity's fields inline, `schedule` only for
/// WSD (absent: cosine).
#[derive(Serialize, Deserialize)]
struct EntryFile {
    task_index: usize,
    run_id: String,
    group: usize,
    output_dir: PathBuf,
    dataset: String,
    model: String,
    vocab_size: u32,
    seed: u64,
    anchor: Anchor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schedule: Option<ScheduleKind>,
}

impl From<RunEntry> for EntryFile {
    fn from(e: RunEntry) -> EntryFile {
        let k = e.key;
        EntryFile {
            task_index: e.task_index,
            run_id: e.run_id,
            group: e.group,
            output_dir: e.output_dir,
            dataset: k.dataset,
            model: k.model,
            vocab_size: k.vocab_size,
            seed: k.seed,
            anchor: k.anchor,
            schedule: k.schedule.written(),
        }
    }
}

impl From<EntryFile> for RunEntry {
    fn from(f: EntryFile) -> RunEntry {
        RunEntry {
            task_index: f.task_index,
            run_id: f.run_id,
            group: f.group,
            output_dir: f.output_dir,
            key: RunKey {
                dataset: f.dataset,
                model: f.model,
                vocab_size: f.vocab_size,
                seed: f.seed,
                anchor: f.anchor,
                schedule: f.schedule.unwrap_or_default(),
            },
        }
    }
}

/// One `sbatch` call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    pub stage: Stage,
    /// The group of an array job; `None` for the aggregate job.
    pub group: Option<usize>,
    /// The GLUE task of a GLUE eval array (absent: BLiMP, or not an eval job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glue_task: Option<String>,
    /// The rung of a race job (`rung`, `race`), in millions of tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rung: Option<Millions>,
    pub job_id: String,
    /// The array task ids submitted (`None` for the aggregate job).
    pub array: Option<TaskSet>,
    pub dependency: Option<String>,
    /// Script file name in the launch folder.
    pub script: String,
    /// 0 for the launch, 1, 2, … for each `lmeff resubmit`.
    pub round: u32,
    pub submitted: String,
}

impl std::fmt::Display for Submission {
    /// `train     job 44       array 0-3 after aftercorr:43`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match (&self.stage, &self.glue_task) {
            (Stage::Eval, Some(t)) => format!("glue {t}"),
            (Stage::Rung | Stage::Race, _) => match self.rung {
                Some(r) => format!("{} {r}M", self.stage.name()),
                None => self.stage.name().to_owned(),
            },
            (stage, _) => stage.name().to_owned(),
        };
        write!(f, "{what:<9} job {:<8}", self.job_id)?;
        if let Some(a) = &self.array {
            write!(f, " array {a}")?;
        }
        if let Some(d) = &self.dependency {
            write!(f, " after {d}")?;
        }
        Ok(())
    }
}

/// A rendered script of the launch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptEntry {
    pub stage: Stage,
    pub group: Option<usize>,
    /// The GLUE task of a GLUE eval array (absent: BLiMP, or not an eval job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glue_task: Option<String>,
    /// The rung of a race script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rung: Option<Millions>,
    pub file: String,
}

impl ScriptEntry {
    /// What an eval script runs (`None` for training and aggregate scripts).
    pub fn part(&self) -> Option<EvalPart> {
        (self.stage == Stage::Eval).then(|| EvalPart::of(self.glue_task.as_deref()))
    }
}

/// Everything `lmeff launch` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub lmeff_version: String,
    /// The git commit lmeff was built from (absent in manifests of earlier versions).
    #[serde(default)]
    pub lmeff_commit: Option<String>,
    /// UTC, RFC 3339.
    pub created: String,
    /// Rendered only (`--dry-run`): nothing was submitted.
    pub dry_run: bool,
    /// `git rev-parse HEAD` of the working folder (`-dirty` with uncommitted changes).
    pub git_revision: Option<String>,
    /// The folder jobs run in.
    pub workdir: PathBuf,
    /// The launch folder (scripts, copies, this manifest).
    pub folder: PathBuf,
    /// The configs.csv the plan came from, and the launch's copy of it that jobs read.
    pub configs_source: PathBuf,
    pub configs: PathBuf,
    /// The resolved settings jobs read (`--config`).
    pub settings: PathBuf,
    /// `--seeds` given at launch.
    pub seeds: Option<Vec<u64>>,
    /// Where evaluation results go (for `lmeff status`).
    pub results_dir: PathBuf,
    /// The `slurm.throttle` of the launch (`%N` of resubmitted arrays).
    pub throttle: u32,
    pub stages: Vec<Stage>,
    pub runs: Vec<RunEntry>,
    pub groups: Vec<Group>,
    pub scripts: Vec<ScriptEntry>,
    pub submissions: Vec<Submission>,
}

impl Manifest {
    /// Reads a manifest file (or the `manifest.json` of a launch folder).
    pub fn load(path: &Path) -> Result<Manifest> {
        let file = if path.is_dir() {
            path.join(MANIFEST)
        } else {
            path.to_owned()
        };
        let bytes = fs_err::read(&file)
            .with_context(|| format!("reading launch manifest {}", file.display()))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not an lmeff launch manifest", file.display()))
    }

    /// Writes `manifest.json` in the launch folder atomically.
    pub fn save(&self) -> Result<()> {
        crate::io::write_json_atomic(&self.folder.join(MANIFEST), self)
    }

    /// The newest launch below `generated_dir` that submitted jobs (a dry run, or a launch whose
    /// submission failed and was cancelled, submitted none).
    pub fn latest(generated_dir: &Path) -> Result<PathBuf> {
        let mut folders: Vec<PathBuf> = fs_err::read_dir(generated_dir)
            .with_context(|| {
                format!(
                    "no launches in {} (run `lmeff launch`, or give --manifest)",
                    generated_dir.display()
                )
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join(MANIFEST).is_file())
            .collect();
        folders.sort();
        for folder in folders.iter().rev() {
            if Manifest::load(folder).is_ok_and(|m| !m.dry_run && !m.submissions.is_empty()) {
                return Ok(folder.join(MANIFEST));
            }
        }
        bail!(
            "no submitted launch in {} (run `lmeff launch`, or give --manifest)",
            generated_dir.display()
        )
    }

    /// The entry of array index `task`.
    pub fn run(&self, task: usize) -> Option<&RunEntry> {
        self.runs.iter().find(|r| r.task_index == task)
    }

    /// The script of a stage, group and (for eval scripts) part.
    pub fn script(
        &self,
        stage: Stage,
        group: Option<usize>,
        part: Option<&EvalPart>,
    ) -> Option<&ScriptEntry> {
        self.scripts
            .iter()
            .find(|s| s.stage == stage && s.group == group && s.part().as_ref() == part)
    }

    /// The race script of `stage` (`rung`, `race`) for `rung` (and `group`, for a rung's arrays).
    pub fn race_script(
        &self,
        stage: Stage,
        group: Option<usize>,
        rung: Millions,
    ) -> Option<&ScriptEntry> {
        self.scripts
            .iter()
            .find(|s| s.stage == stage && s.group == group && s.rung == Some(rung))
    }

    /// The rungs the launch races at (none without `--race`), ascending.
    pub fn rungs(&self) -> Vec<Millions> {
        let mut r: Vec<Millions> = self
            .scripts
            .iter()
            .filter(|s| s.stage == Stage::Race)
            .filter_map(|s| s.rung)
            .collect();
        r.sort();
        r.dedup();
        r
    }

    /// The evaluation arrays each group has (BLiMP, GLUE tasks), in launch order.
    pub fn eval_parts(&self) -> Vec<EvalPart> {
        let mut parts: Vec<EvalPart> = Vec::new();
        for p in self.scripts.iter().filter_map(ScriptEntry::part) {
            if !parts.contains(&p) {
                parts.push(p);
            }
        }
        parts
    }
}

/// Now in UTC: `(folder stamp 20261127-063012, RFC 3339 2026-11-27T06:30:12Z)`.
pub fn utc_now() -> (String, String) {
    utc_strings(jiff::Timestamp::now().as_second().max(0) as u64)
}

fn utc_strings(secs: u64) -> (String, String) {
    let t = jiff::Timestamp::from_second(secs as i64).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    (
        t.strftime("%Y%m%d-%H%M%S").to_string(),
        t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

/// The git revision of `dir` (`-dirty` when tracked files changed); `None` outside a repository.
pub fn git_revision(dir: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let head = git(&["rev-parse", "HEAD"])?;
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}-dirty") } else { head })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting() {
        assert_eq!(utc_strings(0).1, "1970-01-01T00:00:00Z");
        // 2026-11-27 06:30:12 UTC.
        assert_eq!(
            utc_strings(1_795_761_012),
            (
                "20261127-063012".to_owned(),
                "2026-11-27T06:30:12Z".to_owned()
            )
        );
        assert_eq!(utc_strings(951_782_400).1, "2000-02-29T00:00:00Z");
    }

    #[test]
    fn run_entries_keep_their_file_form() {
        for (schedule, tail) in [
            (ScheduleKind::Cosine, ""),
            (ScheduleKind::Wsd, r#","schedule":"wsd""#),
        ] {
            let entry = RunEntry {
                task_index: 3,
                run_id: "ts_20m_v1000_seed1_budget25M".into(),
                group: 1,
                output_dir: "out/x".into(),
                key: RunKey {
                    dataset: "ts".into(),
                    model: "20m".into(),
                    vocab_size: 1000,
                    seed: 1,
                    anchor: "25M".parse().unwrap(),
                    schedule,
                },
            };
            let text = serde_json::to_string(&entry).unwrap();
            assert_eq!(
                text,
                format!(
                    r#"{{"task_index":3,"run_id":"ts_20m_v1000_seed1_budget25M","group":1,"output_dir":"out/x","dataset":"ts","model":"20m","vocab_size":1000,"seed":1,"anchor":"25M"{tail}}}"#
                )
            );
            assert_eq!(serde_json::from_str::<RunEntry>(&text).unwrap(), entry);
        }
    }
}
