//! `lmeff launch` and `lmeff resubmit`: render a launch folder (scripts, a copy of configs.csv, the
//! resolved settings, the manifest), then submit train → eval (`aftercorr`) → aggregate
//! (`afterany`), recording every job id in the manifest as it is submitted.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::array::TaskSet;
use super::manifest::{
    git_revision, utc_now, Manifest, RunEntry, ScriptEntry, Submission, MANIFEST,
};
use super::render::{render, RenderContext, Script};
use super::scheduler::{Scheduler, SubmitOptions};
use super::template::{EvalPart, Stage};
use crate::config::{Plan, Settings};

/// How to launch.
#[derive(Debug, Clone)]
pub struct LaunchOptions {
    /// Stages to render and submit (in any order; submitted train → eval → aggregate).
    pub stages: Vec<Stage>,
    /// Render and check only.
    pub dry_run: bool,
    /// Submit held (`scontrol release <ids>` starts them).
    pub hold: bool,
    /// `--seeds` (replaces every row's seeds in the plan).
    pub seeds: Option<Vec<u64>>,
    /// The lmeff binary the jobs run.
    pub lmeff: PathBuf,
    /// The folder jobs run in (absolute).
    pub workdir: PathBuf,
    /// The configs.csv the plan was read from.
    pub configs: PathBuf,
}

/// What a launch made.
#[derive(Debug)]
pub struct Launched {
    pub manifest: Manifest,
    pub scripts: Vec<Script>,
}

fn absolute(workdir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_owned()
    } else {
        workdir.join(p)
    }
}

/// Renders the launch folder and, unless `dry_run`, submits it with `scheduler`.
pub fn launch(
    plan: &Plan,
    settings: &Settings,
    opts: &LaunchOptions,
    scheduler: &dyn Scheduler,
) -> Result<Launched> {
    let mut stages = opts.stages.clone();
    stages.sort();
    stages.dedup();
    if stages.is_empty() {
        bail!("--stages: name at least one of train, eval, aggregate");
    }
    if plan.runs.is_empty() {
        bail!("{}: the plan has no runs", opts.configs.display());
    }
    let slurm = &settings.slurm;
    let env_file = absolute(&opts.workdir, &slurm.env_file);
    if !env_file.is_file() {
        bail!(
            "slurm.env_file {} not found: run `make setup` (it writes env/lmeff.env) or point the setting at your environment script",
            env_file.display()
        );
    }
    let logs = absolute(&opts.workdir, &slurm.logs_dir);
    fs_err::create_dir_all(&logs)
        .with_context(|| format!("creating the log folder {}", logs.display()))?;
    let (stamp, created) = utc_now();
    let generated = absolute(&opts.workdir, &slurm.generated_dir);
    let mut folder = generated.join(&stamp);
    let mut n = 1;
    while folder.exists() {
        n += 1;
        folder = generated.join(format!("{stamp}-{n}"));
    }
    let staged = crate::io::Staged::new(&folder)?;
    let configs_copy = folder.join("configs.csv");
    let settings_file = folder.join("settings.toml");
    fs_err::copy(&opts.configs, staged.path().join("configs.csv"))
        .with_context(|| format!("copying {}", opts.configs.display()))?;
    let mut snapshot = settings.clone();
    snapshot.configs = configs_copy.clone();
    let toml = toml::to_string(&snapshot).context("writing the settings as TOML")?;
    let header = format!(
        "# Settings of the launch of {created}, resolved from defaults, settings file, LMEFF_* environment\n# and flags. Jobs read this file; paths are relative to {}.\n",
        opts.workdir.display()
    );
    fs_err::write(staged.path().join("settings.toml"), header + &toml)?;

    let ctx = RenderContext {
        workdir: opts.workdir.clone(),
        lmeff: opts.lmeff.clone(),
        env_file,
        settings_file: settings_file.clone(),
        configs: configs_copy.clone(),
        seeds: opts.seeds.clone(),
        created: created.clone(),
    };
    let (groups, scripts) = render(plan, settings, &ctx, &stages)?;
    for s in &scripts {
        let path = staged.path().join(&s.file_name);
        fs_err::write(&path, &s.text).with_context(|| format!("writing {}", path.display()))?;
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    let group_of = |task: usize| {
        groups
            .iter()
            .position(|g| g.tasks.contains(task))
            .expect("every run is in a group")
    };
    let mut manifest = Manifest {
        lmeff_version: env!("CARGO_PKG_VERSION").to_owned(),
        created,
        dry_run: opts.dry_run,
        git_revision: git_revision(&opts.workdir),
        workdir: opts.workdir.clone(),
        folder: folder.clone(),
        configs_source: absolute(&opts.workdir, &opts.configs),
        configs: configs_copy,
        settings: settings_file,
        seeds: opts.seeds.clone(),
        results_dir: settings.results_dir.clone(),
        throttle: slurm.throttle,
        stages: stages.clone(),
        runs: plan
            .runs
            .iter()
            .map(|r| RunEntry::new(r, group_of(r.task_index)))
            .collect(),
        groups: groups.clone(),
        scripts: scripts
            .iter()
            .map(|s| ScriptEntry {
                stage: s.stage,
                group: s.group,
                glue_task: s
                    .part
                    .as_ref()
                    .and_then(|p| p.glue_task().map(str::to_owned)),
                file: s.file_name.clone(),
            })
            .collect(),
        submissions: Vec::new(),
    };
    crate::io::write_json_atomic(&staged.path().join(MANIFEST), &manifest)?;
    staged.commit()?;

    if !opts.dry_run {
        let all: Vec<(usize, TaskSet)> =
            groups.iter().map(|g| (g.index, g.tasks.clone())).collect();
        let parts = manifest.eval_parts();
        let train = stages.contains(&Stage::Train);
        let round = Round {
            number: 0,
            train: if train { all.clone() } else { Vec::new() },
            eval_after_train: if train { parts.clone() } else { Vec::new() },
            eval_only: if train {
                Vec::new()
            } else {
                parts
                    .iter()
                    .flat_map(|p| all.iter().map(move |(g, t)| (p.clone(), *g, t.clone())))
                    .collect()
            },
            aggregate: stages.contains(&Stage::Aggregate),
            override_array: false,
            hold: opts.hold,
        };
        submit_round(&mut manifest, scheduler, &round)?;
    }
    Ok(Launched { manifest, scripts })
}

/// One round of submissions: the launch (round 0) or a resubmission.
pub(super) struct Round {
    pub(super) number: u32,
    /// Training tasks per group.
    pub(super) train: Vec<(usize, TaskSet)>,
    /// The evaluation arrays chained after each training array (`aftercorr`).
    pub(super) eval_after_train: Vec<EvalPart>,
    /// Evaluation tasks with no training before them: (part, group, tasks).
    pub(super) eval_only: Vec<(EvalPart, usize, TaskSet)>,
    pub(super) aggregate: bool,
    /// Pass `--array` (a resubmission runs a subset of the script's tasks).
    pub(super) override_array: bool,
    pub(super) hold: bool,
}

/// Submits a round in dependency order, saving the manifest after every job. If a submission
/// fails, the round's jobs already submitted are cancelled and the manifest is left as before.
pub(super) fn submit_round(
    m: &mut Manifest,
    scheduler: &dyn Scheduler,
    round: &Round,
) -> Result<Vec<Submission>> {
    let before = m.submissions.len();
    let result = (|| -> Result<()> {
        let mut evals = Vec::new();
        let mut trains = Vec::new();
        let submit = |m: &mut Manifest,
                      stage: Stage,
                      group: Option<usize>,
                      part: Option<&EvalPart>,
                      tasks: Option<&TaskSet>,
                      dependency: Option<String>|
         -> Result<String> {
            let script = m
                .script(stage, group, part)
                .with_context(|| {
                    let what = part.map_or(stage.name().to_owned(), |p| p.to_string());
                    format!("the launch has no {what} script for group {group:?}")
                })?
                .file
                .clone();
            let array = tasks.cloned();
            let opts = SubmitOptions {
                dependency: dependency.clone(),
                array: if round.override_array {
                    tasks.map(|t| t.spec(m.throttle))
                } else {
                    None
                },
                hold: round.hold,
            };
            let job_id = scheduler.submit(&m.folder.join(&script), &opts)?;
            m.submissions.push(Submission {
                stage,
                group,
                glue_task: part.and_then(|p| p.glue_task().map(str::to_owned)),
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
            let train = submit(m, Stage::Train, Some(*group), None, Some(tasks), None)?;
            trains.push(train.clone());
            for part in &round.eval_after_train {
                evals.push(submit(
                    m,
                    Stage::Eval,
                    Some(*group),
                    Some(part),
                    Some(tasks),
                    Some(format!("aftercorr:{train}")),
                )?);
            }
        }
        for (part, group, tasks) in &round.eval_only {
            evals.push(submit(
                m,
                Stage::Eval,
                Some(*group),
                Some(part),
                Some(tasks),
                None,
            )?);
        }
        if round.aggregate {
            let after = if evals.is_empty() { &trains } else { &evals };
            let dependency = (!after.is_empty()).then(|| format!("afterany:{}", after.join(":")));
            submit(m, Stage::Aggregate, None, None, None, dependency)?;
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

#[cfg(test)]
pub(super) mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::slurm::render::tests::{plan_and_settings, CONFIGS};
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

    pub(crate) fn options(dir: &Path) -> LaunchOptions {
        fs_err::write(dir.join("configs.csv"), CONFIGS).unwrap();
        fs_err::write(dir.join("lmeff.env"), "").unwrap();
        LaunchOptions {
            stages: Stage::ALL.to_vec(),
            dry_run: false,
            hold: false,
            seeds: None,
            lmeff: "/bin/lmeff".into(),
            workdir: dir.to_owned(),
            configs: dir.join("configs.csv"),
        }
    }

    pub(crate) fn settings(dir: &Path) -> Settings {
        let (_, mut s) = plan_and_settings();
        s.slurm.env_file = dir.join("lmeff.env");
        s
    }

    /// [`settings`] with GLUE arrays of `tasks` beside BLiMP's.
    pub(crate) fn glue_settings(dir: &Path, tasks: &[&str]) -> Settings {
        let mut s = settings(dir);
        s.slurm.benchmarks = vec![
            crate::config::Benchmark::Blimp,
            crate::config::Benchmark::Glue,
        ];
        s.slurm.glue_tasks = tasks.iter().map(|t| t.to_string()).collect();
        s
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

    #[test]
    fn stages_are_chained_and_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let (plan, _) = plan_and_settings();
        let fake = Fake::default();
        let l = launch(&plan, &settings(dir.path()), &options(dir.path()), &fake).unwrap();
        let subs = fake.submitted.borrow();
        let view: Vec<(&str, Option<&str>)> = subs
            .iter()
            .map(|(f, o)| (f.as_str(), o.dependency.as_deref()))
            .collect();
        assert_eq!(
            view,
            [
                ("train-0.sbatch", None),
                ("eval-0.sbatch", Some("aftercorr:100")),
                ("train-1.sbatch", None),
                ("eval-1.sbatch", Some("aftercorr:102")),
                ("aggregate.sbatch", Some("afterany:101:103")),
            ]
        );
        // The manifest on disk is the one returned, with every job id and the run of each index.
        let m = Manifest::load(&l.manifest.folder).unwrap();
        assert_eq!(m, l.manifest);
        assert_eq!(m.submissions.len(), 5);
        assert_eq!(m.runs[6].run_id, "web_180m_v32000_seed0_full");
        assert_eq!(m.runs[6].group, 1);
        assert!(m.folder.join("configs.csv").is_file() && m.folder.join("settings.toml").is_file());
        // The settings snapshot reads back and points at the launch's configs copy.
        let text = fs_err::read_to_string(&m.settings).unwrap();
        let snap: Settings = toml::from_str(&text).unwrap();
        assert_eq!(snap.configs, m.configs);
        assert_eq!(snap.slurm.throttle, 4);
        assert!(dir.path().join("logs").is_dir());
    }

    #[test]
    fn glue_arrays_are_chained_after_training_beside_blimp() {
        let dir = tempfile::tempdir().unwrap();
        let (plan, _) = plan_and_settings();
        let settings = glue_settings(dir.path(), &["rte"]);
        let fake = Fake::default();
        let l = launch(&plan, &settings, &options(dir.path()), &fake).unwrap();
        let subs = fake.submitted.borrow();
        let view: Vec<(&str, Option<&str>)> = subs
            .iter()
            .map(|(f, o)| (f.as_str(), o.dependency.as_deref()))
            .collect();
        assert_eq!(
            view,
            [
                ("train-0.sbatch", None),
                ("eval-0.sbatch", Some("aftercorr:100")),
                ("glue-0-rte.sbatch", Some("aftercorr:100")),
                ("train-1.sbatch", None),
                ("eval-1.sbatch", Some("aftercorr:103")),
                ("glue-1-rte.sbatch", Some("aftercorr:103")),
                ("aggregate.sbatch", Some("afterany:101:102:104:105")),
            ]
        );
        let m = Manifest::load(&l.manifest.folder).unwrap();
        assert_eq!(m.submissions[2].glue_task.as_deref(), Some("rte"));
        assert_eq!(
            m.submissions[2].to_string().split_whitespace().next(),
            Some("glue")
        );
        assert_eq!(
            m.eval_parts(),
            [EvalPart::Blimp, EvalPart::Glue("rte".into())]
        );
    }

    #[test]
    fn a_failed_submission_cancels_what_it_submitted() {
        let dir = tempfile::tempdir().unwrap();
        let (plan, _) = plan_and_settings();
        let fake = Fake {
            fail_at: Some(3),
            ..Default::default()
        };
        let err = launch(&plan, &settings(dir.path()), &options(dir.path()), &fake).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("invalid partition") && msg.contains("cancelled"),
            "{msg}"
        );
        assert_eq!(*fake.cancelled.borrow(), ["100", "101", "102"]);
        let generated = dir.path().join("slurm/generated");
        let folder = fs_err::read_dir(&generated)
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let m = Manifest::load(&folder.path()).unwrap();
        assert!(m.submissions.is_empty());
        let err = format!("{:#}", Manifest::latest(&generated).unwrap_err());
        assert!(err.contains("no submitted launch"), "{err}");
    }
}
