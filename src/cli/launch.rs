//! `lmeff launch`, `lmeff status`, `lmeff resubmit`: the study on a Slurm cluster.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use lmeff::config::{Settings, SettingsOverrides};
use lmeff::slurm::{self, Manifest, Scheduler, Slurm, Stage};

#[derive(Debug, Args)]
pub struct LaunchArgs {
    /// The experiment matrix [setting configs].
    #[arg(long, value_name = "FILE")]
    pub configs: Option<PathBuf>,
    /// Seeds for every configs.csv row, e.g. 0,1,2.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub seeds: Option<Vec<u64>>,
    /// Stages to submit, chained train → eval → aggregate.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "LIST",
        default_value = "train,eval,aggregate"
    )]
    pub stages: Vec<Stage>,
    /// Write and print the scripts (and ask `sbatch --test-only` where Slurm answers); submit nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Submit the jobs held; `scontrol release <job ids>` starts them.
    #[arg(long)]
    pub hold: bool,
}

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
    /// Resubmit the failed or cancelled tasks (training, with its evaluation chained after it,
    /// and evaluations of runs that finished training), then the aggregate job.
    #[arg(long, required = true)]
    pub failed: bool,
    /// A launch manifest (or launch folder) [default: the newest submitted launch].
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Say what would be resubmitted; submit nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// The lmeff binary jobs run: `slurm.lmeff`, else this one.
fn lmeff_binary(settings: &Settings) -> Result<PathBuf> {
    if !settings.slurm.lmeff.as_os_str().is_empty() {
        return Ok(std::path::absolute(&settings.slurm.lmeff)?);
    }
    std::env::current_exe().context("locating the lmeff binary")
}

pub fn launch(
    args: LaunchArgs,
    settings: impl FnOnce(SettingsOverrides) -> Result<Settings>,
) -> Result<ExitCode> {
    let settings = settings(SettingsOverrides {
        configs: args.configs.clone(),
        seeds: args.seeds.clone(),
        ..Default::default()
    })?;
    let plan = super::plan::load_plan(&settings, args.seeds.as_deref())?;
    let opts = slurm::LaunchOptions {
        stages: args.stages.clone(),
        dry_run: args.dry_run,
        hold: args.hold,
        seeds: args.seeds.clone(),
        lmeff: lmeff_binary(&settings)?,
        workdir: std::env::current_dir().context("reading the working folder")?,
        configs: settings.configs.clone(),
    };
    let start = std::time::Instant::now();
    let launched = slurm::launch(&plan, &settings, &opts, &Slurm)?;
    let elapsed = start.elapsed().as_secs_f64();
    let m = &launched.manifest;
    if args.dry_run {
        let check = Slurm::available();
        let mut refused = Vec::new();
        for s in &launched.scripts {
            println!("# ===== {} =====", m.folder.join(&s.file_name).display());
            print!("{}", s.text);
            if check {
                match Slurm.test_only(&m.folder.join(&s.file_name)) {
                    Ok(answer) => println!("# sbatch --test-only: {answer}"),
                    Err(e) => {
                        println!("# {e:#}");
                        refused.push(format!("{e:#}"));
                    }
                }
            }
        }
        if !refused.is_empty() {
            bail!(
                "Slurm would refuse {} script(s) (scripts kept in {}):\n  {}",
                refused.len(),
                m.folder.display(),
                refused.join("\n  ")
            );
        }
        println!(
            "dry run: {} runs in {} group(s), {} scripts in {} ({elapsed:.3} s); nothing submitted{}",
            m.runs.len(),
            m.groups.len(),
            launched.scripts.len(),
            m.folder.display(),
            if check { "" } else { " (no sbatch here to test them with)" }
        );
        return Ok(ExitCode::SUCCESS);
    }
    for s in &m.submissions {
        println!(
            "submitted {:<9} job {:<8} {}{}",
            s.stage.name(),
            s.job_id,
            s.array
                .as_ref()
                .map(|a| format!("array {a} "))
                .unwrap_or_default(),
            s.dependency
                .as_deref()
                .map(|d| format!("after {d}"))
                .unwrap_or_default()
        );
    }
    println!(
        "launched {} runs ({} jobs, {elapsed:.3} s); manifest {}; follow with `lmeff status`",
        m.runs.len(),
        m.submissions.len(),
        m.folder.join(slurm::manifest::MANIFEST).display()
    );
    Ok(ExitCode::SUCCESS)
}

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
    if !r.eval.is_empty() {
        println!("{verb} evaluation of tasks {}", list(&r.eval));
    }
    for s in &r.submissions {
        println!(
            "submitted {:<9} job {:<8} {}{}",
            s.stage.name(),
            s.job_id,
            s.array
                .as_ref()
                .map(|a| format!("array {a} "))
                .unwrap_or_default(),
            s.dependency
                .as_deref()
                .map(|d| format!("after {d}"))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
