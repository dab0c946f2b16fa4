//! `lmeff launch`: the study as chained Slurm array jobs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use lmeff::config::{Settings, SettingsOverrides};
use lmeff::slurm::{self, Scheduler, Slurm, Stage};

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
    /// Race the configurations ([race] settings): score every rung while training goes on and
    /// cancel the configurations clearly behind their group's leader.
    #[arg(long)]
    pub race: bool,
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
    let settings = settings(SettingsOverrides::plan(
        args.configs.clone(),
        args.seeds.clone(),
    ))?;
    let plan = super::plan::load_plan(&settings, args.seeds.as_deref())?;
    let opts = slurm::LaunchOptions {
        stages: args.stages.clone(),
        dry_run: args.dry_run,
        hold: args.hold,
        seeds: args.seeds.clone(),
        lmeff: lmeff_binary(&settings)?,
        workdir: std::env::current_dir().context("reading the working folder")?,
        configs: settings.configs.clone(),
        race: args.race,
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
        println!("submitted {s}");
    }
    println!(
        "launched {} runs ({} jobs, {elapsed:.3} s); manifest {}; follow with `lmeff status`",
        m.runs.len(),
        m.submissions.len(),
        m.folder.join(slurm::manifest::MANIFEST).display()
    );
    Ok(ExitCode::SUCCESS)
}
