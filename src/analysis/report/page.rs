//! The report as a page: user-supplied names made safe in Markdown, and the Markdown rendered to
//! one self-contained HTML file with the plots embedded.

use base64::prelude::{Engine as _, BASE64_STANDARD};
use pulldown_cmark_escape::escape_html;

/// `s` as inline Markdown code, whatever it holds: a fence longer than its longest run of
/// backticks.
pub(super) fn code(s: &str) -> String {
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
pub(super) fn cell(s: &str) -> String {
    code(&s.replace('|', "\\|"))
}

/// `s` as Markdown text: every ASCII punctuation character escaped, so that nothing in it is
/// read as markup (emphasis, links, HTML, table cells).
pub(super) fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
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
