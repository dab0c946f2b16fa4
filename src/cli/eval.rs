//! `lmeff eval blimp`: score checkpoints on BLiMP; `lmeff eval glue`: fine-tune them on GLUE.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use lmeff::config::layout::checkpoint::{is_checkpoint, run_checkpoints};
use lmeff::config::{CheckpointLabel, Millions, Settings, SettingsOverrides};
use lmeff::eval::glue::finetune::Recipe;
use lmeff::eval::glue::{self, GlueOptions};
use lmeff::eval::{blimp_data, evaluate, EvalOptions, Target};
use lmeff::hub::pull::pull;
use lmeff::hub::{Credentials, Hub, RepoId};
use lmeff::train::Precision;

use super::format::{print_json, SummaryFormat};

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub what: EvalWhat,
}

#[derive(Debug, Subcommand)]
pub enum EvalWhat {
    /// BLiMP minimal pairs: per-pair Parquet, per-paradigm summary, lm-eval-harness JSON.
    Blimp(BlimpArgs),
    /// GLUE/SuperGLUE by fine-tuning a copy of each checkpoint per task (the BabyLM recipe).
    Glue(GlueArgs),
}

#[derive(Debug, Args)]
pub struct GlueArgs {
    /// One checkpoint folder.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "run",
        required_unless_present = "run"
    )]
    pub checkpoint: Option<PathBuf>,
    /// A run folder: every milestone-*/ and final/ checkpoint in it.
    #[arg(long, value_name = "DIR")]
    pub run: Option<PathBuf>,
    /// The tasks' data: <task>/{train,dev,test}.jsonl, or the BabyLM pipeline's glue_filtered
    /// folder (<task>.{train,valid}.jsonl) [default: <data_dir>/glue].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Only these tasks (comma-separated) [default: the study's: boolq,mnli,mrpc,multirc,qqp,rte,wsc].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub tasks: Option<Vec<String>>,
    /// Results folder (default: <results_dir>/glue/<dataset>/<size>/seed-<S>/tok-<V>/…).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// At most this many epochs (early stopping after 3 without improvement).
    #[arg(long, default_value_t = 10)]
    pub epochs: u32,
    /// fp32 | bf16 | auto (bf16 on CUDA of compute capability 8.0 or later, else fp32).
    #[arg(long, default_value = "auto", value_parser = super::train::parse_precision)]
    pub precision: Precision,
    /// Fine-tune again tasks whose results are up to date.
    #[arg(long)]
    pub force: bool,
    /// How the results are printed: text, or one JSON array (checkpoint, task, results, test,
    /// dev_accuracy, best_epoch, epochs, up_to_date).
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
    /// Keep each fine-tuned classifier in heads/<task>/ of its results (a transformers folder).
    #[arg(long)]
    pub keep_heads: bool,
    /// Write each task's initial weights (init.safetensors) and every step's examples, learning
    /// rate and loss (steps.jsonl) to DIR/<task>/, to replay the run elsewhere.
    #[arg(long, value_name = "DIR")]
    pub trace: Option<PathBuf>,
    /// A cheaper GLUE: fine-tune on at most N training examples per task (seeded, stratified by
    /// label), as the BabyLM 2025 pipeline does for MNLI and QQP (10000). Results go to
    /// max-train-<N>/ beside the full ones and are never averaged with them.
    #[arg(long, value_name = "N")]
    pub max_train_examples: Option<u64>,
}

#[derive(Debug, Args)]
pub struct BlimpArgs {
    /// One checkpoint folder (lmeff's, or any Hugging Face Llama folder with --out).
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = ["run", "hub"],
        required_unless_present_any = ["run", "hub"]
    )]
    pub checkpoint: Option<PathBuf>,
    /// A run folder: every init/, milestone-*/ and final/ checkpoint in it.
    #[arg(long, value_name = "DIR", conflicts_with = "hub")]
    pub run: Option<PathBuf>,
    /// With --run: only its milestone-<M>M/ checkpoint (M in millions of tokens).
    #[arg(long, value_name = "M", requires = "run")]
    pub milestone: Option<f64>,
    /// With --milestone: wait while the run trains until the checkpoint is written (a race's
    /// rung evaluation); an error once the run has its final/ checkpoint without it.
    #[arg(long, requires = "milestone")]
    pub wait: bool,
    /// A model repository on the Hub (owner/name): its checkpoint branches, downloaded into the
    /// Hugging Face cache (HF_HOME; HF_HUB_OFFLINE=1 uses only the cache).
    #[arg(long, value_name = "REPO")]
    pub hub: Option<String>,
    /// With --hub: only these revisions (comma-separated branch names, tags or commits).
    #[arg(long, value_delimiter = ',', value_name = "LIST", requires = "hub")]
    pub revision: Option<Vec<String>>,
    /// Results folder (default: <results_dir>/blimp/<dataset>/<size>/seed-<S>/tok-<V>/…).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Only these paradigms (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub paradigms: Option<Vec<String>>,
    /// Tokens per forward pass [default: 1024 on CPU (cache-friendly), 32768 on CUDA].
    #[arg(long)]
    pub batch_tokens: Option<usize>,
    /// fp32 | bf16 | auto (bf16 on CUDA of compute capability 8.0 or later, else fp32).
    #[arg(long, default_value = "auto", value_parser = super::train::parse_precision)]
    pub precision: Precision,
    /// Re-evaluate checkpoints whose results are up to date.
    #[arg(long)]
    pub force: bool,
    /// How the results are printed: text, or one JSON array (checkpoint, results, accuracy,
    /// pairs_per_s, up_to_date).
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

pub fn run(
    args: EvalArgs,
    settings: impl FnOnce(SettingsOverrides) -> Result<Settings>,
) -> Result<ExitCode> {
    let settings = settings(SettingsOverrides::default())?;
    let a = match args.what {
        EvalWhat::Blimp(a) => a,
        EvalWhat::Glue(g) => return glue(g, &settings),
    };
    let batch_tokens = a.batch_tokens.unwrap_or(match settings.device {
        lmeff::device::Device::Cpu => 1024,
        _ => 32768,
    });
    if batch_tokens == 0 {
        bail!("--batch-tokens must be positive");
    }
    lmeff::device::configure(&settings)?;
    let opts = EvalOptions {
        paradigms: blimp_data::paradigms(a.paradigms.as_deref(), &settings.blimp_dir)?,
        blimp_dir: settings.blimp_dir.clone(),
        results_dir: settings.results_dir.clone(),
        out: a.out.clone(),
        device: settings.device,
        batch_tokens,
        precision: a.precision,
        force: a.force,
    };
    let (checkpoints, run_layout): (Vec<Target>, bool) = match (&a.checkpoint, &a.run, &a.hub) {
        (Some(c), _, _) => (vec![c.clone().into()], false),
        (None, Some(r), _) if a.milestone.is_some() => {
            let m = a.milestone.expect("checked by the guard");
            let m = Millions::new(m).map_err(|e| anyhow::anyhow!("--milestone: {e}"))?;
            (vec![milestone_checkpoint(r, m, a.wait)?.into()], true)
        }
        (None, Some(r), _) => (
            run_checkpoints(r)?
                .into_iter()
                .map(|c| c.dir.into())
                .collect(),
            true,
        ),
        (None, None, Some(repo)) => {
            let hub = Hub::connect(Credentials::load(Path::new(".env"))?)?;
            let pulled = pull(&hub, &RepoId::parse(repo)?, a.revision.as_deref())?;
            let layout = a.out.is_some() && pulled.len() > 1;
            let targets = pulled
                .into_iter()
                .map(|p| Target {
                    dir: p.dir.clone(),
                    hub: Some(p),
                })
                .collect();
            (targets, layout)
        }
        (None, None, None) => unreachable!("clap requires one"),
    };
    let evaluated = evaluate(&checkpoints, &opts, run_layout)?;
    if a.format == SummaryFormat::Json {
        let rows: Vec<serde_json::Value> = evaluated
            .iter()
            .map(|e| {
                serde_json::json!({
                    "checkpoint": e.checkpoint,
                    "results": e.results,
                    "accuracy": e.accuracy,
                    "pairs_per_s": e.pairs_per_s,
                    "up_to_date": e.accuracy.is_none(),
                })
            })
            .collect();
        print_json(&serde_json::Value::Array(rows));
        return Ok(ExitCode::SUCCESS);
    }
    for e in evaluated {
        match e.accuracy {
            Some(acc) => println!(
                "{}: BLiMP accuracy {acc:.4} ({:.0} pairs/s) → {}",
                e.checkpoint.display(),
                e.pairs_per_s.unwrap_or(0.0),
                e.results.display()
            ),
            None => println!(
                "{}: up to date → {}",
                e.checkpoint.display(),
                e.results.display()
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How often a rung evaluation looks for its checkpoint.
const POLL: std::time::Duration = std::time::Duration::from_secs(3);

/// The run's `milestone-<M>M/` checkpoint; with `wait`, once the trainer has written it.
fn milestone_checkpoint(run: &Path, m: Millions, wait: bool) -> Result<PathBuf> {
    let dir = run.join(CheckpointLabel::Milestone(m).to_string());
    let started = std::time::Instant::now();
    let mut told = false;
    loop {
        if is_checkpoint(&dir) {
            return Ok(dir);
        }
        if !wait || is_checkpoint(&run.join(CheckpointLabel::Final.to_string())) {
            bail!(
                "{}: no milestone-{m}M checkpoint{}",
                run.display(),
                if wait {
                    " (the run has ended without it)"
                } else {
                    ""
                }
            );
        }
        if !told {
            eprintln!("waiting for {} (the run is training)", dir.display());
            told = true;
        }
        std::thread::sleep(POLL);
        tracing::debug!(
            "still waiting after {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
}

fn glue(a: GlueArgs, settings: &Settings) -> Result<ExitCode> {
    lmeff::device::configure(settings)?;
    if a.epochs == 0 {
        bail!("--epochs must be positive");
    }
    if a.max_train_examples == Some(0) {
        bail!("--max-train-examples must be positive");
    }
    let opts = GlueOptions {
        tasks: glue::tasks(a.tasks.as_deref())?,
        data_dir: a
            .data
            .clone()
            .unwrap_or_else(|| settings.data_dir.join("glue")),
        results_dir: settings.results_dir.clone(),
        out: a.out.clone(),
        recipe: Recipe {
            max_epochs: a.epochs,
            ..Recipe::default()
        },
        device: settings.device,
        precision: a.precision,
        force: a.force,
        keep_heads: a.keep_heads,
        trace: a.trace.clone(),
        max_train_examples: a.max_train_examples,
    };
    let (targets, run_layout): (Vec<Target>, bool) = match (&a.checkpoint, &a.run) {
        (Some(c), _) => (vec![c.clone().into()], false),
        (None, Some(r)) => (
            run_checkpoints(r)?
                .into_iter()
                .filter(|c| c.name != lmeff::config::CheckpointLabel::Init)
                .map(|c| c.dir.into())
                .collect(),
            true,
        ),
        (None, None) => unreachable!("clap requires one"),
    };
    let finetuned = glue::evaluate(&targets, &opts, run_layout)?;
    if a.format == SummaryFormat::Json {
        let rows: Vec<serde_json::Value> = finetuned
            .iter()
            .map(|f| {
                let r = f.result.as_ref();
                serde_json::json!({
                    "checkpoint": f.checkpoint,
                    "task": f.task,
                    "results": f.results,
                    "test": r.map(|r| serde_json::json!({"accuracy": r.test.accuracy, "f1": r.test.f1, "mcc": r.test.mcc})),
                    "dev_accuracy": r.map(|r| r.dev.accuracy),
                    "best_epoch": r.map(|r| r.best_epoch),
                    "epochs": r.map(|r| r.epochs),
                    "up_to_date": r.is_none(),
                })
            })
            .collect();
        print_json(&serde_json::Value::Array(rows));
        return Ok(ExitCode::SUCCESS);
    }
    for f in finetuned {
        match f.result {
            Some(r) => println!(
                "{} {}: test accuracy {:.4}, F1 {:.4}, MCC {:.4} (dev {:.4}; epoch {} of {}) → {}",
                f.checkpoint.display(),
                f.task,
                r.test.accuracy,
                r.test.f1,
                r.test.mcc,
                r.dev.accuracy,
                r.best_epoch,
                r.epochs,
                f.results.display()
            ),
            None => println!(
                "{} {}: up to date → {}",
                f.checkpoint.display(),
                f.task,
                f.results.display()
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}
