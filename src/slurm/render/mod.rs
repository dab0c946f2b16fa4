//! Rendering: the plan's runs grouped by the resources they need (nodes, ranks per node, time
//! limit), and per group one training array and one evaluation array whose task ids are the plan's
//! task indices, plus one aggregate job. Array task `i` of any stage always means run `i`, so
//! `aftercorr` pairs training and evaluation tasks, and a resubmission only changes `--array`.

use anyhow::Result;

use super::array::TaskSet;
use super::template::{EvalPart, Stage};
use crate::config::{Anchor, Benchmark, Millions, SlurmSettings};
use crate::config::{Plan, Settings};

mod groups;
mod scripts;

pub use groups::{groups, Group};
use scripts::Renderer;
pub use scripts::{RenderContext, Script};

/// The evaluation arrays of each group: BLiMP and one per GLUE task, as `slurm.benchmarks` says.
/// An unknown GLUE task is an error naming the setting.
pub fn eval_parts(slurm: &SlurmSettings) -> Result<Vec<EvalPart>> {
    let mut parts = Vec::new();
    for b in &slurm.benchmarks {
        match b {
            Benchmark::Blimp => parts.push(EvalPart::Blimp),
            Benchmark::Glue => {
                let study = crate::data::glue::tasks::STUDY_TASKS.map(str::to_owned);
                let tasks = if slurm.glue_tasks.is_empty() {
                    &study[..]
                } else {
                    &slurm.glue_tasks[..]
                };
                for t in tasks {
                    crate::data::glue::tasks::Task::named(t)
                        .map_err(|e| anyhow::anyhow!("settings: `slurm.glue_tasks`: {e:#}"))?;
                    parts.push(EvalPart::Glue(t.clone()));
                }
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    parts.retain(|p| seen.insert(p.clone()));
    Ok(parts)
}

/// The race's rungs (`launch --race`): every milestone from `race.min_anchor` on that some full
/// run reaches, with per group the full runs that reach it. Budget runs are never raced (they
/// stop with their configuration).
pub fn race_rungs(plan: &Plan, settings: &Settings, groups: &[Group]) -> Vec<RungTasks> {
    let first = settings.race.min_anchor;
    let mut out = Vec::new();
    for &m in settings.milestones.iter().filter(|m| m.get() >= first) {
        let reaches = |i: usize| {
            let r = &plan.runs[i];
            r.key.anchor == Anchor::Full && r.milestone_steps.iter().any(|s| s.millions == m)
        };
        let per_group: Vec<(usize, TaskSet)> = groups
            .iter()
            .map(|g| {
                let t: Vec<usize> = g
                    .tasks
                    .indices()
                    .iter()
                    .copied()
                    .filter(|&i| reaches(i))
                    .collect();
                (g.index, TaskSet::new(t))
            })
            .filter(|(_, t)| !t.is_empty())
            .collect();
        if !per_group.is_empty() {
            out.push(RungTasks {
                rung: m,
                groups: per_group,
            });
        }
    }
    out
}

/// One rung of a launch's race: the tasks of each group evaluated there.
#[derive(Debug, Clone, PartialEq)]
pub struct RungTasks {
    pub rung: Millions,
    pub groups: Vec<(usize, TaskSet)>,
}

/// Renders the scripts of `stages` from the templates in `settings.slurm.templates_dir`, and with
/// `race` each rung's evaluation arrays and decision job.
pub fn render(
    plan: &Plan,
    settings: &Settings,
    ctx: &RenderContext,
    stages: &[Stage],
    race: bool,
) -> Result<(Vec<Group>, Vec<Script>)> {
    let groups = groups(plan, &settings.slurm);
    let renderer = Renderer::new(settings, ctx)?;
    let mut scripts = Vec::new();
    if stages.contains(&Stage::Train) {
        for g in &groups {
            scripts.push(renderer.train(plan, g)?);
        }
    }
    if stages.contains(&Stage::Eval) {
        for part in eval_parts(&settings.slurm)? {
            for g in &groups {
                scripts.push(renderer.eval(plan, g, &part)?);
            }
        }
    }
    if race {
        for r in race_rungs(plan, settings, &groups) {
            for (g, tasks) in &r.groups {
                scripts.push(renderer.rung(plan, &groups[*g], r.rung, tasks)?);
            }
            scripts.push(renderer.race(r.rung, &ctx.folder)?);
        }
    }
    if stages.contains(&Stage::Aggregate) {
        scripts.push(renderer.aggregate()?);
    }
    Ok((groups, scripts))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::matrix::parse_matrix;
    use crate::config::Device;
    use crate::config::Presets;

    /// A 3-row configs.csv: two rows that share resources and a two-GPU row with its own time.
    pub const CONFIGS: &str = "model_config,dataset,epochs,batch_size,grad_accum,seq_length,anchors,tokenizer_vocab_size,gpus,time\n\
20m,tinystories,50,64,1,256,\"[-1]\",16000,,\n\
60m,babylm,20,128,2,256,\"[25,50]\",16000,,\n\
180m,web,10,0,0,256,\"[-1]\",32000,2,2-00:00:00\n";

    pub fn plan_and_settings() -> (Plan, Settings) {
        let presets =
            Presets::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/models"))
                .unwrap();
        let mut settings = Settings {
            device: Device::Cuda(0),
            seeds: vec![0, 1],
            ..Default::default()
        };
        settings.slurm.partition = "gpu".into();
        settings.slurm.aggregate_partition = "cpu".into();
        settings.slurm.account = "lm-study".into();
        settings.slurm.throttle = 4;
        settings.slurm.extra = vec!["--mail-type=FAIL".into()];
        settings.slurm.eval_args = vec!["--batch-tokens".into(), "65536".into()];
        settings.slurm.templates_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("slurm");
        let rows = parse_matrix(CONFIGS, &presets).unwrap();
        let plan = Plan::build(Path::new("configs.csv"), &rows, &presets, &settings, None).unwrap();
        (plan, settings)
    }

    pub fn context() -> RenderContext {
        RenderContext {
            workdir: "/project".into(),
            lmeff: "/project/target/release/lmeff".into(),
            env_file: "/project/env/lmeff.env".into(),
            folder: "/project/slurm/generated/20261127-063012".into(),
            settings_file: "/project/slurm/generated/20261127-063012/settings.toml".into(),
            configs: "/project/slurm/generated/20261127-063012/configs.csv".into(),
            seeds: None,
            created: "2026-11-27T06:30:12Z".into(),
        }
    }

    /// The rendered scripts equal `tests/golden/slurm/*.sbatch`; `LMEFF_UPDATE_GOLDEN=1` rewrites
    /// them after a deliberate change (review the diff).
    #[test]
    fn scripts_match_the_golden_files() {
        let (plan, settings) = plan_and_settings();
        let (groups, scripts) = render(&plan, &settings, &context(), &Stage::ALL, false).unwrap();
        assert_eq!(plan.runs.len(), 8);
        assert_eq!(
            groups
                .iter()
                .map(|g| (g.ranks_per_node, g.time.as_str(), g.tasks.to_string()))
                .collect::<Vec<_>>(),
            [
                (1, "24:00:00", "0-5".to_owned()),
                (2, "2-00:00:00", "6-7".to_owned())
            ]
        );
        let names: Vec<&str> = scripts.iter().map(|s| s.file_name.as_str()).collect();
        assert_eq!(
            names,
            [
                "train-0.sbatch",
                "train-1.sbatch",
                "eval-0.sbatch",
                "eval-1.sbatch",
                "aggregate.sbatch"
            ]
        );
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/slurm");
        let update = std::env::var_os("LMEFF_UPDATE_GOLDEN").is_some();
        for s in &scripts {
            let path = dir.join(&s.file_name);
            if update {
                fs_err::create_dir_all(&dir).unwrap();
                fs_err::write(&path, &s.text).unwrap();
            }
            let golden =
                fs_err::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                s.text, golden,
                "{} differs from its golden file",
                s.file_name
            );
        }
    }

    #[test]
    fn rendered_scripts_are_valid_bash() {
        let (plan, settings) = plan_and_settings();
        let (_, scripts) = render(&plan, &settings, &context(), &Stage::ALL, false).unwrap();
        for s in &scripts {
            let out = std::process::Command::new("bash")
                .args(["-n", "-c", &s.text])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                s.file_name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn glue_tasks_are_arrays_of_their_own_beside_blimp() {
        let (plan, mut settings) = plan_and_settings();
        settings.slurm.benchmarks = vec![Benchmark::Blimp, Benchmark::Glue];
        settings.slurm.glue_tasks = vec!["rte".into(), "wsc".into()];
        settings.slurm.glue_args = vec!["--data".into(), "/scratch/my glue".into()];
        let (_, scripts) = render(&plan, &settings, &context(), &[Stage::Eval], false).unwrap();
        let names: Vec<&str> = scripts.iter().map(|s| s.file_name.as_str()).collect();
        assert_eq!(
            names,
            [
                "eval-0.sbatch",
                "eval-1.sbatch",
                "glue-0-rte.sbatch",
                "glue-1-rte.sbatch",
                "glue-0-wsc.sbatch",
                "glue-1-wsc.sbatch"
            ]
        );
        let wsc = &scripts[5].text;
        assert!(wsc.contains("#SBATCH --job-name=lmeff-glue-1-wsc"), "{wsc}");
        assert!(wsc.contains("#SBATCH --array=6-7%4"), "{wsc}");
        assert!(
            wsc.contains(r#"eval glue --run "$run_dir" --tasks wsc --data '/scratch/my glue'"#),
            "{wsc}"
        );
        assert!(wsc.contains("logs/glue-wsc_%A_%a.out"), "{wsc}");
        // The study's seven when no task is named; an unknown task is refused by name.
        settings.slurm.glue_tasks.clear();
        settings.slurm.benchmarks = vec![Benchmark::Glue];
        let parts = eval_parts(&settings.slurm).unwrap();
        assert_eq!(parts.len(), 7);
        assert_eq!(parts[0], EvalPart::Glue("boolq".into()));
        settings.slurm.glue_tasks = vec!["superglue".into()];
        let err = render(&plan, &settings, &context(), &[Stage::Eval], false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("slurm.glue_tasks") && err.contains("superglue"),
            "{err}"
        );
    }

    #[test]
    fn a_race_adds_per_rung_arrays_of_full_runs_and_a_decision_job() {
        let (plan, mut settings) = plan_and_settings();
        settings.race.min_anchor = 1750.0;
        let (_, scripts) = render(&plan, &settings, &context(), &Stage::ALL, true).unwrap();
        let race: Vec<&str> = scripts
            .iter()
            .filter(|s| s.rung.is_some())
            .map(|s| s.file_name.as_str())
            .collect();
        // The study's milestones from 1750M on; babylm's budget runs are never raced.
        assert_eq!(
            race,
            [
                "rung-0-1750M.sbatch",
                "rung-1-1750M.sbatch",
                "race-1750M.sbatch",
                "rung-0-2000M.sbatch",
                "rung-1-2000M.sbatch",
                "race-2000M.sbatch"
            ]
        );
        let rung = &scripts
            .iter()
            .find(|s| s.file_name == "rung-0-1750M.sbatch")
            .unwrap()
            .text;
        assert!(rung.contains("#SBATCH --array=0-1%4"), "{rung}");
        assert!(
            rung.contains("#SBATCH --partition=gpu") && rung.contains("--gpus-per-node=1"),
            "{rung}"
        );
        assert!(
            rung.contains(
                r#"eval blimp --run "$run_dir" --milestone 1750 --wait --batch-tokens 65536"#
            ),
            "{rung}"
        );
        let decide = &scripts
            .iter()
            .find(|s| s.file_name == "race-1750M.sbatch")
            .unwrap()
            .text;
        assert!(decide.contains("#SBATCH --partition=cpu"), "{decide}");
        assert!(
            decide.contains("race --launch /project/slurm/generated/20261127-063012 --rung 1750"),
            "{decide}"
        );
        settings.race.min_anchor = 5000.0;
        let plan_rungs = race_rungs(&plan, &settings, &groups(&plan, &settings.slurm));
        assert!(plan_rungs.is_empty());
    }

    #[test]
    fn cpu_runs_ask_for_no_gpus_and_paths_with_spaces_are_refused() {
        let (plan, mut settings) = plan_and_settings();
        settings.device = Device::Cpu;
        let (_, scripts) = render(&plan, &settings, &context(), &[Stage::Train], false).unwrap();
        assert!(scripts.iter().all(|s| !s.text.contains("--gpus-per-node")));
        assert!(scripts[1].text.contains("#SBATCH --ntasks-per-node=2"));
        let mut ctx = context();
        ctx.workdir = "/my project".into();
        let err = render(&plan, &settings, &ctx, &[Stage::Train], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("whitespace"), "{err}");
    }
}
