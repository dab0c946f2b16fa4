//! `report.md`: the answer (earliest reliable anchor per group, one sentence each), the
//! predictiveness tables, and how the numbers were computed.

use std::fmt::Write as _;

use base64::prelude::{Engine as _, BASE64_STANDARD};
use pulldown_cmark_escape::escape_html;

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
    let events = Parser::new_ext(md, Options::ENABLE_TABLES).map(|e| match e {
        Event::Start(Tag::Strong) => Event::Html("<b>".into()),
        Event::End(TagEnd::Strong) => Event::Html("</b>".into()),
        e => e,
    });
    pulldown_cmark::html::push_html(&mut h, events);
    h += "<h2>Plots</h2>\n";
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
}
