//! `lmeff plan`: print the runs configs.csv expands to.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use lmeff::analysis::race::outlook;
use lmeff::config::memory::PeakMemory;
use lmeff::config::plan::{self, batch_notes};
use lmeff::config::{read_matrix, Configuration, Plan, Presets, Run, Settings, SettingsOverrides};
use lmeff::data::layout::{DatasetDir, Split};
use lmeff::data::tokens::TokenFile;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The experiment matrix [setting configs].
    #[arg(long, value_name = "FILE")]
    pub configs: Option<PathBuf>,
    /// Seeds for every row, e.g. 0,1,2 (default: each row's `seeds`, else the setting).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub seeds: Option<Vec<u64>>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also the race's outlook ([race] settings): per comparison group its rungs and the
    /// training compute between the best case and the worst.
    #[arg(long)]
    pub race: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Aligned columns for reading.
    Table,
    /// A JSON array, one object per run.
    Json,
    /// `task_index<TAB>run_id<TAB>output_dir` lines without a header, for shell loops.
    Tsv,
}

pub fn run(
    args: PlanArgs,
    settings: impl FnOnce(SettingsOverrides) -> Result<Settings>,
) -> Result<ExitCode> {
    let settings = settings(SettingsOverrides::plan(args.configs, args.seeds.clone()))?;
    let (plan, notes) = load_plan_with_notes(&settings, args.seeds.as_deref())?;
    for note in notes {
        eprintln!("note: {note}");
    }
    let memory = PeakMemory::of(&settings)?;
    for warning in memory.warnings(&plan) {
        eprintln!("warning: {warning}");
    }
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&plan)?),
        Format::Table => print!("{}", table(&plan, &memory)),
        Format::Tsv => {
            for r in &plan.runs {
                println!("{}\t{}\t{}", r.task_index, r.run_id, r.output_dir.display());
            }
        }
    }
    if args.race {
        // After a table; on stderr beside JSON or TSV, which scripts read.
        let outlook = race_outlook(&settings, &plan)?;
        match args.format {
            Format::Table => print!("{outlook}"),
            _ => eprint!("{outlook}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The race's outlook: its settings, then a line per comparison group.
fn race_outlook(settings: &Settings, plan: &Plan) -> Result<String> {
    let presets = Presets::load(&settings.models_dir)?;
    let tokens = |r: &Run| -> Option<u64> {
        if let Some(steps) = r.max_steps {
            return Some(steps * r.tokens_per_step);
        }
        let dir = DatasetDir::new(&settings.data_dir, &r.key.dataset)
            .ok()?
            .with(settings.data);
        let file = TokenFile::open(&dir.token_file(r.key.vocab_size, Split::Train), None).ok()?;
        Some(u64::from(r.epochs) * file.len())
    };
    let params = |c: &Configuration| Some(presets.get(&c.model)?.num_parameters(c.vocab_size));
    let s = &settings.race;
    let by: Vec<&str> = s.group_by.iter().map(|c| c.name()).collect();
    let mut out = format!(
        "race: groups by {}; rungs from {}M tokens; Holm at alpha {}; keep {}\n",
        if by.is_empty() {
            "nothing (one group)".into()
        } else {
            by.join(",")
        },
        s.min_anchor,
        s.alpha,
        s.keep
    );
    for o in outlook::outlook(plan, s, &tokens, &params) {
        out += &format!("  {}\n", outlook::describe(&o));
    }
    Ok(out)
}

/// Reads presets and configs.csv named by the settings and expands the plan.
pub fn load_plan(settings: &Settings, seeds: Option<&[u64]>) -> Result<Plan> {
    Ok(load_plan_with_notes(settings, seeds)?.0)
}

/// [`load_plan`], with the notes on rows whose batch differs from their preset's.
fn load_plan_with_notes(settings: &Settings, seeds: Option<&[u64]>) -> Result<(Plan, Vec<String>)> {
    let presets = Presets::load(&settings.models_dir)?;
    let rows = read_matrix(&settings.configs, &presets)?;
    let plan = Plan::build(&settings.configs, &rows, &presets, settings, seeds)
        .with_context(|| format!("planning {}", settings.configs.display()))?;
    let notes = batch_notes(&settings.configs, &rows, &presets, settings.batch_from);
    Ok((plan, notes))
}

fn table(plan: &Plan, memory: &PeakMemory) -> String {
    let header = [
        "#",
        "run_id",
        "model",
        "dataset",
        "vocab",
        "seq",
        "seed",
        "anchor",
        "tok/step",
        "steps",
        "GiB",
        "milestones",
        "output_dir",
    ];
    let rows: Vec<[String; 13]> = plan
        .runs
        .iter()
        .map(|r| {
            [
                r.task_index.to_string(),
                r.run_id.to_string(),
                r.key.model.clone(),
                r.key.dataset.clone(),
                r.key.vocab_size.to_string(),
                r.seq_len.to_string(),
                r.key.seed.to_string(),
                r.key.anchor.to_string(),
                r.tokens_per_step.to_string(),
                steps_cell(plan, r),
                memory
                    .of_run(r)
                    .map_or("?".into(), |e| format!("{:.1}", e.gib())),
                r.milestone_steps
                    .iter()
                    .map(|m| format!("{}M@{}", m.millions, m.step))
                    .collect::<Vec<_>>()
                    .join(" "),
                r.output_dir.display().to_string(),
            ]
        })
        .collect();
    let mut out = lmeff::io::aligned_table(
        &header,
        rows.iter().map(|r| r.iter().map(String::as_str).collect()),
    );
    if plan.runs.iter().any(|r| r.branch.is_some()) {
        let (planned, cosine) = plan::budget_tokens(&plan.runs);
        out += &format!(
            "WSD budget runs: {:.2}M tokens to train (cooldowns branched off their full runs), against {:.2}M from scratch ({:.2}×)\n",
            planned as f64 / 1e6,
            cosine as f64 / 1e6,
            planned as f64 / cosine.max(1) as f64
        );
    }
    out
}

/// A run's steps: its budget's last step, `epochs` for a full run; a WSD branch shows where it
/// starts and the trunk it starts from (`20..40 from #0`), a WSD trunk its branch points.
fn steps_cell(plan: &Plan, r: &Run) -> String {
    let last = r.max_steps.map_or("epochs".into(), |s| s.to_string());
    if let Some(b) = &r.branch {
        let trunk = plan.by_id(b.trunk.as_str()).map_or(0, |t| t.task_index);
        return format!("{}..{last} from #{trunk}", b.step);
    }
    if r.branch_points.is_empty() {
        return last;
    }
    let points: Vec<String> = r.branch_points.iter().map(|p| p.step.to_string()).collect();
    format!("{last} (branches at {})", points.join(" "))
}
