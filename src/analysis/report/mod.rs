//! `report.md`: the answer (earliest reliable anchor per group, one sentence each), the
//! predictiveness tables, and how the numbers were computed.

use std::fmt::Write as _;

mod decisions;
mod glue;
mod noise;
mod page;

pub use page::html;
use page::{cell, code};

use super::extrapolate::PredictionRow;
use super::predictiveness::{Earliest, Row};
use super::significance::EXACT_MAX_N;
use super::summary::{AggregateOptions, Summary};

fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "—".into()
    }
}

/// `p (method)` of a predictiveness row.
fn p_text(r: &Row) -> String {
    p_of(r.p_value, &r.p_method)
}

fn p_of(p: Option<f64>, method: &str) -> String {
    match p {
        Some(p) if p < 0.001 => format!("< 0.001 ({method})"),
        Some(p) => format!("{p:.3} ({method})"),
        None => "—".into(),
    }
}

fn opt(x: Option<f64>) -> String {
    x.map_or("—".into(), num)
}

/// The report as Markdown.
pub fn markdown(s: &Summary, o: &AggregateOptions) -> String {
    let (threshold, min_runs) = (o.threshold, o.min_runs);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# How early does the ranking of runs predict the final ranking?\n"
    );
    let missing = match s.missing {
        Some(n) => format!("{n} planned checkpoints have no result yet (`data/missing.csv`)"),
        None => "no configs.csv was given, so missing results were not checked".to_owned(),
    };
    let _ = writeln!(
        md,
        "{} overall and {} per-paradigm BLiMP results; {missing}.{}\n",
        s.overall,
        s.tasks,
        if s.skipped.is_empty() {
            String::new()
        } else {
            format!(" {} unreadable files were skipped.", s.skipped.len())
        }
    );
    md += &decisions::section(&s.decisions, "blimp", threshold);
    md += &race(s);
    let _ = writeln!(md, "## Answer: the ranking of runs\n");
    if s.earliest.is_empty() {
        let _ = writeln!(
            md,
            "No group has two or more full runs with a milestone and a final result yet.\n"
        );
    }
    let rows: Vec<&Row> = s.predictiveness.iter().collect();
    for e in &s.earliest {
        let _ = writeln!(md, "- {}: {}", code(&e.group), verdict(e, &rows, threshold));
    }
    if !s.aliases.is_empty() {
        let list: Vec<String> = s
            .aliases
            .iter()
            .map(|(a, b)| format!("{} (= {})", code(a), code(b)))
            .collect();
        let _ = writeln!(
            md,
            "\nNot listed again, as they hold exactly the runs of a group above: {}.",
            list.join(", ")
        );
    }
    let _ = writeln!(md, "\n## What these numbers can and cannot say\n");
    let _ = writeln!(md, "{}\n", scale(s, min_runs));
    if let Some(kind) = noise::replicates(&s.seed_modes) {
        let _ = writeln!(md, "{kind}\n");
    }
    md += &noise::section(&s.noise, &s.decisions, threshold);
    let _ = writeln!(md, "## Predictiveness per anchor\n");
    let _ = writeln!(
        md,
        "| group | milestone (M tokens) | n runs | Spearman ρ | p (method) | 95% interval | R² | Kendall τ-b | pairs ordered as at the end |\n|---|---|---|---|---|---|---|---|---|"
    );
    for r in &s.predictiveness {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | [{}, {}] | {} | {} | {} |",
            cell(&r.group),
            r.milestone,
            r.n,
            num(r.spearman),
            p_text(r),
            num(r.spearman_lo),
            num(r.spearman_hi),
            num(r.r2),
            num(r.kendall_tau_b),
            num(r.decision_accuracy)
        );
    }
    md += &prediction(s);
    md += &schedules(s);
    if s.glue.1 > 0 {
        md += &glue::section(s, threshold, o.glue_measure);
    }
    md += &methods(o, min_runs);
    md
}

/// The configurations the launch's race stopped, with their last anchor: their runs have no
/// results beyond it, so every table and decision after it leaves them out.
fn race(s: &Summary) -> String {
    let Some(log) = &s.race else {
        return String::new();
    };
    let mut md = String::from("## Stopped by the race\n\n");
    let stopped: Vec<_> = log.eliminated().collect();
    let rungs: Vec<String> = log.rungs.iter().map(|r| format!("{}M", r.rung)).collect();
    if stopped.is_empty() {
        let _ = writeln!(
            md,
            "The launch raced its configurations (rungs decided: {}); none was stopped.\n",
            rungs.join(", ")
        );
        return md;
    }
    let _ = writeln!(
        md,
        "The launch raced its configurations on {} (rungs decided: {}; α = {}, Holm, at least {} kept per group). \
         These were stopped; their runs end at their last anchor and are left out of every later one.\n",
        log.measure,
        rungs.join(", "),
        log.settings.alpha,
        log.settings.keep
    );
    let _ = writeln!(
        md,
        "| configuration | group | last anchor (M tokens) | gap to leader (pp) | p (Holm) | leader |\n|---|---|---|---|---|---|"
    );
    for e in stopped {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.2} | {} | {} |",
            cell(&e.configuration),
            cell(&e.group),
            e.rung,
            e.gap * 100.0,
            num(e.p_holm),
            cell(&e.leader)
        );
    }
    md.push('\n');
    md
}

/// The report's last lines: which lmeff wrote it, when, by which command, with which settings.
pub fn footer(p: &super::summary::Provenance) -> String {
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ");
    format!(
        "\n---\n\nWritten by lmeff {} (commit {}, libtorch {}) on {now} by {}; settings sha256 {}.\n",
        env!("CARGO_PKG_VERSION"),
        env!("BUILD_LMEFF_COMMIT"),
        env!("BUILD_LMEFF_LIBTORCH"),
        code(&p.command.join(" ")),
        code(&p.settings_sha256),
    )
}

/// The answer for one group: its earliest reliable anchor, or why there is none.
fn verdict(e: &Earliest, rows: &[&Row], threshold: f64) -> String {
    let at = |m: f64| {
        rows.iter()
            .find(|r| r.group == e.group && r.milestone == m)
            .map(|r| format!(" (ρ = {}, n = {}, p = {})", num(r.spearman), r.n, p_text(r)))
            .unwrap_or_default()
    };
    match (&e.too_few, e.by_rho, e.by_lower_bound) {
        (Some(why), _, _) => format!("{why}: no verdict."),
        (None, Some(m), Some(lb)) => format!(
            "from **{m}M tokens** the ranking of runs has Spearman ρ ≥ {threshold} with the final ranking{}; its 95% bootstrap lower bound reaches {threshold} from {lb}M tokens.",
            at(m)
        ),
        (None, Some(m), None) => format!(
            "from **{m}M tokens** the ranking of runs has Spearman ρ ≥ {threshold} with the final ranking{}, but no anchor's 95% bootstrap lower bound reaches {threshold}.",
            at(m)
        ),
        _ => format!(
            "no anchor reaches Spearman ρ ≥ {threshold} with the final ranking (n = {}).",
            e.n
        ),
    }
}

/// How many runs the verdicts rest on.
fn scale(s: &Summary, min_runs: usize) -> String {
    let n = s
        .earliest
        .iter()
        .find(|e| e.group == "global")
        .map_or(0, |e| e.n);
    let judged = s.earliest.iter().filter(|e| e.too_few.is_none()).count();
    format!(
        "The verdicts above rest on {n} full run(s) in all (`global`); {judged} of {} group(s) \
         have the {min_runs} runs a verdict needs. A ρ from few runs is coarse: with n runs it can \
         only take a few values, and its interval is wide.",
        s.earliest.len()
    )
}

/// The extrapolation section: per anchor, how well fitted curves predict the finals.
fn prediction(s: &Summary) -> String {
    let mut md = String::from("\n## Predicting the final accuracy\n\n");
    let rows: Vec<&PredictionRow> = s
        .prediction
        .iter()
        .filter(|r| r.group == "global")
        .collect();
    if rows.iter().all(|r| r.n_fits == 0) {
        md += "No run could be extrapolated (a fit needs 3 anchors and a final whose token count \
               is known and beyond them; see `data/fits.csv` for each run's reason).\n";
        return md;
    }
    md += "Each full run's anchors up to the milestone are fitted with acc(t) = a − b·t^(−c) and \
           read at the final's token count (all runs, `global`; other groups in \
           `data/prediction.csv`, each run's fit in `data/fits.csv`).\n\n\
           | milestone (M tokens) | runs fitted | mean abs. error of the predicted final | ρ predicted vs final | ρ raw anchor vs final | pairs decided right, predicted | pairs decided right, raw anchor |\n|---|---|---|---|---|---|---|\n";
    for r in &rows {
        let _ = writeln!(
            md,
            "| {} | {} of {} | {} | {} | {} | {} | {} |",
            r.milestone,
            r.n_fits,
            r.n_runs,
            opt(r.mae),
            opt(r.spearman_predicted),
            opt(r.spearman_raw),
            opt(r.decision_accuracy_predicted),
            opt(r.decision_accuracy_raw)
        );
    }
    md + &extrapolation_advice(&rows)
}

/// Where the fitted finals decide more run pairs right than the raw anchor does, and so where
/// extrapolating is worth it (DataDecide found it rarely is).
fn extrapolation_advice(rows: &[&PredictionRow]) -> String {
    let judged: Vec<&&PredictionRow> = rows
        .iter()
        .filter(|r| r.decision_accuracy_predicted.is_some() && r.decision_accuracy_raw.is_some())
        .collect();
    let wins: Vec<String> = judged
        .iter()
        .filter(|r| r.decision_accuracy_predicted > r.decision_accuracy_raw)
        .map(|r| format!("{}M", r.milestone))
        .collect();
    match (judged.len(), wins.len()) {
        (0, _) => String::new(),
        (_, 0) => {
            "\nExtrapolating decides no pair better than the raw anchor does at any milestone: \
                   rank by the anchor itself.\n"
                .into()
        }
        (n, _) => format!(
            "\nExtrapolating decides more run pairs right than the raw anchor at {} of {n} \
             milestones ({}): use the fitted finals there, the raw anchor elsewhere.\n",
            wins.len(),
            wins.join(", ")
        ),
    }
}

/// WSD against cosine budgets, when budgets were trained both ways.
fn schedules(s: &Summary) -> String {
    if s.schedules.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "\n## WSD against cosine budgets\n\n\
         Budget runs trained both ways, paired by dataset, model size, vocabulary size and seed: \
         does the warmup–stable–decay plan rank them as the cosine runs do? (`data/schedules.csv`)\n\n\
         | budget | runs | ρ WSD vs cosine | p | mean WSD − cosine |\n|---|---|---|---|---|\n",
    );
    for r in &s.schedules {
        let _ = writeln!(
            md,
            "| {} | {} | {:.3} | {} | {:+.4} |",
            r.anchor,
            r.n,
            r.spearman,
            r.p_value
                .map_or("—".into(), |p| format!("{p:.3} ({})", r.p_method)),
            r.mean_difference
        );
    }
    md
}

fn methods(o: &AggregateOptions, min_runs: usize) -> String {
    format!(
        "\n## How the numbers were computed\n\n\
         - Each run's BLiMP accuracy at a milestone is paired with **its own** final accuracy (runs \
         matched on dataset, model size, vocabulary size and seed; full runs only). Groups: all runs \
         (`global`), per schedule when runs of both are there, and per dataset, model size, \
         vocabulary size, and dataset × model size; a group with the same runs as one before it is \
         not repeated.\n\
         - Spearman ρ uses average ranks for ties (scipy's `spearmanr`); R² is the square of Pearson's \
         r of the least-squares line (scipy's `linregress`); Kendall's τ-b is scipy's `kendalltau`; \
         \"pairs ordered as at the end\" is the share of run pairs whose order at the milestone equals \
         their order at the end (pairs tied on both sides agree).\n\
         - p is two-sided under independence: **exact** for n ≤ {exact} (every pairing of the two \
         rankings, as scipy's `permutation_test(..., permutation_type=\"pairings\")`), else the \
         **t approximation** with n − 2 degrees of freedom (scipy's `spearmanr`).\n\
         - The 95% interval is the percentile bootstrap of ρ over runs resampled with replacement, \
         {draws} draws, seed {seed}; resamples where ρ is undefined are left out.\n\
         - The earliest anchor is the first milestone, in token order, whose ρ (or whose lower bound) \
         reaches {threshold}; `data/earliest.csv` adds the tokens it saves against the mean final. \
         A group of fewer than {min_runs} runs gets no verdict: below 5 runs even a perfect agreement \
         has an exact p of at least 2/4! ≈ 0.083, so no ranking could be told from chance.\n\
         - Chance: a configuration's mean accuracy at a checkpoint is within chance when a \
         two-sided one-sample t test of its seeds against 0.5 gives p ≥ 0.05 (k − 1 degrees of \
         freedom); with one seed, when its accuracy over N pairs lies within 0.5 ± 1.96 · 0.5 / √N \
         (the binomial error; `data/chance`). Learning: the mean change from each full run's first \
         milestone to its final against the seed variance of the changes pooled within \
         configurations (binomial without a second seed; `data/learning`). Signal-to-noise: the \
         largest minus the smallest configuration mean over the mean seed standard deviation, per \
         task and milestone (`data/signal_noise`).\n\
         - Tables: `data/overall`, `data/per_paradigm`, `data/per_phenomenon`, `data/predictiveness`, \
         `data/earliest`, `data/phenomenon_predictiveness`, `data/fits`, `data/prediction`, \
         `data/schedules`, `data/missing` (CSV and Parquet); the study's own in `study/`.\n",
        exact = EXACT_MAX_N,
        draws = o.draws,
        seed = o.seed,
        threshold = o.threshold,
    )
}
