//! `report.md`: the answer (earliest reliable anchor per group, one sentence each), the
//! predictiveness tables, and how the numbers were computed.

use std::fmt::Write as _;

use super::aggregate::Summary;

fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "—".into()
    }
}

/// The report as Markdown.
pub fn markdown(s: &Summary, threshold: f64, draws: usize, seed: u64) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# How early does the ranking of runs predict the final ranking?\n"
    );
    let _ = writeln!(
        md,
        "{} overall and {} per-paradigm BLiMP results; {} planned checkpoints have no result yet \
         (`data/missing.csv`).{}\n",
        s.overall,
        s.tasks,
        s.missing,
        if s.skipped.is_empty() {
            String::new()
        } else {
            format!(" {} unreadable files were skipped.", s.skipped.len())
        }
    );
    let _ = writeln!(md, "## Answer\n");
    if s.earliest.is_empty() {
        let _ = writeln!(
            md,
            "No group has two or more full runs with a milestone and a final result yet.\n"
        );
    }
    for e in &s.earliest {
        let sentence = match (e.by_rho, e.by_lower_bound) {
            (Some(m), Some(lb)) => format!(
                "from **{m}M tokens** the ranking of runs has Spearman ρ ≥ {threshold} with the final ranking; its 95% bootstrap lower bound reaches {threshold} from {lb}M tokens."
            ),
            (Some(m), None) => format!(
                "from **{m}M tokens** the ranking of runs has Spearman ρ ≥ {threshold} with the final ranking, but no anchor's 95% bootstrap lower bound reaches {threshold}."
            ),
            _ => format!("no anchor reaches Spearman ρ ≥ {threshold} with the final ranking."),
        };
        let _ = writeln!(md, "- `{}`: {sentence}", e.group);
    }
    let _ = writeln!(md, "\n## Predictiveness per anchor\n");
    let _ = writeln!(
        md,
        "| group | milestone (M tokens) | n runs | Spearman ρ | 95% interval | R² | Kendall τ-b | pairs ordered as at the end |\n|---|---|---|---|---|---|---|---|"
    );
    for r in &s.predictiveness {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | [{}, {}] | {} | {} | {} |",
            r.group,
            r.milestone,
            r.n,
            num(r.spearman),
            num(r.spearman_lo),
            num(r.spearman_hi),
            num(r.r2),
            num(r.kendall_tau_b),
            num(r.decision_accuracy)
        );
    }
    let _ = writeln!(
        md,
        "\n## How the numbers were computed\n\n\
         - Each run's BLiMP accuracy at a milestone is paired with **its own** final accuracy (runs \
         matched on dataset, model size, vocabulary size and seed; full runs only). Groups: all runs \
         (`global`), and per dataset, model size, vocabulary size, and dataset × model size.\n\
         - Spearman ρ uses average ranks for ties (scipy's `spearmanr`); R² is the square of Pearson's \
         r of the least-squares line (scipy's `linregress`); Kendall's τ-b is scipy's `kendalltau`; \
         \"pairs ordered as at the end\" is the share of run pairs whose order at the milestone equals \
         their order at the end (pairs tied on both sides agree).\n\
         - The 95% interval is the percentile bootstrap of ρ over runs resampled with replacement, \
         {draws} draws, seed {seed}; resamples where ρ is undefined are left out.\n\
         - The earliest anchor is the first milestone, in token order, whose ρ (or whose lower bound) \
         reaches {threshold}; `data/earliest.csv` adds the tokens it saves against the mean final.\n\
         - Tables: `data/overall`, `data/per_paradigm`, `data/per_phenomenon`, `data/predictiveness`, \
         `data/earliest`, `data/phenomenon_predictiveness`, `data/missing` (CSV and Parquet).\n"
    );
    md
}
