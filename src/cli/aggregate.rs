//! `lmeff aggregate`: results → tables and predictiveness (offline; no GPU needed).

use std::path::PathBuf;
use std::process::ExitCode;

use super::format::{print_json, SummaryFormat};
use anyhow::{bail, Result};
use clap::Args;
use lmeff::analysis::aggregate::{aggregate, AggregateOptions, Verdicts};
use lmeff::analysis::plots::{ConfigFilter, FigureOptions};
use lmeff::analysis::record::Milestone;
use lmeff::analysis::summary::Provenance;
use lmeff::config::{
    Band, FigureStyle, GlueMeasure, HeatmapScale, Phenomena, Presets, Settings, SettingsOverrides,
    YScale,
};

fn parse_milestone(s: &str) -> Result<Milestone, String> {
    match Milestone::parse(s) {
        Some(Milestone::Millions(0.0)) => {
            Err(format!("`{s}`: the initialisation has no GLUE results"))
        }
        Some(m) => Ok(m),
        None => Err(format!(
            "`{s}`: expected millions of tokens (2000 or 2000M) or final"
        )),
    }
}

#[derive(Debug, Args)]
pub struct AggregateArgs {
    /// How the summary is printed: text, or one JSON document (counts, missing, data folder,
    /// seconds, the earliest reliable anchor per group).
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
    /// Results folder to read (lmeff's summary.parquet files and lm-eval blimp_results.json)
    /// [default: setting results_dir].
    #[arg(long, value_name = "DIR")]
    pub results: Option<PathBuf>,
    /// A table to import (CSV or Parquet; repeatable): BLiMP's long table
    /// `dataset,model_size,milestone,vocab_size,seed,acc[,task]`, or the study's GLUE tables
    /// `glue_all_results.csv` / `glue_overall_by_task.csv` (told apart by their header).
    #[arg(long = "import-csv", value_name = "FILE")]
    pub imports: Vec<PathBuf>,
    /// Output folder (tables go to <out>/data/) [default: setting results_dir].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// List unreadable result files and go on (otherwise they are an error).
    #[arg(long)]
    pub skip_bad: bool,
    /// Seed counts to plan for, e.g. `1,2,3,5,10`: the expected resolved pairs and decision
    /// accuracy with that many seeds per configuration, in `data/seeds_plan.csv`.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub seeds_plan: Vec<u32>,
    /// Bootstrap draws for the intervals (Spearman's ρ of runs, decision accuracy of configurations).
    #[arg(long, default_value_t = 10_000)]
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub bootstrap_seed: u64,
    /// ρ (and lower bound) an anchor must reach to be called reliable.
    #[arg(long, default_value_t = 0.9)]
    pub threshold: f64,
    /// A group of fewer full runs gets no verdict [setting aggregate.min_runs: 5].
    #[arg(long, value_name = "N")]
    pub min_runs: Option<usize>,
    /// A decision group of fewer configurations gets no verdict [setting aggregate.min_configs: 3].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(2..))]
    pub min_configs: Option<u32>,
    /// Seeds each configuration needs for a decision verdict; 1 judges single-seed studies
    /// [setting aggregate.min_seeds: 2].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub min_seeds: Option<u32>,
    /// Phenomenon groups: paper (the BLiMP paper's 12, as the study) or blimp (linguistics_term)
    /// [setting aggregate.phenomena: paper].
    #[arg(long)]
    pub phenomena: Option<Phenomena>,
    /// Resolution of the PNG figures, e.g. 300 for print [setting aggregate.dpi: 100].
    #[arg(long, value_name = "DPI")]
    pub dpi: Option<u32>,
    /// Band around the mean over seeds in the learning curves: minmax or std
    /// [setting aggregate.band: minmax].
    #[arg(long)]
    pub band: Option<Band>,
    /// Y scale of the learning curves: linear or logit [setting aggregate.y_scale: linear].
    #[arg(long)]
    pub y_scale: Option<YScale>,
    /// Which metric of each GLUE task is averaged, ranked and drawn: study (its reported metric:
    /// accuracy; F1 for MRPC and QQP; MCC for CoLA) or watched (early stopping's: F1 for binary
    /// tasks) [setting aggregate.glue_measure: study].
    #[arg(long)]
    pub glue_measure: Option<GlueMeasure>,
    /// The heatmaps' checkpoint (BLiMP's and GLUE's) in millions of tokens, e.g. 2000 (the
    /// paper's), or final [default: each run's last checkpoint].
    #[arg(long, value_name = "M", value_parser = parse_milestone)]
    pub heatmap_milestone: Option<Milestone>,
    /// Colours of the GLUE heatmap: global (one scale) or row (each task from its worst to its
    /// best configuration: who wins each task) [setting aggregate.heatmap_scale: global].
    #[arg(long)]
    pub heatmap_scale: Option<HeatmapScale>,
    /// Whose choices the BLiMP figures follow: lmeff's, or the paper's (curves over tokens on a
    /// linear axis, the study's colours and `composite` label, heatmaps scaled per row, the group
    /// heatmap's ± the mean of its paradigms' std over seeds) [setting aggregate.figures: lmeff].
    #[arg(long)]
    pub figures: Option<FigureStyle>,
    /// Only these configurations in the figures (tables keep all): DATASET[/SIZE[/VOCAB]]
    /// patterns with * wildcards, comma-separated, e.g. babylm*/60m,tinystories/*/16000.
    #[arg(long, value_delimiter = ',', value_name = "PATTERNS")]
    pub figure_configs: Option<Vec<String>>,
    /// The experiment matrix for the missing-results report [setting configs].
    #[arg(long, value_name = "FILE")]
    pub configs: Option<PathBuf>,
    /// Seeds of the plan.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub seeds: Option<Vec<u64>>,
}

pub fn run(
    args: AggregateArgs,
    settings: impl FnOnce(SettingsOverrides) -> Result<Settings>,
) -> Result<ExitCode> {
    let settings = settings(SettingsOverrides::plan(
        args.configs.clone(),
        args.seeds.clone(),
    ))?;
    let args_format = args.format;
    let results = match (&args.results, args.imports.is_empty()) {
        (Some(r), _) => Some(r.clone()),
        (None, true) => Some(settings.results_dir.clone()),
        (None, false) => None,
    };
    if let Some(r) = &results {
        if !r.is_dir() {
            bail!("results folder {} not found", r.display());
        }
    }
    let plan = if settings.configs.is_file() {
        Some(super::plan::load_plan(&settings, args.seeds.as_deref())?)
    } else {
        tracing::info!(
            "{} not found: no missing-results report",
            settings.configs.display()
        );
        None
    };
    let opts = AggregateOptions {
        results,
        imports: args.imports,
        out: args.out.unwrap_or_else(|| settings.results_dir.clone()),
        skip_bad: args.skip_bad,
        draws: args.bootstrap,
        seed: args.bootstrap_seed,
        threshold: args.threshold,
        min_runs: match args.min_runs {
            Some(n) if n < 2 => bail!("--min-runs must be at least 2 (a ranking needs two runs)"),
            Some(n) => n,
            None => settings.aggregate.min_runs,
        },
        verdicts: Verdicts {
            min_configs: args
                .min_configs
                .map_or(settings.aggregate.min_configs, |n| n as usize),
            min_seeds: args
                .min_seeds
                .map_or(settings.aggregate.min_seeds, |n| n as usize),
        },
        phenomena: args.phenomena.unwrap_or(settings.aggregate.phenomena),
        glue_measure: args.glue_measure.unwrap_or(settings.aggregate.glue_measure),
        figures: FigureOptions {
            band: args.band.unwrap_or(settings.aggregate.band),
            y_scale: args.y_scale.unwrap_or(settings.aggregate.y_scale),
            dpi: match args.dpi.unwrap_or(settings.aggregate.dpi) {
                d @ 30..=1200 => d,
                d => bail!("a resolution of {d} dpi is outside 30–1200"),
            },
            heatmap_milestone: args.heatmap_milestone,
            heatmap_scale: args
                .heatmap_scale
                .unwrap_or(settings.aggregate.heatmap_scale),
            configs: ConfigFilter::parse(args.figure_configs.as_deref().unwrap_or_default())?,
            style: args.figures.unwrap_or(settings.aggregate.figures),
        },
        plan,
        seeds_plan: args.seeds_plan.iter().map(|&k| k as usize).collect(),
        provenance: Provenance {
            command: std::env::args().collect(),
            settings_sha256: lmeff::io::sha256_hex(&serde_json::to_vec(&settings)?),
        },
        presets: Presets::load(&settings.models_dir)
            .inspect_err(|e| tracing::info!("no model presets ({e:#}): compute fractions unknown"))
            .ok(),
    };
    let start = std::time::Instant::now();
    let s = aggregate(&opts)?;
    let secs = start.elapsed().as_secs_f64();
    for (f, why) in &s.skipped {
        eprintln!("skipped {}: {why}", f.display());
    }
    if args_format == SummaryFormat::Json {
        let earliest: Vec<serde_json::Value> = s
            .earliest
            .iter()
            .map(|e| {
                serde_json::json!({
                    "group": e.group,
                    "by_rho": e.by_rho,
                    "by_lower_bound": e.by_lower_bound,
                    "too_few": e.too_few,
                })
            })
            .collect();
        print_json(&serde_json::json!({
            "overall": s.overall,
            "tasks": s.tasks,
            "missing": s.missing,
            "data_dir": s.data_dir,
            "seconds": secs,
            "threshold": opts.threshold,
            "earliest": earliest,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    let missing = match s.missing {
        Some(n) => format!("{n} planned checkpoints without results"),
        None => "missing results not checked (no configs.csv)".to_owned(),
    };
    println!(
        "{} overall and {} per-paradigm results; {missing}; tables in {} ({secs:.2} s)",
        s.overall,
        s.tasks,
        s.data_dir.display()
    );
    for e in &s.earliest {
        let show = |m: Option<f64>| m.map_or("no anchor".to_owned(), |m| format!("{m}M tokens"));
        if let Some(why) = &e.too_few {
            println!("{}: {why}", e.group);
            continue;
        }
        println!(
            "{}: Spearman ρ ≥ {} from {} (its 95% lower bound from {})",
            e.group,
            opts.threshold,
            show(e.by_rho),
            show(e.by_lower_bound)
        );
    }
    Ok(ExitCode::SUCCESS)
}
