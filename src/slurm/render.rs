//! Rendering: the plan's runs grouped by the resources they need (nodes, ranks per node, time
//! limit), and per group one training array and one evaluation array whose task ids are the plan's
//! task indices, plus one aggregate job. Array task `i` of any stage always means run `i`, so
//! `aftercorr` pairs training and evaluation tasks, and a resubmission only changes `--array`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::array::TaskSet;
use super::template::{shell_quote, EvalPart, Stage, Template};
use crate::config::Device;
use crate::config::{Benchmark, GpuRequest, SlurmSettings};
use crate::config::{Plan, Settings, SlurmTime};

/// Runs that share one array job: the same nodes, ranks per node and time limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Position among the launch's groups (`train-<index>.sbatch`).
    pub index: usize,
    pub nodes: u32,
    /// Ranks (GPUs) per node: the configs.csv `gpus` column.
    pub ranks_per_node: u32,
    /// Time limit of each training task.
    pub time: String,
    /// The plan task indices of the group's runs (the array task ids).
    pub tasks: TaskSet,
}

/// What the scripts refer to, as absolute paths (jobs may start anywhere).
#[derive(Debug, Clone)]
pub struct RenderContext {
    /// The folder jobs run in (`--chdir`): where relative settings paths point from.
    pub workdir: PathBuf,
    /// The lmeff binary jobs run.
    pub lmeff: PathBuf,
    /// Sourced before lmeff runs.
    pub env_file: PathBuf,
    /// The launch's resolved settings (`--config`).
    pub settings_file: PathBuf,
    /// The launch's copy of configs.csv (`--configs`).
    pub configs: PathBuf,
    /// `--seeds` given at launch (they replace every row's seeds in the plan).
    pub seeds: Option<Vec<u64>>,
    /// When the launch was made (UTC), written into each script's header.
    pub created: String,
}

/// One rendered job script.
#[derive(Debug, Clone)]
pub struct Script {
    pub stage: Stage,
    /// The group of an array script; `None` for the aggregate job.
    pub group: Option<usize>,
    /// What an eval script runs.
    pub part: Option<EvalPart>,
    /// File name inside the launch folder.
    pub file_name: String,
    pub text: String,
}

/// Groups the plan's runs by (nodes, ranks per node, time limit), in order of first appearance.
pub fn groups(plan: &Plan, slurm: &SlurmSettings) -> Vec<Group> {
    let mut keys: Vec<(u32, u32, String)> = Vec::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    for run in &plan.runs {
        let key = (
            run.nodes,
            run.gpus,
            run.time
                .as_ref()
                .map_or_else(|| slurm.time.clone(), SlurmTime::to_string),
        );
        match keys.iter().position(|k| *k == key) {
            Some(g) => members[g].push(run.task_index),
            None => {
                keys.push(key);
                members.push(vec![run.task_index]);
            }
        }
    }
    keys.into_iter()
        .zip(members)
        .enumerate()
        .map(|(index, ((nodes, ranks_per_node, time), tasks))| Group {
            index,
            nodes,
            ranks_per_node,
            time,
            tasks: TaskSet::new(tasks),
        })
        .collect()
}

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

/// A value for an `#SBATCH` line: Slurm does not unquote them, so no whitespace.
fn directive_value(what: &str, p: &Path) -> Result<String> {
    let s = p.to_string_lossy().into_owned();
    if s.chars().any(char::is_whitespace) {
        bail!("{what} {s:?} contains whitespace, which #SBATCH lines cannot hold; use a path without spaces");
    }
    Ok(s)
}

fn args_suffix(args: &[String]) -> String {
    args.iter()
        .map(|a| format!(" {}", shell_quote(a)))
        .collect()
}

/// `[i]=value` lines of a bash array literal, one per task.
fn bash_array<'a>(entries: impl Iterator<Item = (usize, &'a str)>) -> String {
    let mut out = String::from("\n");
    for (i, v) in entries {
        out.push_str(&format!("  [{i}]={}\n", shell_quote(v)));
    }
    out
}

/// Renders the scripts of `stages` from the templates in `settings.slurm.templates_dir`.
pub fn render(
    plan: &Plan,
    settings: &Settings,
    ctx: &RenderContext,
    stages: &[Stage],
) -> Result<(Vec<Group>, Vec<Script>)> {
    let slurm = &settings.slurm;
    let groups = groups(plan, slurm);
    let want_gpus = match slurm.gpus {
        GpuRequest::Auto => settings.device != Device::Cpu,
        GpuRequest::Always => true,
        GpuRequest::Never => false,
    };
    let logs_dir = if slurm.logs_dir.is_absolute() {
        slurm.logs_dir.clone()
    } else {
        ctx.workdir.join(&slurm.logs_dir)
    };
    let options = |stage: Stage, gpus: Option<u32>| {
        let partition = match stage {
            Stage::Eval if !slurm.eval_partition.is_empty() => &slurm.eval_partition,
            Stage::Aggregate if !slurm.aggregate_partition.is_empty() => &slurm.aggregate_partition,
            _ => &slurm.partition,
        };
        let mut lines: Vec<String> = [
            ("partition", partition),
            ("account", &slurm.account),
            ("qos", &slurm.qos),
            ("constraint", &slurm.constraint),
            ("mem", &slurm.mem),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("#SBATCH --{k}={v}"))
        .collect();
        if let Some(g) = gpus.filter(|_| want_gpus) {
            lines.push(format!("#SBATCH --gpus-per-node={g}"));
        }
        lines.extend(slurm.extra.iter().map(|e| format!("#SBATCH {e}")));
        lines.join("\n")
    };
    let seeds_args: Vec<String> = ctx
        .seeds
        .as_ref()
        .map(|s| {
            let list: Vec<String> = s.iter().map(u64::to_string).collect();
            vec!["--seeds".to_owned(), list.join(",")]
        })
        .unwrap_or_default();
    let mut common: HashMap<&str, String> = HashMap::new();
    common.insert(
        "workdir",
        directive_value("the launch folder", &ctx.workdir)?,
    );
    common.insert("logs_dir", directive_value("slurm.logs_dir", &logs_dir)?);
    common.insert("env_file", shell_quote(&ctx.env_file.to_string_lossy()));
    common.insert("lmeff", shell_quote(&ctx.lmeff.to_string_lossy()));
    common.insert(
        "settings",
        shell_quote(&ctx.settings_file.to_string_lossy()),
    );
    common.insert("configs", shell_quote(&ctx.configs.to_string_lossy()));
    common.insert("created", ctx.created.clone());
    common.insert("cpus_per_task", slurm.cpus_per_task.to_string());
    common.insert("grace", slurm.grace.to_string());

    let mut scripts = Vec::new();
    let mut jobs: Vec<(Stage, Option<EvalPart>)> = Vec::new();
    if stages.contains(&Stage::Train) {
        jobs.push((Stage::Train, None));
    }
    if stages.contains(&Stage::Eval) {
        let parts = eval_parts(slurm)?;
        jobs.extend(parts.into_iter().map(|p| (Stage::Eval, Some(p))));
    }
    for (stage, part) in jobs {
        let template = Template::load(
            &slurm.templates_dir,
            part.as_ref().map_or(stage.name(), EvalPart::template),
        )?;
        for g in &groups {
            let tasks = &g.tasks;
            let runs = || tasks.indices().iter().map(|&i| &plan.runs[i]);
            let stem = part
                .as_ref()
                .map_or(format!("{}-{}", stage.name(), g.index), |p| {
                    p.script_stem(g.index)
                });
            let mut v = common.clone();
            v.insert("job_name", format!("{}-{stem}", slurm.job_name));
            v.insert("array", tasks.spec(slurm.throttle));
            v.insert("n_runs", tasks.len().to_string());
            match &part {
                None => {
                    v.insert("nodes", g.nodes.to_string());
                    v.insert("ntasks_per_node", g.ranks_per_node.to_string());
                    v.insert("time", g.time.clone());
                    v.insert("sbatch_options", options(stage, Some(g.ranks_per_node)));
                    v.insert(
                        "run_ids",
                        bash_array(runs().map(|r| (r.task_index, r.run_id.as_str()))),
                    );
                    let mut args = seeds_args.clone();
                    args.extend(slurm.train_args.iter().cloned());
                    v.insert("train_args", args_suffix(&args));
                }
                Some(p) => {
                    v.insert("time", slurm.eval_time.clone());
                    v.insert("sbatch_options", options(stage, Some(1)));
                    let dirs: Vec<(usize, String)> = runs()
                        .map(|r| (r.task_index, r.output_dir.to_string_lossy().into_owned()))
                        .collect();
                    v.insert(
                        "run_dirs",
                        bash_array(dirs.iter().map(|(i, d)| (*i, d.as_str()))),
                    );
                    match p {
                        EvalPart::Blimp => {
                            v.insert("eval_args", args_suffix(&slurm.eval_args));
                        }
                        EvalPart::Glue(task) => {
                            v.insert("glue_task", task.clone());
                            v.insert("glue_args", args_suffix(&slurm.glue_args));
                        }
                    }
                }
            }
            scripts.push(Script {
                stage,
                group: Some(g.index),
                part: part.clone(),
                file_name: format!("{stem}.sbatch"),
                text: template.render(&v)?,
            });
        }
    }
    if stages.contains(&Stage::Aggregate) {
        let template = Template::load(&slurm.templates_dir, Stage::Aggregate.name())?;
        let mut v = common.clone();
        v.insert("job_name", format!("{}-aggregate", slurm.job_name));
        v.insert("time", slurm.aggregate_time.clone());
        v.insert("sbatch_options", options(Stage::Aggregate, None));
        let mut args = seeds_args.clone();
        args.extend(slurm.aggregate_args.iter().cloned());
        v.insert("aggregate_args", args_suffix(&args));
        scripts.push(Script {
            stage: Stage::Aggregate,
            group: None,
            part: None,
            file_name: "aggregate.sbatch".into(),
            text: template.render(&v)?,
        });
    }
    Ok((groups, scripts))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::matrix::parse_matrix;
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
        let rows = parse_matrix(CONFIGS, &presets, &settings).unwrap();
        let plan = Plan::build(Path::new("configs.csv"), &rows, &presets, &settings, None).unwrap();
        (plan, settings)
    }

    pub fn context() -> RenderContext {
        RenderContext {
            workdir: "/project".into(),
            lmeff: "/project/target/release/lmeff".into(),
            env_file: "/project/env/lmeff.env".into(),
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
        let (groups, scripts) = render(&plan, &settings, &context(), &Stage::ALL).unwrap();
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
        let (_, scripts) = render(&plan, &settings, &context(), &Stage::ALL).unwrap();
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
        let (_, scripts) = render(&plan, &settings, &context(), &[Stage::Eval]).unwrap();
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
        let err = render(&plan, &settings, &context(), &[Stage::Eval])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("slurm.glue_tasks") && err.contains("superglue"),
            "{err}"
        );
    }

    #[test]
    fn cpu_runs_ask_for_no_gpus_and_paths_with_spaces_are_refused() {
        let (plan, mut settings) = plan_and_settings();
        settings.device = Device::Cpu;
        let (_, scripts) = render(&plan, &settings, &context(), &[Stage::Train]).unwrap();
        assert!(scripts.iter().all(|s| !s.text.contains("--gpus-per-node")));
        assert!(scripts[1].text.contains("#SBATCH --ntasks-per-node=2"));
        let mut ctx = context();
        ctx.workdir = "/my project".into();
        let err = render(&plan, &settings, &ctx, &[Stage::Train])
            .unwrap_err()
            .to_string();
        assert!(err.contains("whitespace"), "{err}");
    }
}
