//! `lmeff status`: one row per run of a launch — training and evaluation task states from
//! `scontrol` (queued, running, requeued, done, failed, …) and the runs' own records (tokens
//! reached, last checkpoint, last BLiMP result, GLUE tasks done). Jobs that Slurm has forgotten are judged by the
//! records alone: a run with its `final/` checkpoint is done, one without has failed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use super::manifest::{Manifest, RunEntry, Submission};
use super::scheduler::{JobRecord, Scheduler};
use super::template::{EvalPart, Stage};

mod table;
use crate::analysis::race::launched::RaceLog;
use crate::config::layout::checkpoint;
use crate::config::{CheckpointLabel, RunLayout};
use crate::hub::push;
use crate::results::blimp;
use crate::results::glue;

/// The state of one array task (or of the aggregate job).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    NotSubmitted,
    Queued,
    Held,
    Running,
    /// Pending again after a requeue (preemption, or a time limit reached with state saved).
    Requeued,
    Done,
    Failed,
    /// Cancelled by a user, or because the task it depends on failed.
    Cancelled,
    /// No scheduler answers and the records do not show it done.
    Unknown,
}

impl TaskState {
    /// The word shown in the table.
    pub fn word(self) -> &'static str {
        match self {
            TaskState::NotSubmitted => "-",
            TaskState::Queued => "queued",
            TaskState::Held => "held",
            TaskState::Running => "running",
            TaskState::Requeued => "requeued",
            TaskState::Done => "done",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
            TaskState::Unknown => "unknown",
        }
    }
}

/// One task's state and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct TaskStatus {
    pub state: TaskState,
    /// `<array job>_<task>` (or the job id of the aggregate job).
    pub job: Option<String>,
    /// Requeues so far.
    pub restarts: u32,
    /// Slurm's reason or exit code, or how the state was inferred.
    pub detail: String,
}

/// One row of `lmeff status`.
#[derive(Debug, Clone, Serialize)]
pub struct RunStatus {
    pub task_index: usize,
    pub run_id: String,
    pub train: TaskStatus,
    /// BLiMP.
    pub eval: TaskStatus,
    /// Each GLUE task's array, when the launch has them.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub glue: BTreeMap<String, TaskStatus>,
    /// Tokens trained so far (`metrics.jsonl`).
    pub tokens: Option<u64>,
    /// The newest checkpoint folder (`milestone-<M>M` or `final`).
    pub last_checkpoint: Option<String>,
    /// The newest checkpoint with BLiMP results, and its accuracy.
    pub last_eval: Option<String>,
    /// The newest checkpoint with GLUE results, and how many of the launch's tasks it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_glue: Option<String>,
    /// Stopped by the launch's race: `eliminated at 25M (−1.2 pp vs leader, p = 0.003)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eliminated: Option<String>,
    /// Runs that publish to the Hub: the checkpoints not pushed yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unpushed: Option<Vec<String>>,
}

/// Everything `lmeff status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub manifest: PathBuf,
    /// Whether `scontrol` answered (otherwise states come from the runs' records only).
    pub scheduler_reachable: bool,
    pub runs: Vec<RunStatus>,
    pub aggregate: Option<TaskStatus>,
}

fn from_record(r: &JobRecord, job: String) -> TaskStatus {
    let state = match r.state.as_str() {
        "PENDING" if r.reason.contains("Held") => TaskState::Held,
        "PENDING" if r.reason.contains("DependencyNeverSatisfied") => TaskState::Cancelled,
        "PENDING" | "SUSPENDED" if r.restarts > 0 => TaskState::Requeued,
        "PENDING" | "SUSPENDED" => TaskState::Queued,
        "RUNNING" | "CONFIGURING" | "COMPLETING" | "STAGE_OUT" | "SIGNALING" => TaskState::Running,
        s if s.starts_with("REQUEUE") => TaskState::Requeued,
        "COMPLETED" => TaskState::Done,
        "CANCELLED" => TaskState::Cancelled,
        _ => TaskState::Failed,
    };
    let detail = match state {
        TaskState::Failed => format!("{} exit {}", r.state, r.exit_code),
        TaskState::Cancelled if r.reason.contains("Dependency") => "its dependency failed".into(),
        _ if r.reason != "None" => r.reason.clone(),
        _ => String::new(),
    };
    TaskStatus {
        state,
        job: Some(job),
        restarts: r.restarts,
        detail,
    }
}

/// The latest submission covering array index `task` of the evaluation array `part`, or of the
/// training array when `part` is `None`.
fn submission_for<'m>(
    m: &'m Manifest,
    part: Option<&EvalPart>,
    task: usize,
) -> Option<&'m Submission> {
    let ours = |s: &Submission| match part {
        None => s.stage == Stage::Train,
        Some(p) => s.stage == Stage::Eval && s.glue_task.as_deref() == p.glue_task(),
    };
    m.submissions
        .iter()
        .rev()
        .find(|s| ours(s) && s.array.as_ref().is_some_and(|t| t.contains(task)))
}

/// The state of array index `task` of the evaluation array `part` (`None`: of training).
fn task_status(
    m: &Manifest,
    records: Option<&[JobRecord]>,
    part: Option<&EvalPart>,
    task: usize,
    done_by_records: bool,
) -> TaskStatus {
    let Some(sub) = submission_for(m, part, task) else {
        return TaskStatus {
            state: if done_by_records {
                TaskState::Done
            } else {
                TaskState::NotSubmitted
            },
            job: None,
            restarts: 0,
            detail: String::new(),
        };
    };
    let job = format!("{}_{task}", sub.job_id);
    let found = records.and_then(|rs| {
        rs.iter().find(|r| {
            r.array_job_id.as_deref() == Some(sub.job_id.as_str()) && r.tasks.contains(task)
        })
    });
    match (found, records) {
        (Some(r), _) => from_record(r, job),
        (None, Some(_)) => TaskStatus {
            state: if done_by_records {
                TaskState::Done
            } else {
                TaskState::Failed
            },
            job: Some(job),
            restarts: 0,
            detail: if done_by_records {
                "from the run's records".into()
            } else {
                "ended without its output (Slurm no longer lists it)".into()
            },
        },
        (None, None) => TaskStatus {
            state: if done_by_records {
                TaskState::Done
            } else {
                TaskState::Unknown
            },
            job: Some(job),
            restarts: 0,
            detail: "no scheduler answered".into(),
        },
    }
}

/// The checkpoint folder names of a run folder, in order.
fn checkpoints(run: &RunLayout) -> Vec<String> {
    run.checkpoints()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.name.to_string())
        .collect()
}

/// The GLUE tasks with results for each checkpoint of a run, in checkpoint order.
fn glue_done(m: &Manifest, run: &RunEntry, cks: &[String]) -> Vec<Vec<String>> {
    cks.iter()
        .map(|name| {
            run.result_key(name)
                .glue_dir(&m.results_dir)
                .and_then(|d| glue::read_summary(&m.workdir.join(d)))
                .map(|s| s.tasks.into_keys().collect())
                .unwrap_or_default()
        })
        .collect()
}

/// The status of every run of a launch, and of its aggregate job.
pub fn status(m: &Manifest, scheduler: &dyn Scheduler) -> Result<StatusReport> {
    let mut ids: Vec<String> = m.submissions.iter().map(|s| s.job_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let records = scheduler.jobs(&ids)?;
    let glue_tasks: Vec<String> = m
        .eval_parts()
        .iter()
        .filter_map(|p| p.glue_task().map(str::to_owned))
        .collect();
    let race = RaceLog::load(&m.folder)?;
    let mut runs = Vec::new();
    for run in &m.runs {
        let layout = RunLayout::at(m.workdir.join(&run.output_dir));
        let run_dir = layout.dir();
        let cks = checkpoints(&layout);
        let trained = checkpoint::is_checkpoint(&layout.checkpoint(CheckpointLabel::Final));
        let evaluated: Vec<(&str, f64)> = cks
            .iter()
            .filter_map(|name| {
                let dir = run.result_key(name).results_dir(&m.results_dir)?;
                let acc = blimp::overall_accuracy(&m.workdir.join(dir))?;
                Some((name.as_str(), acc))
            })
            .collect();
        let eval_done = trained && evaluated.len() == cks.len();
        let fine_tuned = if glue_tasks.is_empty() {
            Vec::new()
        } else {
            glue_done(m, run, &cks)
        };
        let glue = glue_tasks
            .iter()
            .map(|t| {
                let done = trained && fine_tuned.iter().all(|tasks| tasks.contains(t));
                let part = EvalPart::Glue(t.clone());
                let st = task_status(m, records.as_deref(), Some(&part), run.task_index, done);
                (t.clone(), st)
            })
            .collect();
        let last_glue = cks
            .iter()
            .zip(&fine_tuned)
            .rev()
            .find(|(_, tasks)| !tasks.is_empty())
            .map(|(name, tasks)| {
                let n = glue_tasks.iter().filter(|t| tasks.contains(t)).count();
                format!("{name} {n}/{}", glue_tasks.len())
            });
        runs.push(RunStatus {
            task_index: run.task_index,
            run_id: run.run_id.clone(),
            train: task_status(m, records.as_deref(), None, run.task_index, trained),
            eval: task_status(
                m,
                records.as_deref(),
                Some(&EvalPart::Blimp),
                run.task_index,
                eval_done,
            ),
            glue,
            tokens: layout.tokens_reached(),
            last_checkpoint: cks.last().cloned(),
            last_eval: evaluated.last().map(|(n, acc)| format!("{n} {acc:.3}")),
            last_glue,
            eliminated: race
                .as_ref()
                .and_then(|l| l.elimination_of(&run.key))
                .map(|e| e.describe()),
            unpushed: run_dir
                .join(push::PUSHED_FILE)
                .is_file()
                .then(|| push::unpushed(run_dir).unwrap_or_default()),
        });
    }
    let aggregate = m
        .submissions
        .iter()
        .rev()
        .find(|s| s.stage == Stage::Aggregate)
        .map(|sub| {
            let found = records.as_deref().and_then(|rs| {
                rs.iter()
                    .find(|r| r.job_id == sub.job_id && r.array_job_id.is_none())
            });
            match found {
                Some(r) => from_record(r, sub.job_id.clone()),
                None => TaskStatus {
                    state: TaskState::Unknown,
                    job: Some(sub.job_id.clone()),
                    restarts: 0,
                    detail: "Slurm no longer lists it".into(),
                },
            }
        });
    Ok(StatusReport {
        manifest: m.folder.join(super::manifest::MANIFEST),
        scheduler_reachable: records.is_some(),
        runs,
        aggregate,
    })
}

impl RunStatus {
    /// Every task of the run: training, BLiMP, each GLUE task.
    pub fn tasks(&self) -> impl Iterator<Item = &TaskStatus> {
        [&self.train, &self.eval]
            .into_iter()
            .chain(self.glue.values())
    }

    /// The status of one evaluation array.
    pub fn eval_of(&self, part: &EvalPart) -> Option<&TaskStatus> {
        match part {
            EvalPart::Blimp => Some(&self.eval),
            EvalPart::Glue(t) => self.glue.get(t),
        }
    }
}

impl StatusReport {
    /// Whether nothing is queued or running any more (or no scheduler answers).
    pub fn ended(&self) -> bool {
        let settled = |t: &TaskStatus| {
            matches!(
                t.state,
                TaskState::Done
                    | TaskState::Failed
                    | TaskState::Cancelled
                    | TaskState::NotSubmitted
                    | TaskState::Unknown
            )
        };
        self.runs.iter().all(|r| r.tasks().all(settled))
            && self.aggregate.as_ref().is_none_or(settled)
    }

    /// Whether every submitted task succeeded.
    pub fn all_done(&self) -> bool {
        let ok = |t: &TaskStatus| matches!(t.state, TaskState::Done | TaskState::NotSubmitted);
        self.runs.iter().all(|r| r.tasks().all(ok)) && self.aggregate.as_ref().is_none_or(ok)
    }
}
