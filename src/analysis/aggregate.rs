//! `lmeff aggregate`: collected results → tables in `<out>/data/` (overall, per paradigm, per
//! phenomenon, missing results, predictiveness, earliest reliable anchor, per-phenomenon ρ) and
//! `<out>/report.md`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};

use super::aggregate_glue;
use super::aggregate_noise::{self, MARGIN};
use super::decisions;
use super::extrapolate;
use super::glue::{self, GlueRow};
use super::glue_ranking;
use super::inputs::{check_paradigm_sets, collect, Collected, Milestone, Record, RunKey};
use super::phenomena;
use super::plots;
use super::predictiveness;
use super::rows::*;
use super::schedules;
use super::stats;
use super::study_tables;
pub use super::summary::{AggregateOptions, Summary, Verdicts};
use super::table::Table;
use crate::config::{Anchor, Configuration, Plan};
use crate::data::blimp_paradigms::{paper_group, PAPER_GROUPS};
use crate::io::{check_replaceable, Staged};

fn sorted(mut rs: Vec<&Record>) -> Vec<&Record> {
    rs.sort_by(|a, b| {
        (&a.run, &a.task)
            .cmp(&(&b.run, &b.task))
            .then(a.milestone.order().total_cmp(&b.milestone.order()))
    });
    rs
}

/// Runs the aggregation and writes the tables.
pub fn aggregate(o: &AggregateOptions) -> Result<Summary> {
    let mut c: Collected = collect(o.results.as_deref(), &o.imports, o.skip_bad)?;
    check_paradigm_sets(&c.overall)?;
    phenomena::name_paradigms(&mut c.tasks);
    check_outputs(&o.out)?;
    let shown = &o.figures.configs;
    let glue_runs: Vec<RunKey> = c.glue.iter().map(GlueRow::run).collect();
    shown.check(
        c.overall
            .iter()
            .chain(&c.tasks)
            .map(|r| &r.run)
            .chain(&glue_runs),
    )?;
    let glue_rows = glue::measured(std::mem::take(&mut c.glue), o.glue_measure)?;
    if let Some(m) = o.figures.heatmap_milestone {
        let at_m =
            |r: &&GlueRow| r.anchor == Anchor::Full && Milestone::parse(&r.milestone) == Some(m);
        if !glue_rows.is_empty() && !glue_rows.iter().any(|r| at_m(&r)) {
            bail!("no full run has GLUE results at {m}M tokens for the GLUE heatmap (--heatmap-milestone)");
        }
    }
    let staged = Staged::new(&o.out.join("aggregate"))?;
    let data = staged.path().join("data");
    fs_err::create_dir_all(&data)?;

    let overall = sorted(c.overall.iter().collect());
    record_table(&overall, |r| OverallCols {
        acc: r.acc,
        n: r.n,
        source: r.source.display().to_string(),
    })?
    .write(&data, "overall")?;

    let tasks = sorted(c.tasks.iter().collect());
    record_table(&tasks, |r| ParadigmCols {
        paradigm: r.task.clone(),
        field: r.field.clone(),
        linguistics_term: r.phenomenon.clone(),
        group: r
            .phenomenon
            .as_deref()
            .and_then(paper_group)
            .map(str::to_owned),
        acc: r.acc,
        n: r.n,
    })?
    .write(&data, "per_paradigm")?;

    let phen_rows = phenomena::per_phenomenon(&c.tasks, o.phenomena);
    let pr: Vec<&Record> = phen_rows.iter().collect();
    record_table(&pr, |r| PhenomenonCols {
        phenomenon: r.phenomenon.clone(),
        acc: r.acc,
    })?
    .write(&data, "per_phenomenon")?;

    // Predictiveness of the overall accuracy.
    let series = predictiveness::series(c.overall.iter());
    let rows = predictiveness::table(&series, o.draws, o.seed);
    Table::from_rows(&rows)?.write(&data, "predictiveness")?;

    // Earliest reliable anchor, and the tokens it saves against the finals (when their token
    // counts are known).
    // Decisions between configurations, seeds as replicates (BLiMP here, GLUE's below).
    let params = |c: &Configuration| {
        Some(
            o.presets
                .as_ref()?
                .get(&c.model)?
                .num_parameters(c.vocab_size),
        )
    };
    let how = decisions::DecisionOptions {
        draws: o.draws,
        seed: o.seed,
        verdicts: o.verdicts,
        seeds_plan: &o.seeds_plan,
    };
    let (mut decision_rows, mut plan_rows) =
        decisions::table(c.overall.iter(), "blimp", &params, &how);
    let margin = decisions::table(c.margins.iter(), MARGIN, &params, &how);
    decision_rows.extend(margin.0);
    plan_rows.extend(margin.1);
    let earliest = predictiveness::earliest(&rows, o.threshold, o.min_runs);
    let earliest_rows =
        predictiveness::earliest_rows(&earliest, &decision_rows, &c.overall, o.threshold);
    Table::from_rows(&earliest_rows)?.write(&data, "earliest")?;

    // Final accuracies extrapolated from the anchors up to each milestone.
    let (fits, prediction) = extrapolate::predict(&c.overall);
    Table::from_rows(&fits)?.write(&data, "fits")?;
    Table::from_rows(&prediction)?.write(&data, "prediction")?;

    let rho_rows = phenomenon_rho(&phen_rows);
    Table::from_rows(&rho_rows)?.write(&data, "phenomenon_predictiveness")?;

    // WSD against cosine budgets, when the study trained budgets both ways.
    let schedule_rows = schedules::compare(&c.overall);
    Table::from_rows(&schedule_rows)?.write(&data, "schedules")?;

    let g = aggregate_glue::write(glue_rows, &c.overall, o, &data)?;
    let noise = aggregate_noise::write(&c, (&g.macro_records, &g.task_records), &data)?;
    let macros = g.macro_records.iter();
    let glue = decisions::table(macros, "glue_macro", &params, &how);
    decision_rows.extend(glue.0);
    plan_rows.extend(glue.1);
    if !o.seeds_plan.is_empty() {
        Table::from_rows(&plan_rows)?.write(&data, "seeds_plan")?;
    }
    Table::from_rows(&decision_rows)?.write(&data, "decisions")?;

    let missing_rows = write_missing(&data, o.plan.as_ref(), &c)?;
    let missing = missing_rows.as_ref().map(Vec::len);
    let summary = Summary {
        overall: c.overall.len(),
        tasks: c.tasks.len(),
        predictiveness: rows,
        decisions: decision_rows,
        earliest,
        aliases: predictiveness::grouped(&series.keys().cloned().collect::<Vec<_>>()).1,
        prediction,
        schedules: schedule_rows,
        glue: (g.results(), g.macro_rows.len()),
        glue_cap: g.cap,
        glue_fidelity: g.fidelity,
        glue_earliest: glue_ranking::earliest_macro(&g.predictiveness, o.threshold, o.min_runs),
        glue_predictiveness: g.predictiveness,
        glue_agreement: g.agreement,
        noise,
        missing,
        race: match o.results.as_deref() {
            Some(dir) => super::race::launched::RaceLog::load(dir)?,
            None => None,
        },
        skipped: c.skipped,
        seed_modes: c.seed_modes.into_iter().collect(),
        data_dir: o.out.join("data"),
    };
    let global: Vec<&predictiveness::Row> = summary
        .predictiveness
        .iter()
        .filter(|r| r.group == "global")
        .collect();
    study_tables::write(
        &staged.path().join("study"),
        &overall,
        &tasks,
        &global,
        missing_rows.as_deref(),
    )?;
    study_tables::write_glue(&staged.path().join("study"), &g.rows)?;
    let plots = staged.path().join("plots");
    fs_err::create_dir_all(&plots)?;
    let inputs = plots::Inputs {
        overall: &shown.keep(&c.overall),
        tasks: &shown.keep(&c.tasks),
        global: &global,
        phenomena: &shown.keep(&phen_rows),
        decisions: &summary.decisions,
        signal_noise: &summary.noise.signal_noise,
    };
    // BLiMP's figures need BLiMP results (an aggregate of imported GLUE tables has none).
    let blimp_figures = match c.overall.is_empty() && c.tasks.is_empty() {
        true => Vec::new(),
        false => {
            plots::write_all(&plots, &inputs, &o.figures)?;
            plots::FIGURES.to_vec()
        }
    };
    let glue_inputs = plots::glue::GlueInputs {
        macro_records: &shown.keep(&g.macro_records),
        task_records: &shown.keep(&g.task_records),
        agreement: &summary.glue_agreement,
        measure: o.glue_measure,
    };
    let glue_figures = plots::glue::write(&plots, &glue_inputs, &o.figures)?;
    let mut md = super::report::markdown(&summary, o);
    md += "\n## Plots\n\nEach figure as PNG (";
    md += &format!("{} dpi), SVG and PDF in `plots/`.\n\n", o.figures.dpi);
    let mut images = Vec::new();
    if !blimp_figures.is_empty() {
        md += "- The paradigms of each of the paper's phenomenon groups × configurations: \
               `plots/group_detail_<group>.png` (`.svg`, `.pdf`)\n";
    }
    for (stem, title) in blimp_figures.into_iter().chain(glue_figures) {
        md += &format!("- {title}: `plots/{stem}.png`, `.svg`, `.pdf`\n");
        images.push((
            title.to_owned(),
            fs_err::read(plots.join(format!("{stem}.png")))?,
        ));
    }
    md += &super::report::footer(&o.provenance);
    fs_err::write(staged.path().join(REPORT_MD), md.as_bytes())?;
    let page = super::report::html(&md, &images);
    fs_err::write(staged.path().join(REPORT_HTML), page.as_bytes())?;
    staged.commit_into(&o.out)?;
    Ok(summary)
}

/// Per-phenomenon ρ at each anchor, all runs together.
fn phenomenon_rho(phen_rows: &[Record]) -> Vec<PhenomenonRhoRow> {
    let mut by_phen: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
    for r in phen_rows {
        by_phen
            .entry(r.phenomenon.clone().unwrap_or_default())
            .or_default()
            .push(r);
    }
    let mut rho_rows = Vec::new();
    for (p, rs) in &by_phen {
        let s = predictiveness::series(rs.iter().copied());
        let runs: Vec<_> = s.keys().cloned().collect();
        for m in predictiveness::milestones(&s) {
            let (x, y) = predictiveness::pairs(&s, &runs, m);
            if x.len() >= 2 {
                rho_rows.push(PhenomenonRhoRow {
                    phenomenon: p.clone(),
                    milestone: m,
                    n: x.len() as i64,
                    spearman: stats::spearman(&x, &y),
                });
            }
        }
    }
    rho_rows
}

/// The tables in `<out>/data/`, each as `<stem>.csv` and `<stem>.parquet`.
pub const TABLES: [&str; 20] = [
    "overall",
    "per_paradigm",
    "per_phenomenon",
    "predictiveness",
    "earliest",
    "phenomenon_predictiveness",
    "missing",
    "fits",
    "prediction",
    "schedules",
    "decisions",
    "seeds_plan",
    "chance",
    "learning",
    "signal_noise",
    "glue",
    "glue_macro",
    "glue_predictiveness",
    "glue_agreement",
    "glue_fidelity",
];
const REPORT_MD: &str = "report.md";
const REPORT_HTML: &str = "report.html";

/// Checks that the aggregate's outputs in `out` (`data/`, `plots/`, the two reports) hold only
/// what an aggregate writes, before anything is computed: nothing else is ever replaced.
fn check_outputs(out: &Path) -> Result<()> {
    let files = |stems: &[&str], exts: [&str; 2]| -> Vec<String> {
        stems
            .iter()
            .flat_map(|s| exts.map(|e| format!("{s}.{e}")))
            .collect()
    };
    let figure_files = || -> Vec<String> {
        plots::FIGURES
            .iter()
            .chain(&plots::glue::FIGURES)
            .map(|(s, _)| s.to_string())
            .chain(
                PAPER_GROUPS
                    .iter()
                    .map(|g| plots::blimp_grids::detail_stem(g)),
            )
            .flat_map(|s| plots::EXTENSIONS.map(|e| format!("{s}.{e}")))
            .collect()
    };
    for (dir, own) in [
        ("data", files(&TABLES, ["csv", "parquet"])),
        ("plots", figure_files()),
        (
            "study",
            study_tables::FILES.iter().map(|f| f.to_string()).collect(),
        ),
    ] {
        let own: Vec<&str> = own.iter().map(String::as_str).collect();
        check_replaceable(&out.join(dir), &own)?;
    }
    for report in [REPORT_MD, REPORT_HTML] {
        let path = out.join(report);
        if path.exists() && !path.is_file() {
            bail!("{} is not a file: refusing to replace it", path.display());
        }
    }
    Ok(())
}

/// `missing.csv`: every (run, checkpoint) the plan expects without an overall result.
fn write_missing(
    data: &Path,
    plan: Option<&Plan>,
    c: &Collected,
) -> Result<Option<Vec<MissingRow>>> {
    let Some(plan) = plan else { return Ok(None) };
    let mut rows = Vec::new();
    for run in &plan.runs {
        let labels = run
            .milestone_steps
            .iter()
            .map(|m| Milestone::Millions(m.millions.get()))
            .chain([Milestone::Final]);
        for m in labels {
            let found = c
                .overall
                .iter()
                .any(|r| r.run == run.key && r.milestone == m);
            if !found {
                rows.push(MissingRow {
                    run_id: run.run_id.to_string(),
                    dataset: run.key.dataset.clone(),
                    model_size: run.key.model.clone(),
                    vocab_size: run.key.vocab_size.to_string(),
                    seed: run.key.seed.to_string(),
                    anchor: run.key.anchor,
                    milestone: m.to_string(),
                });
            }
        }
    }
    Table::from_rows(&rows)?.write(data, "missing")?;
    Ok(Some(rows))
}
