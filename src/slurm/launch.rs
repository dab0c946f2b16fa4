//! `lmeff launch`: render a launch folder (scripts, a copy of configs.csv, the resolved settings,
//! the manifest), then submit its first round ([`super::submit`]).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::array::TaskSet;
use super::manifest::{git_revision, utc_now, Manifest, RunEntry, ScriptEntry, MANIFEST};
use super::render::{race_rungs, render, Group, RenderContext, RungTasks, Script};
use super::scheduler::Scheduler;
use super::submit::{submit_round, Round};
use super::template::Stage;
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
    /// Race the configurations (`[race]` settings): evaluate every rung while training goes on
    /// and stop the losers.
    pub race: bool,
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
    let opts = &LaunchOptions {
        stages,
        ..opts.clone()
    };
    if opts.stages.is_empty() {
        bail!("--stages: name at least one of train, eval, aggregate");
    }
    if plan.runs.is_empty() {
        bail!("{}: the plan has no runs", opts.configs.display());
    }
    let rungs = if opts.race {
        race_rungs_checked(plan, settings, opts)?
    } else {
        Vec::new()
    };
    let (folder, ctx) = prepare(settings, opts)?;
    let staged = crate::io::Staged::new(&folder)?;
    write_inputs(staged.path(), settings, opts, &ctx)?;
    let (groups, scripts) = render(plan, settings, &ctx, &opts.stages, opts.race)?;
    for s in &scripts {
        let path = staged.path().join(&s.file_name);
        fs_err::write(&path, &s.text).with_context(|| format!("writing {}", path.display()))?;
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    let mut manifest = manifest(plan, settings, opts, &ctx, folder, groups, &scripts);
    crate::io::write_json_atomic(&staged.path().join(MANIFEST), &manifest)?;
    staged.commit()?;
    if !opts.dry_run {
        let mut round = first_round(&manifest, opts.hold);
        round.race = rungs;
        submit_round(&mut manifest, scheduler, &round)?;
    }
    Ok(Launched { manifest, scripts })
}

/// The launch folder's path (a new one, stamped with the time) and what the scripts are
/// rendered with; checks the environment script and creates the log folder.
fn prepare(settings: &Settings, opts: &LaunchOptions) -> Result<(PathBuf, RenderContext)> {
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
    let ctx = RenderContext {
        workdir: opts.workdir.clone(),
        lmeff: opts.lmeff.clone(),
        env_file,
        folder: folder.clone(),
        settings_file: folder.join("settings.toml"),
        configs: folder.join("configs.csv"),
        seeds: opts.seeds.clone(),
        created,
    };
    Ok((folder, ctx))
}

/// Copies configs.csv into the staged folder and writes the resolved settings beside it.
fn write_inputs(
    staged: &Path,
    settings: &Settings,
    opts: &LaunchOptions,
    ctx: &RenderContext,
) -> Result<()> {
    fs_err::copy(&opts.configs, staged.join("configs.csv"))
        .with_context(|| format!("copying {}", opts.configs.display()))?;
    let mut snapshot = settings.clone();
    snapshot.configs = ctx.configs.clone();
    let toml = toml::to_string(&snapshot).context("writing the settings as TOML")?;
    let header = format!(
        "# Settings of the launch of {}, resolved from defaults, settings file, LMEFF_* environment\n# and flags. Jobs read this file; paths are relative to {}.\n",
        ctx.created,
        opts.workdir.display()
    );
    fs_err::write(staged.join("settings.toml"), header + &toml)?;
    Ok(())
}

/// The race's rungs; an error when racing cannot work (training or evaluation not a stage, no
/// rung any full run reaches).
fn race_rungs_checked(
    plan: &Plan,
    settings: &Settings,
    opts: &LaunchOptions,
) -> Result<Vec<RungTasks>> {
    if !(opts.stages.contains(&Stage::Train) && opts.stages.contains(&Stage::Eval)) {
        bail!("--race needs the train and eval stages: it scores each rung while training goes on");
    }
    settings.race.check()?;
    let rungs = race_rungs(
        plan,
        settings,
        &super::render::groups(plan, &settings.slurm),
    );
    if rungs.is_empty() {
        bail!(
            "--race: no full run of {} reaches a milestone from race.min_anchor = {}M on (milestones: {}); lower race.min_anchor or add milestones",
            opts.configs.display(),
            settings.race.min_anchor,
            settings
                .milestones
                .iter()
                .map(|m| format!("{m}M"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(rungs)
}

/// The launch's manifest before anything is submitted.
fn manifest(
    plan: &Plan,
    settings: &Settings,
    opts: &LaunchOptions,
    ctx: &RenderContext,
    folder: PathBuf,
    groups: Vec<Group>,
    scripts: &[Script],
) -> Manifest {
    let group_of = |task: usize| {
        groups
            .iter()
            .position(|g| g.tasks.contains(task))
            .expect("every run is in a group")
    };
    let runs = plan
        .runs
        .iter()
        .map(|r| RunEntry::new(r, group_of(r.task_index)))
        .collect();
    let scripts = scripts
        .iter()
        .map(|s| ScriptEntry {
            stage: s.stage,
            group: s.group,
            glue_task: s
                .part
                .as_ref()
                .and_then(|p| p.glue_task().map(str::to_owned)),
            rung: s.rung,
            file: s.file_name.clone(),
        })
        .collect();
    Manifest {
        lmeff_version: env!("CARGO_PKG_VERSION").to_owned(),
        lmeff_commit: Some(env!("BUILD_LMEFF_COMMIT").to_owned()),
        created: ctx.created.clone(),
        dry_run: opts.dry_run,
        git_revision: git_revision(&opts.workdir),
        workdir: opts.workdir.clone(),
        folder,
        configs_source: absolute(&opts.workdir, &opts.configs),
        configs: ctx.configs.clone(),
        settings: ctx.settings_file.clone(),
        seeds: opts.seeds.clone(),
        results_dir: settings.results_dir.clone(),
        throttle: settings.slurm.throttle,
        stages: opts.stages.clone(),
        runs,
        groups,
        scripts,
        submissions: Vec::new(),
    }
}

/// Round 0: every group's training array with its evaluation arrays after it (or evaluation
/// alone when training is not a stage), then the aggregate.
fn first_round(manifest: &Manifest, hold: bool) -> Round {
    let all: Vec<(usize, TaskSet)> = manifest
        .groups
        .iter()
        .map(|g| (g.index, g.tasks.clone()))
        .collect();
    let parts = manifest.eval_parts();
    let train = manifest.stages.contains(&Stage::Train);
    let eval_only = parts
        .iter()
        .flat_map(|p| all.iter().map(move |(g, t)| (p.clone(), *g, t.clone())))
        .collect();
    Round {
        number: 0,
        train: if train { all } else { Vec::new() },
        eval_after_train: if train { parts } else { Vec::new() },
        eval_only: if train { Vec::new() } else { eval_only },
        race: Vec::new(),
        aggregate: manifest.stages.contains(&Stage::Aggregate),
        override_array: false,
        hold,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::slurm::render::tests::{plan_and_settings, CONFIGS};
    use crate::slurm::submit::tests::Fake;
    use crate::slurm::template::EvalPart;

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
            race: false,
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
    fn a_race_chains_each_rung_after_training_starts_and_its_decision_after_the_rung() {
        let dir = tempfile::tempdir().unwrap();
        let (plan, _) = plan_and_settings();
        let mut s = settings(dir.path());
        s.race.min_anchor = 2000.0;
        let opts = LaunchOptions {
            race: true,
            ..options(dir.path())
        };
        let fake = Fake::default();
        let l = launch(&plan, &s, &opts, &fake).unwrap();
        let view: Vec<String> = l
            .manifest
            .submissions
            .iter()
            .map(|x| format!("{} {} {:?}", x.job_id, x.script, x.dependency))
            .collect();
        assert_eq!(
            view,
            [
                "100 train-0.sbatch None",
                "101 eval-0.sbatch Some(\"aftercorr:100\")",
                "102 rung-0-2000M.sbatch Some(\"after:100\")",
                "103 train-1.sbatch None",
                "104 eval-1.sbatch Some(\"aftercorr:103\")",
                "105 rung-1-2000M.sbatch Some(\"after:103\")",
                "106 race-2000M.sbatch Some(\"afterany:102:105\")",
                "107 aggregate.sbatch Some(\"afterany:101:104:106\")",
            ]
        );
        assert_eq!(
            l.manifest.rungs(),
            [crate::config::Millions::new(2000.0).unwrap()]
        );
        // Racing needs training and evaluation, and a rung some full run reaches.
        let only_train = LaunchOptions {
            stages: vec![Stage::Train],
            ..opts.clone()
        };
        let err = launch(&plan, &s, &only_train, &fake).unwrap_err();
        assert!(format!("{err:#}").contains("--race needs the train and eval stages"));
        s.race.min_anchor = 3000.0;
        let err = format!("{:#}", launch(&plan, &s, &opts, &fake).unwrap_err());
        assert!(
            err.contains("race.min_anchor = 3000M") && err.contains("2000M"),
            "{err}"
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
