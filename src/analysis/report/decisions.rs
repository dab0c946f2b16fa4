//! The report's lead: per group, from which anchor the ranking of configurations (seed means) is
//! right, how sure that is, and how close to what seed noise allows — or why no anchor is.

use std::fmt::Write as _;

use super::super::decisions::DecisionRow;
use super::page::{cell, code};

fn pct(x: f64) -> String {
    match x.is_finite() {
        true => format!("{:.0}%", 100.0 * x),
        false => "—".into(),
    }
}

/// A share that may be small: one decimal below 10%.
fn pct_fine(x: f64) -> String {
    match x < 0.1 {
        true => format!("{:.1}%", 100.0 * x),
        false => pct(x),
    }
}

fn ordinal(n: i64) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// One group's answer from its rows (anchor order).
fn answer(rows: &[&DecisionRow], threshold: f64) -> String {
    let last = rows.last().expect("a group has rows");
    let judged: Vec<&&DecisionRow> = rows.iter().filter(|r| r.judged()).collect();
    let Some(judged_last) = judged.last() else {
        return format!("no verdict: {}.", last.verdict);
    };
    let size = format!(
        "{} configurations, at least {} seed{} each",
        judged_last.n_configs,
        judged_last.n_seeds_min,
        if judged_last.n_seeds_min == 1 {
            ""
        } else {
            "s"
        }
    );
    let reached = judged
        .iter()
        .find(|r| r.decision_accuracy >= threshold && r.ci_low >= threshold);
    let Some(r) = reached else {
        let crossing = match judged_last.winner_rank {
            Some(k) if k > 1 => format!(
                "; the final winner ranks {} there (learning curves cross)",
                ordinal(k)
            ),
            _ => String::new(),
        };
        return format!(
            "no anchor orders the configurations as the final does in {} of pairs with its \
             interval's lower bound there ({size}); at {}M tokens {} [{}–{}]{crossing}.",
            pct(threshold),
            judged_last.milestone,
            pct(judged_last.decision_accuracy),
            pct(judged_last.ci_low),
            pct(judged_last.ci_high),
        );
    };
    let c = r.noise_ceiling;
    let noise = match c.is_finite() && c > 0.0 {
        false => ", against a noise ceiling one seed cannot tell".into(),
        true if r.decision_accuracy >= c => {
            format!(", at what seed noise allows (noise ceiling {})", pct(c))
        }
        true => format!(
            ", reaching {} of what seed noise allows (noise ceiling {})",
            pct(r.decision_accuracy / c),
            pct(c)
        ),
    };
    let compute = match r.compute_fraction.is_finite() {
        true => format!(
            ", for {} of the training compute",
            pct_fine(r.compute_fraction)
        ),
        false => String::new(),
    };
    format!(
        "from **{}M tokens** the ranking of configurations is right in {} of pairs [95% CI \
         {}–{}]{noise}{compute} ({size}).",
        r.milestone,
        pct(r.decision_accuracy),
        pct(r.ci_low),
        pct(r.ci_high),
    )
}

/// One line per group of `rows` (one measure's, in group and anchor order): its answer.
fn answers_of(rows: &[&DecisionRow], threshold: f64) -> String {
    let mut md = String::new();
    let mut groups: Vec<&str> = rows.iter().map(|r| r.group.as_str()).collect();
    groups.dedup();
    for g in groups {
        let of: Vec<&DecisionRow> = rows.iter().copied().filter(|r| r.group == g).collect();
        let _ = writeln!(md, "- {}: {}", code(g), answer(&of, threshold));
    }
    md
}

/// The answers of `measure`'s rows, a line per group (empty without rows).
pub(super) fn answers(rows: &[DecisionRow], measure: &str, threshold: f64) -> String {
    let rows: Vec<&DecisionRow> = rows.iter().filter(|r| r.measure == measure).collect();
    answers_of(&rows, threshold)
}

/// The lead section and its table, for the rows of `measure`.
pub(super) fn section(rows: &[DecisionRow], measure: &str, threshold: f64) -> String {
    let rows: Vec<&DecisionRow> = rows.iter().filter(|r| r.measure == measure).collect();
    let mut md = String::from("## Which configuration wins, and from which anchor\n\n");
    if rows.is_empty() {
        md += "No configuration has a full run with an anchor and a final result yet.\n\n";
        return md;
    }
    md += &answers_of(&rows, threshold);
    md += "\nA configuration is every identity column but the seed; its seeds are replicates, and \
           it is scored by their mean. The interval resamples configurations, then seeds within \
           each (`data/decisions.csv`).\n\n\
           | group | anchor (M tokens) | configurations | seeds (min) | decision accuracy | 95% interval | ρ of means | final winner's rank | noise ceiling | pairs resolved | compute |\n\
           |---|---|---|---|---|---|---|---|---|---|---|\n";
    for r in &rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | [{}, {}] | {} | {} | {} | {} | {} |",
            cell(&r.group),
            r.milestone,
            r.n_configs,
            r.n_seeds_min,
            pct(r.decision_accuracy),
            pct(r.ci_low),
            pct(r.ci_high),
            super::num(r.spearman_configs),
            r.winner_rank.map_or("—".into(), |k| k.to_string()),
            pct(r.noise_ceiling),
            pct(r.pairs_resolved),
            pct_fine(r.compute_fraction),
        );
    }
    md.push('\n');
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(m: f64, da: f64, lo: f64, rank: i64) -> DecisionRow {
        DecisionRow {
            group: "model_size=20m".into(),
            measure: "blimp".into(),
            milestone: m,
            n_configs: 6,
            n_seeds_min: 3,
            decision_accuracy: da,
            ci_low: lo,
            ci_high: 1.0,
            spearman_configs: 0.9,
            winner_rank: Some(rank),
            noise_ceiling: 0.96,
            pairs_resolved: 0.8,
            compute_fraction: m / 2500.0,
            verdict: "judged".into(),
        }
    }

    #[test]
    fn the_lead_names_the_anchor_or_the_crossing() {
        let rows = [row(25.0, 0.8, 0.6, 3), row(100.0, 0.96, 0.92, 1)];
        let md = section(&rows, "blimp", 0.9);
        assert!(
            md.contains("from **100M tokens** the ranking of configurations is right in 96% of pairs [95% CI 92%–100%], at what seed noise allows (noise ceiling 96%), for 4.0% of the training compute"),
            "{md}"
        );
        let md = section(&rows[..1], "blimp", 0.9);
        assert!(
            md.contains("at 25M tokens 80% [60%–100%]; the final winner ranks 3rd there"),
            "{md}"
        );
        let mut few = row(25.0, 1.0, 1.0, 1);
        few.verdict = "too few configurations (n = 2, fewer than 3) to judge".into();
        assert!(section(&[few], "blimp", 0.9).contains("no verdict: too few configurations"));
        assert!(section(&rows, "glue_macro", 0.9).contains("No configuration has a full run"));
    }
}
