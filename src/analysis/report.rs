//! `report.md`: the answer (earliest reliable anchor per group, one sentence each), the
//! predictiveness tables, and how the numbers were computed.

use std::fmt::Write as _;

use base64::prelude::{Engine as _, BASE64_STANDARD};
use pulldown_cmark_escape::escape_html;

use super::aggregate::{AggregateOptions, Summary};
use super::extrapolate::PredictionRow;
use super::predictiveness::{Earliest, Row};
use super::significance::EXACT_MAX_N;
use crate::config::GlueMeasure;

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
    let _ = writeln!(md, "## Answer\n");
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
    let _ = writeln!(md, "{}\n", chance(s));
    if let Some(l) = learning(s) {
        let _ = writeln!(md, "{l}\n");
    }
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
        md += &glue(s, threshold, o.glue_measure);
    }
    md += &methods(o, min_runs);
    md
}

/// `s` as inline Markdown code, whatever it holds: a fence longer than its longest run of
/// backticks.
fn code(s: &str) -> String {
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// `s` as inline code in a table cell: its pipes escaped, so that the cell stays one cell.
fn cell(s: &str) -> String {
    code(&s.replace('|', "\\|"))
}

/// `s` as Markdown text: every ASCII punctuation character escaped, so that nothing in it is
/// read as markup (emphasis, links, HTML, table cells).
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
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

/// The GLUE section: what was gathered, the macro-average's verdicts, predictiveness of every
/// measure (all runs together) and BLiMP–GLUE agreement per anchor.
fn glue(s: &Summary, threshold: f64, measure: GlueMeasure) -> String {
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
        .filter(|(m, _)| m == super::glue_ranking::MACRO)
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

/// Whether training changed the accuracies beyond noise.
fn learning(s: &Summary) -> Option<String> {
    let (delta, noise, runs) = s.learning?;
    Some(if delta.abs() <= noise {
        format!(
            "**Accuracy does not measurably change with training here**: from the first milestone \
             to the final it moves by {delta:+.4} on average over {runs} full run(s), within the \
             ±{noise:.4} that sampling noise alone produces. The rankings compare models that have \
             not yet learned what BLiMP measures."
        )
    } else if delta < 0.0 {
        format!(
            "**Accuracy falls with training here**: {delta:+.4} on average from the first milestone \
             to the final over {runs} full run(s) (noise ±{noise:.4})."
        )
    } else {
        format!(
            "Accuracy rises with training: {delta:+.4} on average from the first milestone to the \
             final over {runs} full run(s) (noise ±{noise:.4})."
        )
    })
}

/// Which accuracies a random guesser could have scored.
fn chance(s: &Summary) -> String {
    if s.with_pairs == 0 {
        return "The pair counts behind the accuracies are unknown (imported tables), so they were \
                not compared with chance."
            .into();
    }
    match s.within_chance.len() {
        0 => format!(
            "All {} results with known pair counts lie outside the range a random guesser would \
             score (0.5 ± 1.96 · 0.5 / √pairs).",
            s.with_pairs
        ),
        k => {
            let some: Vec<String> = s
                .within_chance
                .iter()
                .take(5)
                .map(|(name, acc, n)| format!("{}: {acc:.4} over {n} pairs", text(name)))
                .collect();
            format!(
                "**{k} of {} results are indistinguishable from chance** (within 0.5 ± 1.96 · 0.5 / \
                 √pairs, what a random guesser scores): {}{}. Rankings among such checkpoints are \
                 rankings of noise.",
                s.with_pairs,
                some.join("; "),
                if k > 5 { "; …" } else { "" }
            )
        }
    }
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
           | milestone (M tokens) | runs fitted | mean abs. error of the predicted final | ρ predicted vs final | ρ raw anchor vs final |\n|---|---|---|---|---|\n";
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} of {} | {} | {} | {} |",
            r.milestone,
            r.n_fits,
            r.n_runs,
            opt(r.mae),
            opt(r.spearman_predicted),
            opt(r.spearman_raw)
        );
    }
    md
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
            text(&r.anchor),
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
         - Chance: an accuracy over N pairs within 0.5 ± 1.96 · 0.5 / √N is what a random guesser \
         scores 95% of the time.\n\
         - Tables: `data/overall`, `data/per_paradigm`, `data/per_phenomenon`, `data/predictiveness`, \
         `data/earliest`, `data/phenomenon_predictiveness`, `data/fits`, `data/prediction`, \
         `data/schedules`, `data/missing` (CSV and Parquet); the study's own in `study/`.\n",
        exact = EXACT_MAX_N,
        draws = o.draws,
        seed = o.seed,
        threshold = o.threshold,
    )
}

/// The report as one self-contained HTML page: the Markdown rendered by pulldown-cmark (tables
/// on), then the PNG plots embedded as data URLs (each in a fixed 900-pixel-wide box).
pub fn html(md: &str, plots: &[(String, Vec<u8>)]) -> String {
    let mut h = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>lmeff report</title>\n<style>\
         body{font-family:sans-serif;max-width:960px;margin:20px auto;color:#222}\
         table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #bbb;padding:2px 6px}\
         figure{margin:16px 0}img{display:block;width:900px;border:1px solid #ddd}\
         </style></head><body>\n",
    );
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    // Bold as `<b>`, as the report always had it (readers grep it).
    // HTML in the Markdown is shown as text, never run: only the report's own tags are markup.
    let events = Parser::new_ext(md, Options::ENABLE_TABLES).map(|e| match e {
        Event::Html(x) | Event::InlineHtml(x) => Event::Text(x),
        Event::Start(Tag::Strong) => Event::Html("<b>".into()),
        Event::End(TagEnd::Strong) => Event::Html("</b>".into()),
        e => e,
    });
    pulldown_cmark::html::push_html(&mut h, events);
    for (i, (title, png)) in plots.iter().enumerate() {
        let mut title_html = String::new();
        escape_html(&mut title_html, title).expect("writing to a String");
        let png = BASE64_STANDARD.encode(png);
        h += &format!(
            "<figure id=\"plot-{i}\"><img alt=\"{title_html}\" src=\"data:image/png;base64,{png}\"><figcaption>{title_html}</figcaption></figure>\n"
        );
    }
    // Once loaded, the page records where each plot sits and whether it decoded (natural size), in a
    // hidden element, so a headless browser can check the rendering (`--dump-dom`).
    h += "<pre id=\"layout\" style=\"display:none\"></pre>\n<script>\n\
window.addEventListener('load', () => {\n\
  const lines = [...document.images].map((im, i) => {\n\
    const r = im.getBoundingClientRect();\n\
    return ['img', i, im.naturalWidth, im.naturalHeight, Math.round(r.left + scrollX),\n\
            Math.round(r.top + scrollY), Math.round(r.width), Math.round(r.height)].join(' ');\n\
  });\n\
  const d = document.documentElement;\n\
  lines.push(['page', d.scrollWidth, d.scrollHeight].join(' '));\n\
  document.getElementById('layout').textContent = lines.join('\\n');\n\
});\n</script>\n";
    h += "</body></html>\n";
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_from_markdown_with_plots_embedded() {
        let h = html(
            "# T\n\n- `a`: **b**\n\n| x | y |\n|---|---|\n| 1 | 2 |\n",
            &[("p \"q\" <r>".into(), vec![1, 2, 3])],
        );
        assert!(
            h.contains("<h1>T</h1>") && h.contains("<li><code>a</code>: <b>b</b></li>"),
            "{h}"
        );
        assert!(
            h.contains("<tr><th>x</th><th>y</th></tr>")
                && h.contains("<tr><td>1</td><td>2</td></tr>"),
            "{h}"
        );
        assert!(h.contains("data:image/png;base64,AQID"), "{h}");
        assert!(h.contains("alt=\"p &quot;q&quot; &lt;r&gt;\""), "{h}");
    }

    /// Names from outside (a dataset from an imported table or checkpoint metadata) can neither
    /// run in the page nor shift a table's columns.
    #[test]
    fn names_from_outside_are_shown_as_they_are() {
        let evil = "x`<img src=a onerror=alert(1)>|y";
        let md = format!(
            "- {}: ok\n\n| group | n |\n|---|---|\n| {} | 2 |\n\n{} <script>alert(2)</script>\n",
            code(evil),
            cell(evil),
            text(evil)
        );
        let h = html(&md, &[]);
        assert!(!h.contains("<img src=a"), "{h}");
        assert!(!h.contains("<script>alert"), "{h}");
        assert!(h.contains("&lt;script&gt;alert(2)&lt;/script&gt;"), "{h}");
        let code_html = "<code>x`&lt;img src=a onerror=alert(1)&gt;|y</code>";
        assert!(h.contains(&format!("<li>{code_html}: ok</li>")), "{h}");
        assert!(
            h.contains(&format!("<tr><td>{code_html}</td><td>2</td></tr>")),
            "{h}"
        );
        assert_eq!(code("`a`"), "`` `a` ``");
        assert!(
            h.contains("x`&lt;img src=a onerror=alert(1)&gt;|y &lt;script&gt;"),
            "{h}"
        );
    }
}
