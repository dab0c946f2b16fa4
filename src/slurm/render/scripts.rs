//! One script per array (or job): the template of its stage filled with the launch's common
//! values, its group's resources and its runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::groups::Group;
use crate::config::{Device, GpuRequest, Millions, Plan, Run, Settings};
use crate::slurm::array::TaskSet;
use crate::slurm::template::{shell_quote, EvalPart, Stage, Template};

/// What the scripts refer to, as absolute paths (jobs may start anywhere).
#[derive(Debug, Clone)]
pub struct RenderContext {
    /// The folder jobs run in (`--chdir`): where relative settings paths point from.
    pub workdir: PathBuf,
    /// The lmeff binary jobs run.
    pub lmeff: PathBuf,
    /// Sourced before lmeff runs.
    pub env_file: PathBuf,
    /// The launch folder (`lmeff race --launch`).
    pub folder: PathBuf,
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
    /// The rung of a race script (`rung`, `race`).
    pub rung: Option<Millions>,
    /// File name inside the launch folder.
    pub file_name: String,
    pub text: String,
}

/// What every script of a launch shares: the settings, the values common to all templates, and
/// the `--seeds` a launch passes on.
pub(super) struct Renderer<'s> {
    settings: &'s Settings,
    common: HashMap<&'static str, String>,
    seeds_args: Vec<String>,
}

impl<'s> Renderer<'s> {
    pub(super) fn new(settings: &'s Settings, ctx: &RenderContext) -> Result<Self> {
        let slurm = &settings.slurm;
        let logs_dir = match slurm.logs_dir.is_absolute() {
            true => slurm.logs_dir.clone(),
            false => ctx.workdir.join(&slurm.logs_dir),
        };
        let quoted = |p: &Path| shell_quote(&p.to_string_lossy());
        let common = HashMap::from([
            (
                "workdir",
                directive_value("the launch folder", &ctx.workdir)?,
            ),
            ("logs_dir", directive_value("slurm.logs_dir", &logs_dir)?),
            ("env_file", quoted(&ctx.env_file)),
            ("lmeff", quoted(&ctx.lmeff)),
            ("settings", quoted(&ctx.settings_file)),
            ("configs", quoted(&ctx.configs)),
            ("created", ctx.created.clone()),
            ("cpus_per_task", slurm.cpus_per_task.to_string()),
            ("grace", slurm.grace.to_string()),
        ]);
        let seeds_args = ctx
            .seeds
            .as_ref()
            .map(|s| {
                let list: Vec<String> = s.iter().map(u64::to_string).collect();
                vec!["--seeds".to_owned(), list.join(",")]
            })
            .unwrap_or_default();
        Ok(Renderer {
            settings,
            common,
            seeds_args,
        })
    }

    /// The training array of group `g`.
    pub(super) fn train(&self, plan: &Plan, g: &Group) -> Result<Script> {
        let slurm = &self.settings.slurm;
        let stem = format!("{}-{}", Stage::Train.name(), g.index);
        let mut v = self.array_values(&g.tasks, &stem);
        v.insert("nodes", g.nodes.to_string());
        v.insert("ntasks_per_node", g.ranks_per_node.to_string());
        v.insert("time", g.time.clone());
        v.insert(
            "sbatch_options",
            self.options(Stage::Train, Some(g.ranks_per_node)),
        );
        let ids = runs(plan, g).map(|r| (r.task_index, r.run_id.as_str()));
        v.insert("run_ids", bash_array(ids));
        let mut args = self.seeds_args.clone();
        args.extend(slurm.train_args.iter().cloned());
        v.insert("train_args", args_suffix(&args));
        self.script(Stage::Train, Some(g.index), None, &stem, &v)
    }

    /// The evaluation array of group `g` for `part` (BLiMP or one GLUE task).
    pub(super) fn eval(&self, plan: &Plan, g: &Group, part: &EvalPart) -> Result<Script> {
        let slurm = &self.settings.slurm;
        let stem = part.script_stem(g.index);
        let mut v = self.array_values(&g.tasks, &stem);
        v.insert("time", slurm.eval_time.clone());
        v.insert("sbatch_options", self.options(Stage::Eval, Some(1)));
        v.insert("run_dirs", run_dirs(plan, &g.tasks));
        match part {
            EvalPart::Blimp => {
                v.insert("eval_args", args_suffix(&slurm.eval_args));
            }
            EvalPart::Glue(task) => {
                v.insert("glue_task", task.clone());
                v.insert("glue_args", args_suffix(&slurm.glue_args));
            }
        }
        self.script(Stage::Eval, Some(g.index), Some(part), &stem, &v)
    }

    /// Group `g`'s evaluation array at race rung `rung`: its `tasks` (the full runs that reach
    /// it) wait for their milestone checkpoint, then score it on BLiMP.
    pub(super) fn rung(
        &self,
        plan: &Plan,
        g: &Group,
        rung: Millions,
        tasks: &TaskSet,
    ) -> Result<Script> {
        let slurm = &self.settings.slurm;
        let stem = format!("rung-{}-{rung}M", g.index);
        let mut v = self.array_values(tasks, &stem);
        v.insert("rung", rung.to_string());
        v.insert("time", g.time.clone());
        v.insert("sbatch_options", self.options(Stage::Rung, Some(1)));
        v.insert("run_dirs", run_dirs(plan, tasks));
        v.insert("eval_args", args_suffix(&slurm.eval_args));
        let mut script = self.script(Stage::Rung, Some(g.index), None, &stem, &v)?;
        script.rung = Some(rung);
        Ok(script)
    }

    /// The decision job of race rung `rung`.
    pub(super) fn race(&self, rung: Millions, folder: &Path) -> Result<Script> {
        let slurm = &self.settings.slurm;
        let stem = format!("race-{rung}M");
        let mut v = self.common.clone();
        v.insert("job_name", format!("{}-{stem}", slurm.job_name));
        v.insert("rung", rung.to_string());
        v.insert("launch", shell_quote(&folder.to_string_lossy()));
        v.insert("time", slurm.aggregate_time.clone());
        v.insert("sbatch_options", self.options(Stage::Race, None));
        let mut script = self.script(Stage::Race, None, None, &stem, &v)?;
        script.rung = Some(rung);
        Ok(script)
    }

    /// The aggregate job.
    pub(super) fn aggregate(&self) -> Result<Script> {
        let slurm = &self.settings.slurm;
        let mut v = self.common.clone();
        v.insert("job_name", format!("{}-aggregate", slurm.job_name));
        v.insert("time", slurm.aggregate_time.clone());
        v.insert("sbatch_options", self.options(Stage::Aggregate, None));
        let mut args = self.seeds_args.clone();
        args.extend(slurm.aggregate_args.iter().cloned());
        v.insert("aggregate_args", args_suffix(&args));
        self.script(Stage::Aggregate, None, None, "aggregate", &v)
    }

    /// The common values with an array's name, `--array` (over `tasks`) and size.
    fn array_values(&self, tasks: &TaskSet, stem: &str) -> HashMap<&'static str, String> {
        let slurm = &self.settings.slurm;
        let mut v = self.common.clone();
        v.insert("job_name", format!("{}-{stem}", slurm.job_name));
        v.insert("array", tasks.spec(slurm.throttle));
        v.insert("n_runs", tasks.len().to_string());
        v
    }

    fn script(
        &self,
        stage: Stage,
        group: Option<usize>,
        part: Option<&EvalPart>,
        stem: &str,
        values: &HashMap<&'static str, String>,
    ) -> Result<Script> {
        let name = part.map_or(stage.name(), EvalPart::template);
        let template = Template::load(&self.settings.slurm.templates_dir, name)?;
        Ok(Script {
            stage,
            group,
            part: part.cloned(),
            rung: None,
            file_name: format!("{stem}.sbatch"),
            text: template.render(values)?,
        })
    }

    /// The `#SBATCH` lines of a stage: partition, account, QoS, constraint, memory, GPUs, extras.
    fn options(&self, stage: Stage, gpus: Option<u32>) -> String {
        let (slurm, device) = (&self.settings.slurm, self.settings.device);
        let want_gpus = match slurm.gpus {
            GpuRequest::Auto => device != Device::Cpu,
            GpuRequest::Always => true,
            GpuRequest::Never => false,
        };
        let partition = match stage {
            Stage::Eval | Stage::Rung if !slurm.eval_partition.is_empty() => &slurm.eval_partition,
            Stage::Aggregate | Stage::Race if !slurm.aggregate_partition.is_empty() => {
                &slurm.aggregate_partition
            }
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
    }
}

/// The plan's runs of group `g`, by task index.
fn runs<'p>(plan: &'p Plan, g: &'p Group) -> impl Iterator<Item = &'p Run> {
    g.tasks.indices().iter().map(|&i| &plan.runs[i])
}

/// The `RUN_DIRS` bash array of `tasks`: each task's run folder.
fn run_dirs(plan: &Plan, tasks: &TaskSet) -> String {
    let dirs: Vec<(usize, String)> = tasks
        .indices()
        .iter()
        .map(|&i| (i, plan.runs[i].output_dir.to_string_lossy().into_owned()))
        .collect();
    bash_array(dirs.iter().map(|(i, d)| (*i, d.as_str())))
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
