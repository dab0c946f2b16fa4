//! The report's GLUE section: what was gathered and by which measure, the macro-average's
//! verdicts, predictiveness of every measure, BLiMP–GLUE agreement, and a cheaper GLUE's fidelity.

use std::fmt::Write as _;

use super::super::predictiveness::Row;
use super::super::summary::Summary;
use super::{code, num, p_of, p_text, verdict};
use crate::config::GlueMeasure;

/// The GLUE section: what was gathered, the macro-average's verdicts, predictiveness of every
/// measure (all runs together) and BLiMP–GLUE agreement per anchor.
pub(super) fn section(s: &Summary, threshold: f64, measure: GlueMeasure) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## GLUE\n\n{} fine-tuning results of {} checkpoints: per task and split in \
         `data/glue.csv`, the macro-average of each checkpoint in `data/glue_macro.csv`, the \
         study's tables in `study/glue_all_results.csv` and `study/glue_overall_by_task.csv`. \
         **Measure: {}** (`aggregate.glue_measure = \"{}\"`; `data/glue.csv` has every metric). \
         Rankings below use the test split; a checkpoint missing some task has no macro-average.\n",
        s.glue.0,
        s.glue.1,
        measure.describe(),
        measure.name()
    );
    if let Some(cap) = s.glue_cap {
        let _ = writeln!(
            md,
            "There are no results on whole training sets: the rankings and figures use those \
             fine-tuned on at most {cap} examples per task.\n"
        );
    }
    let _ = writeln!(md, "Earliest reliable anchor of the GLUE macro-average:\n");
    if s.glue_earliest.is_empty() {
        let _ = writeln!(
            md,
            "- no group has two or more full runs with a GLUE milestone and final result yet."
        );
    }
    let macro_rows: Vec<&Row> = s
        .glue_predictiveness
        .iter()
        .filter(|(m, _)| m == super::super::glue_ranking::MACRO)
        .map(|(_, r)| r)
        .collect();
    for e in &s.glue_earliest {
        let _ = writeln!(
            md,
            "- {}: {}",
            code(&e.group),
            verdict(e, &macro_rows, threshold)
        );
    }
    let _ = writeln!(
        md,
        "\nPredictiveness of each GLUE measure, all runs together (per group in \
         `data/glue_predictiveness.csv`):\n\n| measure | milestone (M tokens) | n runs | Spearman ρ | p (method) | 95% interval | Kendall τ-b |\n|---|---|---|---|---|---|---|"
    );
    for (m, r) in s
        .glue_predictiveness
        .iter()
        .filter(|(_, r)| r.group == "global")
    {
        let _ = writeln!(
            md,
            "| {m} | {} | {} | {} | {} | [{}, {}] | {} |",
            r.milestone,
            r.n,
            num(r.spearman),
            p_text(r),
            num(r.spearman_lo),
            num(r.spearman_hi),
            num(r.kendall_tau_b)
        );
    }
    let _ = writeln!(
        md,
        "\nBLiMP and GLUE: at each anchor, Spearman ρ between the full runs' BLiMP accuracy and \
         their GLUE macro-average (`data/glue_agreement.csv`). A high ρ says the two benchmarks \
         rank the runs alike there.\n\n| anchor | n runs | Spearman ρ | p (method) | 95% interval | Kendall τ-b |\n|---|---|---|---|---|---|"
    );
    if s.glue_agreement.is_empty() {
        let _ = writeln!(md, "| — | no anchor has two runs with both yet | | | | |");
    }
    for a in &s.glue_agreement {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | [{}, {}] | {} |",
            a.milestone,
            a.n,
            num(a.spearman),
            p_of(a.p_value, &a.p_method),
            num(a.spearman_lo),
            num(a.spearman_hi),
            num(a.kendall_tau_b)
        );
    }
    md += &fidelity(s);
    md + "\n"
}

/// How well a cheaper GLUE (subsampled training sets) ranks the checkpoints as the full one does.
fn fidelity(s: &Summary) -> String {
    let mut md = String::new();
    if s.glue_fidelity.is_empty() {
        return md;
    }
    let _ = writeln!(
        md,
        "\n### A cheaper GLUE\n\nCheckpoints fine-tuned both on whole training sets and on at \
         most N examples per task (`eval glue --max-train-examples N`): at each anchor, Spearman ρ \
         between the two macro-averages, the share of checkpoint pairs both order alike (decision \
         accuracy), and the fine-tuning examples the cheap GLUE saved \
         (`data/glue_fidelity.csv`). The two are never averaged together.\n\n\
         | N | anchor | n checkpoints | Spearman ρ | decision accuracy | examples (full → cheap) | saved |\n\
         |---|---|---|---|---|---|---|"
    );
    for f in &s.glue_fidelity {
        let examples = match (f.full_examples, f.cheap_examples) {
            (Some(a), Some(b)) => format!("{a} → {b}"),
            _ => "unknown".to_owned(),
        };
        let saved = f
            .examples_saved
            .map_or("—".to_owned(), |x| format!("{:.1}%", 100.0 * x));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {examples} | {saved} |",
            f.max_train_examples,
            f.milestone,
            f.n,
            num(f.spearman),
            num(f.decision_accuracy)
        );
    }
    md
}
