//! `lmeff aggregate`: collected results → tables in `<out>/data/` (overall, per paradigm, per
//! phenomenon, missing results, predictiveness, earliest reliable anchor, per-phenomenon ρ) and
//! `<out>/report.md`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::inputs::{collect, Collected, Milestone, Record};
use super::predictiveness::{self, Earliest};
use super::stats;
use super::table::{Column, Table};
use crate::config::Plan;

/// What to aggregate and how.
pub struct AggregateOptions {
    /// A results folder to walk (lmeff's Parquet and lm-eval JSON files).
    pub results: Option<PathBuf>,
    /// Long tables in the study's format.
    pub imports: Vec<PathBuf>,
    pub out: PathBuf,
    pub skip_bad: bool,
    /// Bootstrap draws per (group, milestone) and their seed.
    pub draws: usize,
    pub seed: u64,
    /// ρ an anchor must reach to count as reliable.
    pub threshold: f64,
    /// The planned runs (configs.csv × seeds), for the missing-results report.
    pub plan: Option<Plan>,
    /// Paradigm → (field, phenomenon), for results that do not carry them (BLiMP's files).
    pub paradigm_info: HashMap<String, (String, String)>,
}

/// What was written.
#[derive(Debug)]
pub struct Summary {
    pub overall: usize,
    pub tasks: usize,
    pub predictiveness: Vec<predictiveness::Row>,
    pub earliest: Vec<Earliest>,
    pub missing: usize,
    pub skipped: Vec<(PathBuf, String)>,
    pub data_dir: PathBuf,
}

/// (run, anchor, milestone sort key, phenomenon).
type PhenomenonKey = (super::inputs::RunKey, String, String, String);

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn record_columns(rs: &[&Record]) -> Table {
    Table::default()
        .with(
            "dataset",
            Column::Str(rs.iter().map(|r| s(&r.run.dataset)).collect()),
        )
        .with(
            "model_size",
            Column::Str(rs.iter().map(|r| s(&r.run.model_size)).collect()),
        )
        .with(
            "vocab_size",
            Column::I64(rs.iter().map(|r| Some(r.run.vocab_size)).collect()),
        )
        .with(
            "seed",
            Column::I64(rs.iter().map(|r| Some(r.run.seed)).collect()),
        )
        .with(
            "anchor",
            Column::Str(rs.iter().map(|r| s(&r.anchor)).collect()),
        )
        .with(
            "milestone",
            Column::Str(rs.iter().map(|r| Some(r.milestone.to_string())).collect()),
        )
        .with(
            "milestone_millions",
            Column::F64(
                rs.iter()
                    .map(|r| match r.milestone {
                        Milestone::Millions(v) => Some(v),
                        Milestone::Final => r.tokens.map(|t| t as f64 / 1e6),
                    })
                    .collect(),
            ),
        )
}

fn sorted(mut rs: Vec<&Record>) -> Vec<&Record> {
    rs.sort_by(|a, b| {
        (&a.run, &a.anchor, &a.task)
            .cmp(&(&b.run, &b.anchor, &b.task))
            .then(a.milestone.order().total_cmp(&b.milestone.order()))
    });
    rs
}

/// Runs the aggregation and writes the tables.
pub fn aggregate(o: &AggregateOptions) -> Result<Summary> {
    let mut c: Collected = collect(o.results.as_deref(), &o.imports, o.skip_bad)?;
    for t in &mut c.tasks {
        if let (None, Some((field, term))) = (
            &t.phenomenon,
            t.task.as_ref().and_then(|k| o.paradigm_info.get(k)),
        ) {
            t.field = Some(field.clone());
            t.phenomenon = Some(term.clone());
        }
    }
    let data = o.out.join("data");
    fs_err::create_dir_all(&data)?;

    let overall = sorted(c.overall.iter().collect());
    record_columns(&overall)
        .with(
            "acc",
            Column::F64(overall.iter().map(|r| Some(r.acc)).collect()),
        )
        .with("n", Column::I64(overall.iter().map(|r| r.n).collect()))
        .with(
            "source",
            Column::Str(
                overall
                    .iter()
                    .map(|r| Some(r.source.display().to_string()))
                    .collect(),
            ),
        )
        .write(&data, "overall")?;

    let tasks = sorted(c.tasks.iter().collect());
    record_columns(&tasks)
        .with(
            "paradigm",
            Column::Str(tasks.iter().map(|r| r.task.clone()).collect()),
        )
        .with(
            "field",
            Column::Str(tasks.iter().map(|r| r.field.clone()).collect()),
        )
        .with(
            "linguistics_term",
            Column::Str(tasks.iter().map(|r| r.phenomenon.clone()).collect()),
        )
        .with(
            "acc",
            Column::F64(tasks.iter().map(|r| Some(r.acc)).collect()),
        )
        .with("n", Column::I64(tasks.iter().map(|r| r.n).collect()))
        .write(&data, "per_paradigm")?;

    // Per phenomenon: pair-weighted when pair counts are known, else the mean over paradigms.
    let mut phen: BTreeMap<PhenomenonKey, (f64, f64, Record)> = BTreeMap::new();
    for r in &c.tasks {
        let Some(p) = &r.phenomenon else { continue };
        let key = (
            r.run.clone(),
            r.anchor.clone(),
            format!("{:020.6}", r.milestone.order().min(1e15)),
            p.clone(),
        );
        let w = r.n.unwrap_or(1) as f64;
        let e = phen.entry(key).or_insert((0.0, 0.0, r.clone()));
        e.0 += r.acc * w;
        e.1 += w;
    }
    let phen_rows: Vec<Record> = phen
        .into_values()
        .map(|(sum, w, mut r)| {
            r.acc = sum / w;
            r.task = None;
            r
        })
        .collect();
    let pr: Vec<&Record> = phen_rows.iter().collect();
    record_columns(&pr)
        .with(
            "linguistics_term",
            Column::Str(pr.iter().map(|r| r.phenomenon.clone()).collect()),
        )
        .with("acc", Column::F64(pr.iter().map(|r| Some(r.acc)).collect()))
        .write(&data, "per_phenomenon")?;

    // Predictiveness of the overall accuracy.
    let series = predictiveness::series(c.overall.iter());
    let rows = predictiveness::table(&series, o.draws, o.seed);
    Table::from_rows(&rows)?.write(&data, "predictiveness")?;

    // Earliest reliable anchor, and the tokens it saves against the finals (when their token
    // counts are known).
    let earliest = predictiveness::earliest(&rows, o.threshold);
    let final_tokens: Vec<f64> = c
        .overall
        .iter()
        .filter(|r| r.anchor == "full" && r.milestone == Milestone::Final)
        .filter_map(|r| r.tokens.map(|t| t as f64 / 1e6))
        .collect();
    let mean_final = (!final_tokens.is_empty())
        .then(|| final_tokens.iter().sum::<f64>() / final_tokens.len() as f64);
    let saved = |m: Option<f64>| Some(1.0 - m? / mean_final?);
    Table::default()
        .with(
            "group",
            Column::Str(earliest.iter().map(|e| s(&e.group)).collect()),
        )
        .with(
            "threshold",
            Column::F64(earliest.iter().map(|_| Some(o.threshold)).collect()),
        )
        .with(
            "earliest_by_spearman",
            Column::F64(earliest.iter().map(|e| e.by_rho).collect()),
        )
        .with(
            "earliest_by_lower_bound",
            Column::F64(earliest.iter().map(|e| e.by_lower_bound).collect()),
        )
        .with(
            "mean_final_millions",
            Column::F64(earliest.iter().map(|_| mean_final).collect()),
        )
        .with(
            "tokens_saved_by_spearman",
            Column::F64(earliest.iter().map(|e| saved(e.by_rho)).collect()),
        )
        .with(
            "tokens_saved_by_lower_bound",
            Column::F64(earliest.iter().map(|e| saved(e.by_lower_bound)).collect()),
        )
        .write(&data, "earliest")?;

    // Per-phenomenon ρ at each anchor (all runs together).
    let mut by_phen: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
    for r in &phen_rows {
        by_phen
            .entry(r.phenomenon.clone().unwrap_or_default())
            .or_default()
            .push(r);
    }
    let (mut ph, mut ms, mut ns, mut rhos) = (vec![], vec![], vec![], vec![]);
    for (p, rs) in &by_phen {
        let s = predictiveness::series(rs.iter().copied());
        let runs: Vec<_> = s.keys().cloned().collect();
        for m in predictiveness::milestones(&s) {
            let (x, y) = predictiveness::pairs(&s, &runs, m);
            if x.len() >= 2 {
                ph.push(Some(p.clone()));
                ms.push(Some(m));
                ns.push(Some(x.len() as i64));
                rhos.push(Some(stats::spearman(&x, &y)));
            }
        }
    }
    Table::default()
        .with("linguistics_term", Column::Str(ph))
        .with("milestone", Column::F64(ms))
        .with("n", Column::I64(ns))
        .with("spearman", Column::F64(rhos))
        .write(&data, "phenomenon_predictiveness")?;

    let missing = write_missing(&data, o.plan.as_ref(), &c)?;
    let summary = Summary {
        overall: c.overall.len(),
        tasks: c.tasks.len(),
        predictiveness: rows,
        earliest,
        missing,
        skipped: c.skipped,
        data_dir: data,
    };
    let global: Vec<&predictiveness::Row> = summary
        .predictiveness
        .iter()
        .filter(|r| r.group == "global")
        .collect();
    super::plots::write_all(&o.out.join("plots"), &c.overall, &global, &phen_rows)?;
    let mut md = super::report::markdown(&summary, o.threshold, o.draws, o.seed);
    let titles = [
        (
            "learning_curves",
            "Learning curves: BLiMP accuracy vs training tokens, per dataset and model size",
        ),
        (
            "predictiveness",
            "Spearman ρ and R² of each anchor with the final accuracy (all runs)",
        ),
        ("phenomena_heatmap", "Accuracy per phenomenon and anchor"),
    ];
    md += "\n## Plots\n\n";
    let mut images = Vec::new();
    for (stem, title) in titles {
        md += &format!("- {title}: `plots/{stem}.png`, `plots/{stem}.svg`\n");
        images.push((
            title.to_owned(),
            fs_err::read(o.out.join("plots").join(format!("{stem}.png")))?,
        ));
    }
    crate::io::write_bytes_atomic(&o.out.join("report.md"), md.as_bytes())?;
    let page = super::report::html(&md, &images);
    crate::io::write_bytes_atomic(&o.out.join("report.html"), page.as_bytes())?;
    Ok(summary)
}

/// `missing.csv`: every (run, checkpoint) the plan expects without an overall result.
fn write_missing(data: &Path, plan: Option<&Plan>, c: &Collected) -> Result<usize> {
    let Some(plan) = plan else { return Ok(0) };
    let mut rows: Vec<[String; 7]> = Vec::new();
    for run in &plan.runs {
        let labels = run
            .milestone_steps
            .iter()
            .map(|m| Milestone::Millions(m.millions.get()))
            .chain([Milestone::Final]);
        for m in labels {
            let found = c.overall.iter().any(|r| {
                r.run.dataset == run.dataset
                    && r.run.model_size == run.model
                    && r.run.vocab_size == run.vocab_size as i64
                    && r.run.seed == run.seed as i64
                    && r.anchor == run.anchor.to_string()
                    && r.milestone == m
            });
            if !found {
                rows.push([
                    run.run_id.to_string(),
                    run.dataset.clone(),
                    run.model.clone(),
                    run.vocab_size.to_string(),
                    run.seed.to_string(),
                    run.anchor.to_string(),
                    m.to_string(),
                ]);
            }
        }
    }
    let col = |i: usize| Column::Str(rows.iter().map(|r| Some(r[i].clone())).collect());
    Table::default()
        .with("run_id", col(0))
        .with("dataset", col(1))
        .with("model_size", col(2))
        .with("vocab_size", col(3))
        .with("seed", col(4))
        .with("anchor", col(5))
        .with("milestone", col(6))
        .write(data, "missing")?;
    Ok(rows.len())
}
