//! Command-line interface: clap types live here and only here. Each subcommand's file turns its
//! arguments into validated library configuration and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{ArgAction, Args, Parser, Subcommand};
use lmeff::config::Device;
use lmeff::config::{Settings, SettingsOverrides};

mod aggregate;
#[cfg(feature = "torch")]
mod bench;
mod data;
#[cfg(feature = "torch")]
mod doctor;
#[cfg(feature = "torch")]
mod eval;
mod format;
mod hub;
mod init;
mod launch;
#[cfg(not(feature = "torch"))]
mod no_torch;
mod plan;
mod race;
mod shell;
mod show_config;
mod status;
#[cfg(feature = "torch")]
mod train;

/// The help heading of the options every subcommand accepts (listed after its own).
const GLOBAL: &str = "Global options";

/// lmeff: train small LLaMA-style models at token anchors, score them on BLiMP, and measure how
/// early the ranking of runs predicts the final ranking.
#[derive(Debug, Parser)]
#[command(
    name = "lmeff",
    version,
    long_version = lmeff::LONG_VERSION,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Settings file (TOML); default: configs/lmeff.toml when present.
    #[arg(long, global = true, value_name = "FILE", help_heading = GLOBAL)]
    pub config: Option<PathBuf>,
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, global = true, action = ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,
    /// Less log output (-q warnings only, -qq errors only).
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub quiet: u8,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Settings that every subcommand accepts as flags (the last settings layer).
#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// Root of the datasets [setting data_dir].
    #[arg(long, global = true, value_name = "DIR", help_heading = GLOBAL)]
    pub data_dir: Option<PathBuf>,
    /// Root of checkpoints [setting output_dir].
    #[arg(long, global = true, value_name = "DIR", help_heading = GLOBAL)]
    pub output_dir: Option<PathBuf>,
    /// Root of results and reports [setting results_dir].
    #[arg(long, global = true, value_name = "DIR", help_heading = GLOBAL)]
    pub results_dir: Option<PathBuf>,
    /// Folder of the BLiMP .jsonl files [setting blimp_dir].
    #[arg(long, global = true, value_name = "DIR", help_heading = GLOBAL)]
    pub blimp_dir: Option<PathBuf>,
    /// Folder of model presets [setting models_dir].
    #[arg(long, global = true, value_name = "DIR", help_heading = GLOBAL)]
    pub models_dir: Option<PathBuf>,
    /// Compute device: cpu, cuda or cuda:N [setting device].
    #[arg(long, global = true, value_name = "DEVICE", help_heading = GLOBAL)]
    pub device: Option<Device>,
    /// libtorch threads, 0 = all cores [setting threads].
    #[arg(long, global = true, value_name = "N", help_heading = GLOBAL)]
    pub threads: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Expand configs.csv into runs: ids, steps, milestone steps and output folders.
    Plan(plan::PlanArgs),
    /// Fetch, clean, train tokenizers and tokenize datasets.
    Data(data::DataArgs),
    /// Train one run (by id, by Slurm array index, or given by flags); resumable; SIGUSR1, SIGTERM or Ctrl-C saves its state and exits 75.
    #[cfg(feature = "torch")]
    Train(Box<train::TrainArgs>),
    /// Train one run (needs the full build, with libtorch).
    #[cfg(not(feature = "torch"))]
    Train(no_torch::Args),
    /// Evaluate checkpoints: BLiMP (local or from the Hugging Face Hub), GLUE by fine-tuning.
    #[cfg(feature = "torch")]
    Eval(eval::EvalArgs),
    /// Evaluate checkpoints (needs the full build, with libtorch).
    #[cfg(not(feature = "torch"))]
    Eval(no_torch::Args),
    /// Publish a run's checkpoints to the Hugging Face Hub, one revision branch each.
    Push(hub::PushArgs),
    /// The Hugging Face Hub: list a repository's checkpoint revisions.
    Hub(hub::HubArgs),
    /// Reduce results into tables and predictiveness: how early the ranking predicts the final one.
    Aggregate(aggregate::AggregateArgs),
    /// Replay the racing rule on finished results: which configurations it stops, where, and
    /// the compute it saves.
    Race(race::RaceArgs),
    /// Render the study as Slurm array jobs (train → eval → aggregate) and submit them chained.
    Launch(launch::LaunchArgs),
    /// Where every run of a launch stands: Slurm's task states and the runs' own records.
    Status(status::StatusArgs),
    /// Resubmit the failed tasks of a launch, chained as before.
    Resubmit(status::ResubmitArgs),
    /// The resolved settings, each with where it came from (default, settings file, LMEFF_*
    /// environment variable or flag).
    Config(show_config::ConfigArgs),
    /// Create an editable study skeleton in DIR: settings, configs.csv, model presets, sources and
    /// Slurm templates (never over existing files).
    Init(init::InitArgs),
    /// Shell completions on stdout: `lmeff completions bash > /etc/bash_completion.d/lmeff`.
    Completions(shell::CompletionsArgs),
    /// The man page (roff) on stdout: `lmeff man > ~/.local/share/man/man1/lmeff.1`.
    Man,
    /// Benchmarks of lmeff's own hot paths (JSON lines).
    #[cfg(feature = "torch")]
    Bench(bench::BenchArgs),
    /// Benchmarks of lmeff's own hot paths (needs the full build, with libtorch).
    #[cfg(not(feature = "torch"))]
    Bench(no_torch::Args),
    /// Check that libtorch links and trains on this machine (and on CUDA with --device cuda).
    #[cfg(feature = "torch")]
    Doctor(doctor::DoctorArgs),
    /// Check that libtorch links and trains here (needs the full build, with libtorch).
    #[cfg(not(feature = "torch"))]
    Doctor(no_torch::Args),
}

/// Sets the log level from -v/-q (`RUST_LOG` wins when set); logs go to stderr.
pub fn init_tracing(verbose: u8, quiet: u8) {
    // Ranks other than 0 of a multi-process run only report warnings and errors.
    let rank: u32 = ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"]
        .iter()
        .find_map(|k| std::env::var(k).ok()?.parse().ok())
        .unwrap_or(0);
    let quiet = if rank > 0 { quiet.max(1) } else { quiet };
    let level = match (verbose, quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (v, _) if v >= 2 => "trace",
        (_, 1) => "warn",
        _ => "error",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // The Hub client's own progress notes only at -vv.
        let quiet_deps = if verbose >= 2 {
            ""
        } else {
            ",hf_hub=warn,hf_xet=warn,xet_client=warn,xet_data=warn,xet_runtime=warn"
        };
        tracing_subscriber::EnvFilter::new(format!("{level}{quiet_deps}"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(lmeff::progress::colour(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        .with_target(false)
        .init();
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let overrides = SettingsOverrides {
        data_dir: cli.settings.data_dir,
        output_dir: cli.settings.output_dir,
        results_dir: cli.settings.results_dir,
        blimp_dir: cli.settings.blimp_dir,
        models_dir: cli.settings.models_dir,
        device: cli.settings.device,
        threads: cli.settings.threads,
        ..Default::default()
    };
    let settings = |extra: SettingsOverrides| {
        Settings::load(
            cli.config.as_deref(),
            &SettingsOverrides {
                configs: extra.configs,
                seeds: extra.seeds,
                ..overrides.clone()
            },
        )
    };
    match cli.command {
        Command::Config(args) => show_config::run(args, cli.config.as_deref(), &overrides),
        Command::Plan(args) => plan::run(args, settings),
        #[cfg(feature = "torch")]
        Command::Doctor(args) => doctor::run(args, settings),
        #[cfg(feature = "torch")]
        Command::Train(args) => train::run(*args, settings),
        #[cfg(feature = "torch")]
        Command::Bench(args) => bench::run(args, settings),
        #[cfg(feature = "torch")]
        Command::Eval(args) => eval::run(args, settings),
        #[cfg(not(feature = "torch"))]
        Command::Doctor(_) => no_torch::refuse("doctor"),
        #[cfg(not(feature = "torch"))]
        Command::Train(_) => no_torch::refuse("train"),
        #[cfg(not(feature = "torch"))]
        Command::Bench(_) => no_torch::refuse("bench"),
        #[cfg(not(feature = "torch"))]
        Command::Eval(_) => no_torch::refuse("eval"),
        Command::Data(args) => data::run(args, settings),
        Command::Push(args) => hub::push_run(args),
        Command::Hub(args) => hub::run(args),
        Command::Aggregate(args) => aggregate::run(args, settings),
        Command::Race(args) => race::run(args, settings),
        Command::Init(args) => init::init(args),
        Command::Completions(args) => shell::completions(args),
        Command::Man => shell::man(),
        Command::Launch(args) => launch::launch(args, settings),
        Command::Status(args) => status::status(args, settings),
        Command::Resubmit(args) => status::resubmit(args, settings),
    }
}
