//! `lmeff resubmit --failed`: the failed tasks of a launch submitted again, chained as at launch,
//! into the same manifest (round 1, 2, …), so `lmeff status` follows the new jobs.

use std::path::Path;

use anyhow::{bail, Result};

use super::array::TaskSet;
use super::manifest::{Manifest, Submission};
use super::scheduler::Scheduler;
use super::status::{status, TaskState};
use super::submit::{submit_round, Round};
use super::template::{EvalPart, Stage};

/// What `lmeff resubmit --failed` did.
#[derive(Debug, Default)]
pub struct Resubmitted {
    /// Array indices trained again (their evaluation chained after them).
    pub train: Vec<usize>,
    /// Array indices only evaluated again (their training had succeeded), per evaluation array.
    pub eval: Vec<(EvalPart, Vec<usize>)>,
    /// Array indices the launch's race stopped: never submitted again.
    pub eliminated: Vec<usize>,
    pub submissions: Vec<Submission>,
}

/// Resubmits the failed tasks of a launch: failed or cancelled training tasks with their
/// evaluation chained as before, and failed evaluations of finished runs; then the aggregate job.
/// Runs of configurations the launch's race stopped are never revived.
pub fn resubmit_failed(
    manifest_path: &Path,
    scheduler: &dyn Scheduler,
    dry_run: bool,
) -> Result<Resubmitted> {
    let mut m = Manifest::load(manifest_path)?;
    if m.dry_run {
        bail!(
            "{}: a dry run submitted nothing to resubmit",
            manifest_path.display()
        );
    }
    let all = status(&m, scheduler)?.runs;
    let (stopped, rows): (Vec<_>, Vec<_>) = all.into_iter().partition(|r| r.eliminated.is_some());
    let failed = |s: TaskState| matches!(s, TaskState::Failed | TaskState::Cancelled);
    let train: Vec<usize> = rows
        .iter()
        .filter(|r| m.stages.contains(&Stage::Train) && failed(r.train.state))
        .map(|r| r.task_index)
        .collect();
    let parts = m.eval_parts();
    let eval: Vec<(EvalPart, Vec<usize>)> = parts
        .iter()
        .map(|part| {
            let tasks = rows
                .iter()
                .filter(|r| {
                    !train.contains(&r.task_index)
                        && r.eval_of(part).is_some_and(|e| failed(e.state))
                        && (r.train.state == TaskState::Done || !m.stages.contains(&Stage::Train))
                })
                .map(|r| r.task_index)
                .collect();
            (part.clone(), tasks)
        })
        .filter(|(_, tasks): &(EvalPart, Vec<usize>)| !tasks.is_empty())
        .collect();
    let mut out = Resubmitted {
        train: train.clone(),
        eval: eval.clone(),
        eliminated: stopped.iter().map(|r| r.task_index).collect(),
        submissions: Vec::new(),
    };
    if dry_run || (train.is_empty() && eval.is_empty()) {
        return Ok(out);
    }
    let by_group = |tasks: &[usize]| -> Vec<(usize, TaskSet)> {
        m.groups
            .iter()
            .map(|g| {
                let mine: Vec<usize> = tasks
                    .iter()
                    .copied()
                    .filter(|&t| m.run(t).is_some_and(|r| r.group == g.index))
                    .collect();
                (g.index, TaskSet::new(mine))
            })
            .filter(|(_, t)| !t.is_empty())
            .collect()
    };
    let number = m.submissions.iter().map(|s| s.round).max().unwrap_or(0) + 1;
    let round = Round {
        number,
        train: by_group(&train),
        eval_after_train: parts,
        eval_only: eval
            .iter()
            .flat_map(|(part, tasks)| {
                by_group(tasks)
                    .into_iter()
                    .map(move |(g, t)| (part.clone(), g, t))
            })
            .collect(),
        race: Vec::new(),
        aggregate: m.stages.contains(&Stage::Aggregate),
        override_array: true,
        hold: false,
    };
    out.submissions = submit_round(&mut m, scheduler, &round)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slurm::launch::launch;
    use crate::slurm::launch::tests::{glue_settings, options, settings};
    use crate::slurm::manifest::MANIFEST;
    use crate::slurm::render::tests::plan_and_settings;
    use crate::slurm::submit::tests::{record, Fake};

    #[test]
    fn resubmission_reruns_only_failed_tasks_with_the_same_chaining() {
        let dir = tempfile::tempdir().unwrap();
        let (plan, _) = plan_and_settings();
        let fake = Fake::default();
        let l = launch(&plan, &settings(dir.path()), &options(dir.path()), &fake).unwrap();
        // Run 0's training failed and its eval was cancelled; run 6 trained (its final checkpoint
        // exists) but its eval failed; every other task is done.
        let mut records = Vec::new();
        for (train, eval, tasks) in [("100", "101", 0..6), ("102", "103", 6..8)] {
            for t in tasks {
                let (ts, es, er) = match t {
                    0 => ("FAILED", "CANCELLED", "DependencyNeverSatisfied"),
                    6 => ("COMPLETED", "FAILED", "NonZeroExitCode"),
                    _ => ("COMPLETED", "COMPLETED", "None"),
                };
                records.push(record(train, t, ts, "None"));
                records.push(record(eval, t, es, er));
            }
        }
        let final_dir = dir
            .path()
            .join(&l.manifest.runs[6].output_dir)
            .join("final");
        fs_err::create_dir_all(&final_dir).unwrap();
        fs_err::write(final_dir.join("model.safetensors"), "").unwrap();
        let again = Fake {
            records,
            ..Default::default()
        };
        let path = l.manifest.folder.join(MANIFEST);
        let report = status(&Manifest::load(&path).unwrap(), &again).unwrap();
        assert_eq!(report.runs[0].train.state, TaskState::Failed);
        assert_eq!(report.runs[0].eval.state, TaskState::Cancelled);
        assert_eq!(report.runs[6].eval.state, TaskState::Failed);
        assert_eq!(report.runs[1].train.state, TaskState::Done);

        let dry = resubmit_failed(&path, &again, true).unwrap();
        assert_eq!(
            (dry.train.clone(), dry.eval.clone()),
            (vec![0], vec![(EvalPart::Blimp, vec![6])])
        );
        assert!(again.submitted.borrow().is_empty());

        let r = resubmit_failed(&path, &again, false).unwrap();
        let subs = again.submitted.borrow();
        let view: Vec<(&str, Option<&str>, Option<&str>)> = subs
            .iter()
            .map(|(f, o)| (f.as_str(), o.array.as_deref(), o.dependency.as_deref()))
            .collect();
        assert_eq!(
            view,
            [
                ("train-0.sbatch", Some("0%4"), None),
                ("eval-0.sbatch", Some("0%4"), Some("aftercorr:100")),
                ("eval-1.sbatch", Some("6%4"), None),
                ("aggregate.sbatch", None, Some("afterany:101:102")),
            ]
        );
        assert!(r.submissions.iter().all(|s| s.round == 1));
        // Status now follows the resubmitted jobs for tasks 0 and 6.
        let m = Manifest::load(&path).unwrap();
        assert_eq!(m.submissions.len(), 9);
        let report = status(&m, &Fake::default()).unwrap();
        assert_eq!(report.runs[0].train.job.as_deref(), Some("100_0"));
        assert_eq!(report.runs[0].train.state, TaskState::Failed);
        assert_eq!(report.runs[6].train.state, TaskState::Done);
    }

    #[test]
    fn a_failed_glue_task_is_resubmitted_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (plan, _) = plan_and_settings();
        let settings = glue_settings(dir.path(), &["rte", "wsc"]);
        let l = launch(&plan, &settings, &options(dir.path()), &Fake::default()).unwrap();
        // Jobs: train-0 100, eval-0 101, glue rte 102, glue wsc 103; train-1 104, eval-1 105,
        // glue rte 106, glue wsc 107. Run 7's wsc fine-tuning failed; everything else is done.
        let mut records = Vec::new();
        for (jobs, tasks) in [
            (["100", "101", "102", "103"], 0..6),
            (["104", "105", "106", "107"], 6..8),
        ] {
            for t in tasks {
                for (k, job) in jobs.iter().enumerate() {
                    let failed = t == 7 && k == 3;
                    records.push(record(
                        job,
                        t,
                        if failed { "FAILED" } else { "COMPLETED" },
                        "None",
                    ));
                }
            }
        }
        let fake = Fake {
            records,
            ..Default::default()
        };
        let path = l.manifest.folder.join(MANIFEST);
        let report = status(&Manifest::load(&path).unwrap(), &fake).unwrap();
        assert_eq!(report.runs[7].glue["wsc"].state, TaskState::Failed);
        assert_eq!(report.runs[7].glue["rte"].state, TaskState::Done);
        assert_eq!(report.runs[7].eval.state, TaskState::Done);
        assert!(report.ended() && !report.all_done());
        let table = report.table();
        assert!(
            table.contains("1 done, 1 failed") && table.contains("glue wsc: FAILED"),
            "{table}"
        );
        let r = resubmit_failed(&path, &fake, false).unwrap();
        assert_eq!(r.eval, [(EvalPart::Glue("wsc".into()), vec![7])]);
        let subs = fake.submitted.borrow();
        let view: Vec<(&str, Option<&str>, Option<&str>)> = subs
            .iter()
            .map(|(f, o)| (f.as_str(), o.array.as_deref(), o.dependency.as_deref()))
            .collect();
        assert_eq!(
            view,
            [
                ("glue-1-wsc.sbatch", Some("7%4"), None),
                ("aggregate.sbatch", None, Some("afterany:100")),
            ]
        );
    }
}
