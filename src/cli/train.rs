//! `lmeff train`: train one run of the plan (by id or Slurm array index) or one given by flags.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use lmeff::config::{
    read_matrix, Anchor, DatasetName, MatrixRow, Plan, Presets, Settings, SettingsOverrides,
};
use lmeff::dist::World;
use lmeff::train::profile::ProfileRequest;
use lmeff::train::{train, Outcome, Precision, TrainConfig};

use super::format::{print_json, SummaryFormat};

/// Exit code of a run stopped by SIGUSR1/SIGTERM/SIGINT with its state saved (Slurm requeues it).
pub const EXIT_REQUEUE: u8 = 75;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// How the result is printed: text, or one JSON document (run_id, outcome, checkpoint, step).
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
    /// The experiment matrix [setting configs].
    #[arg(long, value_name = "FILE")]
    pub configs: Option<PathBuf>,
    /// The run to train, as `lmeff plan` names it.
    #[arg(long, value_name = "ID", conflicts_with_all = ["task_index", "dataset"])]
    pub run_id: Option<String>,
    /// The run at this index of the plan (a Slurm array index).
    #[arg(long, value_name = "I", conflicts_with = "dataset")]
    pub task_index: Option<usize>,
    /// Seeds for every configs.csv row when expanding the plan.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub seeds: Option<Vec<u64>>,

    /// A run given by flags instead of configs.csv: the dataset folder.
    #[arg(long, requires_all = ["model", "vocab"])]
    pub dataset: Option<DatasetName>,
    /// Model preset (with --dataset).
    #[arg(long)]
    pub model: Option<String>,
    /// Tokenizer vocabulary size (with --dataset).
    #[arg(long)]
    pub vocab: Option<u32>,
    /// Tokens per sequence, at most the preset's max_position_embeddings (with --dataset)
    /// [default: 256, or the preset's max_position_embeddings when smaller].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub seq_len: Option<u32>,
    /// Token budget in millions, or -1 for a full run (with --dataset).
    #[arg(long, default_value = "-1", allow_hyphen_values = true)]
    pub anchor: f64,
    /// Seed (with --dataset).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Passes over the data for a full run (with --dataset).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub epochs: u32,

    /// Global batch in sequences (default: configs.csv or the preset).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: Option<u32>,
    /// Gradient-accumulation micro-steps.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub grad_accum: Option<u32>,
    /// Peak learning rate (positive).
    #[arg(long, value_parser = parse_lr)]
    pub lr: Option<f64>,
    /// End the run after this many optimizer steps (its schedule ends there too).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_steps: Option<u64>,
    /// fp32 | bf16 | auto [setting train.precision].
    #[arg(long, value_parser = parse_precision)]
    pub precision: Option<Precision>,
    /// Write the random initialisation to `<run>/init/` and stop.
    #[arg(long)]
    pub init_only: bool,
    /// Print the sha256 of each of the first N steps' token ids (the data order the run reads,
    /// to compare runs and seed modes) and stop, writing nothing.
    #[arg(long, value_name = "N")]
    pub batch_digests: Option<u64>,
    /// Accept a number of ranks that does not divide the global batch (unequal shares).
    #[arg(long)]
    pub allow_uneven: bool,
    /// Record a few steps (after one warm-up step) with libtorch's Kineto profiler into
    /// `DIR/trace-rank<R>-steps-<A>-<B>.json`, for Perfetto or chrome://tracing.
    #[arg(long, value_name = "DIR")]
    pub profile: Option<PathBuf>,
    /// Steps --profile records.
    #[arg(long, value_name = "N", default_value_t = 5, requires = "profile")]
    pub profile_steps: u64,
}

fn parse_lr(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a positive learning rate")),
    }
}

pub fn parse_precision(s: &str) -> Result<Precision, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| format!("unknown precision {s:?} (fp32, bf16, auto)"))
}

pub fn run(
    args: TrainArgs,
    settings: impl FnOnce(SettingsOverrides) -> Result<Settings>,
) -> Result<ExitCode> {
    let mut settings = settings(SettingsOverrides::plan(
        args.configs.clone(),
        args.seeds.clone(),
    ))?;
    if let Some(p) = args.precision {
        settings.train.precision = p;
    }
    let presets = Presets::load(&settings.models_dir)?;
    let (source, mut rows) = match &args.dataset {
        Some(dataset) => {
            let model = args.model.clone().expect("clap requires --model");
            let seq_len = check_flags(&presets, &model, args.seq_len)?;
            let vocab = args.vocab.expect("clap requires --vocab");
            if vocab < lmeff::config::MIN_VOCAB {
                bail!(
                    "--vocab {vocab}: below {} (the 3 special tokens and 256 byte symbols)",
                    lmeff::config::MIN_VOCAB
                );
            }
            let anchor = Anchor::from_value(args.anchor).map_err(|e| anyhow!("--anchor: {e}"))?;
            let row = MatrixRow {
                line: 0,
                model,
                dataset: dataset.to_string(),
                epochs: args.epochs,
                batch_size: None,
                grad_accum: None,
                seq_length: seq_len,
                anchors: vec![anchor],
                vocab_size: vocab,
                gpus: 1,
                nodes: 1,
                time: None,
                seeds: Some(vec![args.seed]),
                schedule: None,
            };
            (PathBuf::from("<command line>"), vec![row])
        }
        None => {
            if args.run_id.is_none() && args.task_index.is_none() {
                bail!("say which run: --run-id ID, --task-index I, or --dataset/--model/--vocab");
            }
            let rows = read_matrix(&settings.configs, &presets)?;
            (settings.configs.clone(), rows)
        }
    };
    for row in &mut rows {
        row.batch_size = args.batch_size.or(row.batch_size);
        row.grad_accum = args.grad_accum.or(row.grad_accum);
    }
    let seeds = if args.dataset.is_some() {
        None
    } else {
        args.seeds.as_deref()
    };
    let plan = Plan::build(&source, &rows, &presets, &settings, seeds)
        .with_context(|| format!("planning {}", source.display()))?;
    let mut run = match (&args.run_id, args.task_index) {
        (Some(id), _) => plan.by_id(id).cloned().ok_or_else(|| {
            anyhow!(
                "{}: no run {id} in the plan (see `lmeff plan`)",
                source.display()
            )
        })?,
        (None, Some(i)) => plan.by_task_index(i).cloned().ok_or_else(|| {
            anyhow!(
                "{}: task index {i} is out of range: the plan has {} runs",
                source.display(),
                plan.runs.len()
            )
        })?,
        (None, None) => plan.runs[0].clone(),
    };
    if let Some(lr) = args.lr {
        run.learning_rate = lr;
    }
    if let Some(max) = args.max_steps {
        run.max_steps = Some(run.max_steps.map_or(max, |m| m.min(max)));
        run.milestone_steps.retain(|m| m.step <= max);
    }
    let preset = presets
        .get(&run.key.model)
        .cloned()
        .expect("the plan checked the preset");
    lmeff::device::configure(&settings)?;
    let mut world = World::init()?;
    let device = world.rank_device(settings.device)?;
    let cfg = TrainConfig {
        run,
        preset,
        settings: settings.train.clone(),
        data_dir: settings.data_dir.clone(),
        data: settings.data,
        device,
        init_only: args.init_only,
        allow_uneven: args.allow_uneven,
        profile: args.profile.clone().map(|dir| ProfileRequest {
            dir,
            steps: args.profile_steps,
        }),
    };
    if let Some(steps) = args.batch_digests {
        for (step, digest) in lmeff::train::data::batch_digests(&cfg, steps)?
            .iter()
            .enumerate()
        {
            println!("step {step} {digest}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let stop = Arc::new(AtomicBool::new(false));
    use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
    // A second Ctrl-C while the state is being saved ends the process at once.
    signal_hook::flag::register_conditional_shutdown(SIGINT, 130, Arc::clone(&stop))
        .context("installing signal handlers")?;
    for sig in [SIGUSR1, SIGTERM, SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let outcome = train(&cfg, &world, &stop)?;
    if !world.is_main() {
        return Ok(match outcome {
            Outcome::Interrupted { .. } => ExitCode::from(EXIT_REQUEUE),
            _ => ExitCode::SUCCESS,
        });
    }
    if args.format == SummaryFormat::Json {
        let (word, dir, step) = match &outcome {
            Outcome::Finished(d) => ("finished", Some(d), None),
            Outcome::AlreadyDone(d) => ("already_trained", Some(d), None),
            Outcome::Initialized(d) => ("initialized", Some(d), None),
            Outcome::Interrupted { step } => ("interrupted", None, Some(*step)),
        };
        print_json(&serde_json::json!({
            "run_id": cfg.run.run_id.to_string(),
            "outcome": word,
            "checkpoint": dir,
            "step": step,
        }));
        let interrupted = matches!(outcome, Outcome::Interrupted { .. });
        return Ok(if interrupted {
            ExitCode::from(EXIT_REQUEUE)
        } else {
            ExitCode::SUCCESS
        });
    }
    match outcome {
        Outcome::Finished(dir) => println!("trained {}: {}", cfg.run.run_id, show(&dir)),
        Outcome::AlreadyDone(dir) => {
            println!("{} is already trained: {}", cfg.run.run_id, show(&dir))
        }
        Outcome::Initialized(dir) => {
            println!("initial weights of {}: {}", cfg.run.run_id, show(&dir))
        }
        Outcome::Interrupted { step } => {
            println!(
                "{} stopped at step {step}; run the same command to resume",
                cfg.run.run_id
            );
            return Ok(ExitCode::from(EXIT_REQUEUE));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The checks configs.csv makes of a row, for a run given by flags (named by their flags); the
/// sequence length, defaulted to 256 or the preset's limit.
fn check_flags(presets: &Presets, model: &str, seq_len: Option<u32>) -> Result<u32> {
    let Some(preset) = presets.get(model) else {
        bail!(
            "--model {model}: no such preset in {} (presets: {})",
            presets.dir().display(),
            presets.names().collect::<Vec<_>>().join(", ")
        );
    };
    let max = preset.model.max_position_embeddings;
    let seq_len = seq_len.unwrap_or(DEFAULT_SEQ_LEN.min(max));
    if seq_len > max {
        bail!("--seq-len {seq_len} exceeds the {model} preset's max_position_embeddings {max}");
    }
    Ok(seq_len)
}

/// `--seq-len` when the preset allows it (the study's).
const DEFAULT_SEQ_LEN: u32 = 256;

fn show(p: &Path) -> String {
    p.display().to_string()
}
