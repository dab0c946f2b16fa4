//! Submitting a round of a launch: train → eval (`aftercorr`) → aggregate (`afterany`), recording
//! every job id in the manifest as it is submitted; a failed submission cancels the round.

use anyhow::{Context, Result};

use super::array::TaskSet;
use super::manifest::{utc_now, Manifest, Submission};
use super::render::RungTasks;
use super::scheduler::{Scheduler, SubmitOptions};
use super::template::{EvalPart, Stage};
use crate::config::Millions;

/// One round of submissions: the launch (round 0) or a resubmission.
pub struct Round {
    pub number: u32,
    /// Training tasks per group.
    pub train: Vec<(usize, TaskSet)>,
    /// The evaluation arrays chained after each training array (`aftercorr`).
    pub eval_after_train: Vec<EvalPart>,
    /// Evaluation tasks with no training before them: (part, group, tasks).
    pub eval_only: Vec<(EvalPart, usize, TaskSet)>,
    /// The race's rungs (`launch --race`): per group, the rung's evaluation array after the
    /// group's training has started (`after`), then per rung its decision job (`afterany`).
    pub race: Vec<RungTasks>,
    pub aggregate: bool,
    /// Pass `--array` (a resubmission runs a subset of the script's tasks).
    pub override_array: bool,
    pub hold: bool,
}

/// Submits a round in dependency order, saving the manifest after every job. If a submission
/// fails, the round's jobs already submitted are cancelled and the manifest is left as before.
pub fn submit_round(
    m: &mut Manifest,
    scheduler: &dyn Scheduler,
    round: &Round,
) -> Result<Vec<Submission>> {
    let before = m.submissions.len();
    let result = (|| -> Result<()> {
        let mut evals = Vec::new();
        let mut trains = Vec::new();
        let mut races = Vec::new();
        let mut rung_evals: Vec<(Millions, String)> = Vec::new();
        let submit =
            |m: &mut Manifest, job: Job<'_>, dependency: Option<String>| -> Result<String> {
                let entry = match job.rung {
                    Some(r) => m.race_script(job.stage, job.group, r),
                    None => m.script(job.stage, job.group, job.part),
                };
                let script = entry
                    .with_context(|| {
                        let what = job
                            .part
                            .map_or(job.stage.name().to_owned(), |p| p.to_string());
                        format!("the launch has no {what} script for group {:?}", job.group)
                    })?
                    .file
                    .clone();
                let array = job.tasks.cloned();
                let opts = SubmitOptions {
                    dependency: dependency.clone(),
                    array: if round.override_array {
                        job.tasks.map(|t| t.spec(m.throttle))
                    } else {
                        None
                    },
                    hold: round.hold,
                };
                let job_id = scheduler.submit(&m.folder.join(&script), &opts)?;
                m.submissions.push(Submission {
                    stage: job.stage,
                    group: job.group,
                    glue_task: job.part.and_then(|p| p.glue_task().map(str::to_owned)),
                    rung: job.rung,
                    job_id: job_id.clone(),
                    array,
                    dependency,
                    script,
                    round: round.number,
                    submitted: utc_now().1,
                });
                m.save()?;
                Ok(job_id)
            };
        for (group, tasks) in &round.train {
            let job = Job::array(Stage::Train, *group, tasks);
            let train = submit(m, job, None)?;
            trains.push(train.clone());
            for part in &round.eval_after_train {
                let job = Job {
                    part: Some(part),
                    ..Job::array(Stage::Eval, *group, tasks)
                };
                evals.push(submit(m, job, Some(format!("aftercorr:{train}")))?);
            }
            for r in &round.race {
                for (_, t) in r.groups.iter().filter(|(g, _)| g == group) {
                    let job = Job {
                        rung: Some(r.rung),
                        ..Job::array(Stage::Rung, *group, t)
                    };
                    let id = submit(m, job, Some(format!("after:{train}")))?;
                    rung_evals.push((r.rung, id));
                }
            }
        }
        for (part, group, tasks) in &round.eval_only {
            let job = Job {
                part: Some(part),
                ..Job::array(Stage::Eval, *group, tasks)
            };
            evals.push(submit(m, job, None)?);
        }
        for r in &round.race {
            let ids: Vec<&str> = rung_evals
                .iter()
                .filter(|(rung, _)| *rung == r.rung)
                .map(|(_, id)| id.as_str())
                .collect();
            let job = Job {
                rung: Some(r.rung),
                ..Job::single(Stage::Race)
            };
            let after = (!ids.is_empty()).then(|| format!("afterany:{}", ids.join(":")));
            races.push(submit(m, job, after)?);
        }
        if round.aggregate {
            let mut after = if evals.is_empty() { trains } else { evals };
            after.extend(races);
            let dependency = (!after.is_empty()).then(|| format!("afterany:{}", after.join(":")));
            submit(m, Job::single(Stage::Aggregate), dependency)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        let submitted: Vec<String> = m.submissions[before..]
            .iter()
            .map(|s| s.job_id.clone())
            .collect();
        let cancelled = scheduler.cancel(&submitted);
        m.submissions.truncate(before);
        m.save()?;
        return Err(match cancelled {
            Ok(()) if submitted.is_empty() => e,
            Ok(()) => e.context(format!(
                "submission stopped; cancelled the jobs it had submitted ({})",
                submitted.join(", ")
            )),
            Err(c) => e.context(format!(
                "submission stopped, and cancelling {} failed too: {c:#}",
                submitted.join(", ")
            )),
        });
    }
    Ok(m.submissions[before..].to_vec())
}

/// What one `sbatch` call submits.
struct Job<'a> {
    stage: Stage,
    group: Option<usize>,
    part: Option<&'a EvalPart>,
    rung: Option<Millions>,
    tasks: Option<&'a TaskSet>,
}

impl<'a> Job<'a> {
    fn array(stage: Stage, group: usize, tasks: &'a TaskSet) -> Job<'a> {
        Job {
            stage,
            group: Some(group),
            part: None,
            rung: None,
            tasks: Some(tasks),
        }
    }

    fn single(stage: Stage) -> Job<'a> {
        Job {
            stage,
            group: None,
            part: None,
            rung: None,
            tasks: None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::RefCell;
    use std::path::Path;

    use anyhow::bail;

    use super::*;
    use crate::slurm::scheduler::JobRecord;

    /// Hands out job ids 100, 101, …; fails the `fail_at`-th submission; answers `jobs` with `records`.
    #[derive(Default)]
    pub(crate) struct Fake {
        pub(crate) submitted: RefCell<Vec<(String, SubmitOptions)>>,
        pub(crate) cancelled: RefCell<Vec<String>>,
        pub(crate) fail_at: Option<usize>,
        pub(crate) records: Vec<JobRecord>,
    }

    impl Scheduler for Fake {
        fn submit(&self, script: &Path, opts: &SubmitOptions) -> Result<String> {
            let mut s = self.submitted.borrow_mut();
            if Some(s.len()) == self.fail_at {
                bail!("sbatch: error: invalid partition");
            }
            s.push((
                script.file_name().unwrap().to_string_lossy().into_owned(),
                opts.clone(),
            ));
            Ok((99 + s.len()).to_string())
        }
        fn test_only(&self, _: &Path) -> Result<String> {
            Ok(String::new())
        }
        fn cancel(&self, ids: &[String]) -> Result<()> {
            self.cancelled.borrow_mut().extend(ids.iter().cloned());
            Ok(())
        }
        fn jobs(&self, _: &[String]) -> Result<Option<Vec<JobRecord>>> {
            Ok(Some(self.records.clone()))
        }
    }

    pub(crate) fn record(array: &str, task: usize, state: &str, reason: &str) -> JobRecord {
        JobRecord {
            job_id: format!("{array}{task}"),
            array_job_id: Some(array.into()),
            tasks: TaskSet::new(vec![task]),
            state: state.into(),
            reason: reason.into(),
            ..Default::default()
        }
    }
}
