//! `lmeff race --replay`: the racing rule (`[race]`) simulated on finished results — which
//! configurations it would have stopped, where, whether the final best survived, and the training
//! compute it would have saved. `lmeff race --launch DIR --rung M`: one rung of a launch's race
//! decided (the job `lmeff launch --race` submits per rung).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use lmeff::analysis::aggregate_noise::MARGIN;
use lmeff::analysis::inputs::collect;
use lmeff::analysis::race;
use lmeff::config::{GroupColumn, Millions, Presets, RaceSettings, Settings, SettingsOverrides};
use lmeff::slurm::race::decide_rung;
use lmeff::slurm::{Manifest, Slurm};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Measure {
    /// BLiMP's overall accuracy.
    Blimp,
    /// BLiMP's mean margin log p(good) − log p(bad) (lmeff's own results).
    BlimpMargin,
}

#[derive(Debug, Args)]
pub struct RaceArgs {
    /// Finished results to race on: a results folder (lmeff's files, the lm-eval tree) and/or the
    /// study's long tables (CSV or Parquet).
    #[arg(
        long,
        num_args = 1..,
        value_name = "RESULTS_DIR|TABLE",
        required_unless_present = "launch",
        conflicts_with = "launch",
        requires = "out"
    )]
    pub replay: Vec<PathBuf>,
    /// Where race.csv, race.parquet, race.json and the race figure go.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Decide one rung of a launch made with `lmeff launch --race` (its folder under
    /// slurm/generated/): record it in the folder's race.json and cancel the stopped
    /// configurations' tasks.
    #[arg(long, value_name = "DIR", requires = "rung")]
    pub launch: Option<PathBuf>,
    /// With --launch: the rung, in millions of tokens.
    #[arg(long, value_name = "M", requires = "launch")]
    pub rung: Option<f64>,
    /// The score that races.
    #[arg(long, value_enum, default_value_t = Measure::Blimp)]
    pub measure: Measure,
    /// Columns of a comparison group, e.g. model_size or dataset,model_size
    /// [setting race.group_by: model_size].
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub group_by: Option<Vec<GroupColumn>>,
    /// The first rung in millions of tokens [setting race.min_anchor: 25].
    #[arg(long, value_name = "M")]
    pub min_anchor: Option<f64>,
    /// Family-wise error rate of a rung's eliminations in a group (Holm) [setting race.alpha: 0.05].
    #[arg(long)]
    pub alpha: Option<f64>,
    /// The fewest configurations a group keeps [setting race.keep: 2].
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// List unreadable result files and go on (otherwise they are an error).
    #[arg(long)]
    pub skip_bad: bool,
}

pub fn run(
    args: RaceArgs,
    settings: impl FnOnce(SettingsOverrides) -> Result<Settings>,
) -> Result<ExitCode> {
    let settings = settings(SettingsOverrides::default())?;
    let mut rules = settings.race.clone();
    if let Some(by) = args.group_by {
        rules.group_by = by;
    }
    rules.min_anchor = args.min_anchor.unwrap_or(rules.min_anchor);
    rules.alpha = args.alpha.unwrap_or(rules.alpha);
    rules.keep = args.keep.unwrap_or(rules.keep);
    rules.check()?;
    if let (Some(folder), Some(rung)) = (&args.launch, args.rung) {
        return decide(folder, rung, &rules);
    }
    let out = args.out.clone().expect("clap requires --out with --replay");
    let (dirs, tables): (Vec<PathBuf>, Vec<PathBuf>) =
        args.replay.into_iter().partition(|p| p.is_dir());
    for t in &tables {
        if !t.is_file() {
            bail!(
                "{} not found (--replay takes a results folder or tables)",
                t.display()
            );
        }
    }
    if dirs.len() > 1 {
        bail!("--replay takes one results folder, not {}", dirs.len());
    }
    let c = collect(dirs.first().map(PathBuf::as_path), &tables, args.skip_bad)?;
    for (f, why) in &c.skipped {
        eprintln!("skipped {}: {why}", f.display());
    }
    let (records, measure) = match args.measure {
        Measure::Blimp => (&c.overall, "blimp"),
        Measure::BlimpMargin => (&c.margins, MARGIN),
    };
    let presets = Presets::load(&settings.models_dir)
        .inspect_err(|e| tracing::info!("no model presets ({e:#}): compute unknown"))
        .ok();
    let params = |c: &lmeff::config::Configuration| {
        Some(
            presets
                .as_ref()?
                .get(&c.model)?
                .num_parameters(c.vocab_size),
        )
    };
    let replay = race::replay(records.iter(), measure, &rules, &params);
    if replay.rows.is_empty() {
        bail!("no full run with a {measure} score at an anchor and at its final: nothing to race");
    }
    race::write(&out, &replay, settings.aggregate.dpi)?;
    for g in &replay.groups {
        println!("{}", race::describe(g));
    }
    println!(
        "race.csv, race.json and the race figure in {}",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// One rung of a launch's race: decided, recorded, the stopped configurations' tasks cancelled.
fn decide(folder: &Path, rung: f64, rules: &RaceSettings) -> Result<ExitCode> {
    let rung = Millions::new(rung).map_err(|e| anyhow::anyhow!("--rung: {e}"))?;
    let m = Manifest::load(folder)?;
    let out = decide_rung(&m, rung, rules, &Slurm)?;
    let when = if out.new {
        "decided"
    } else {
        "already decided"
    };
    println!("rung {rung}M {when} ({})", out.decision.decided);
    for g in &out.decision.groups {
        let compared: Vec<String> = g
            .compared
            .iter()
            .map(|c| format!("{} {:.4} ({} seeds)", c.configuration, c.mean, c.seeds))
            .collect();
        println!("  {}: {}", g.group, compared.join(", "));
        if !g.missing.is_empty() {
            println!("    no results yet: {}", g.missing.join(", "));
        }
        for e in &g.eliminated {
            println!("    {}: {}", e.configuration, e.describe());
        }
    }
    if !out.cancelled.is_empty() {
        println!("cancelled {}", out.cancelled.join(" "));
    }
    if let Some(e) = out.cancel_error {
        eprintln!("warning: cancelling the stopped tasks failed: {e}");
    }
    Ok(ExitCode::SUCCESS)
}
