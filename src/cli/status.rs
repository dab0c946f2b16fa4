//! `lmeff status` and `lmeff resubmit`: where the runs of a launch stand, and running again what failed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, ValueEnum};
use lmeff::config::{Settings, SettingsOverrides};
use lmeff::slurm::{self, Manifest, Slurm};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// JSON.
    Json,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A launch manifest (or launch folder) [default: the newest submitted launch].
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Wait until every task has ended (printing the table every --interval seconds); exit 1 if
    /// any failed or was cancelled.
    #[arg(long)]
    pub wait: bool,
    /// Seconds between checks with --wait.
    #[arg(long, default_value_t = 30, value_name = "S")]
    pub interval: u64,
}

#[derive(Debug, Args)]
pub struct ResubmitArgs {
    /// Resubmit the failed or cancelled tasks (training, with its evaluations chained after it,
    /// and the failed evaluation arrays, BLiMP or a GLUE task, of runs that finished training),
    /// then the aggregate job.
    #[arg(long, required = true)]
    pub failed: bool,
    /// A launch manifest (or launch folder) [default: the newest submitted launch].
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Say what would be resubmitted; submit nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `--manifest`, else the newest submitted launch in `slurm.generated_dir`.
fn manifest_path(
    given: Option<PathBuf>,
    settings: impl FnOnce(SettingsOverrides) -> Result<Settings>,
) -> Result<PathBuf> {
    match given {
        Some(p) => Ok(p),
        None => Manifest::latest(&settings(SettingsOverrides::default())?.slurm.generated_dir),
    }
}

pub fn status(
    args: StatusArgs,
    settings: impl FnOnce(SettingsOverrides) -> Result<Settings>,
) -> Result<ExitCode> {
    let path = manifest_path(args.manifest, settings)?;
    let m = Manifest::load(&path)?;
    let show = |report: &slurm::StatusReport| -> Result<()> {
        match args.format {
            Format::Table => {
                println!(
                    "launch {} ({}, {} runs)",
                    m.folder.display(),
                    m.created,
                    m.runs.len()
                );
                print!("{}", report.table());
            }
            Format::Json => println!("{}", serde_json::to_string_pretty(report)?),
        }
        Ok(())
    };
    let mut report = slurm::status(&m, &Slurm)?;
    if !args.wait {
        show(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut last = String::new();
    while !report.ended() {
        let table = report.table();
        if matches!(args.format, Format::Table) && table != last {
            show(&report)?;
            last = table;
        }
        std::thread::sleep(std::time::Duration::from_secs(args.interval.max(1)));
        report = slurm::status(&m, &Slurm)?;
    }
    show(&report)?;
    Ok(if report.all_done() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn resubmit(
    args: ResubmitArgs,
    settings: impl FnOnce(SettingsOverrides) -> Result<Settings>,
) -> Result<ExitCode> {
    let path = manifest_path(args.manifest, settings)?;
    let r = slurm::resubmit_failed(&path, &Slurm, args.dry_run)?;
    let list = |v: &[usize]| v.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
    if !r.eliminated.is_empty() {
        println!(
            "left out: tasks {} (their configurations were stopped by the race)",
            list(&r.eliminated)
        );
    }
    if r.train.is_empty() && r.eval.is_empty() {
        println!("nothing failed: nothing to resubmit");
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if args.dry_run {
        "would resubmit"
    } else {
        "resubmitted"
    };
    if !r.train.is_empty() {
        println!(
            "{verb} training (and its evaluation) of tasks {}",
            list(&r.train)
        );
    }
    for (part, tasks) in &r.eval {
        println!("{verb} evaluation ({part}) of tasks {}", list(tasks));
    }
    for s in &r.submissions {
        println!("submitted {s}");
    }
    Ok(ExitCode::SUCCESS)
}
