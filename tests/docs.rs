//! The documentation book (`docs/`): it builds with mdBook, every link between its pages and every
//! `#anchor` resolves in the HTML mdBook writes, the README's links resolve, and the settings
//! reference names every key `lmeff config` prints.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use regex::Regex;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$MDBOOK`, else the `env/bin/mdbook` that `make setup` installs.
fn mdbook() -> PathBuf {
    let path = std::env::var_os("MDBOOK")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("env/bin/mdbook"));
    assert!(
        path.is_file(),
        "{} missing: run `make setup` (it installs mdbook) or set MDBOOK",
        path.display()
    );
    path
}

/// The book built into a temporary folder.
fn build_book() -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(mdbook())
        .arg("build")
        .arg(root().join("docs"))
        .arg("--dest-dir")
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "mdbook build failed:\n{stderr}");
    // mdBook reports some problems (a missing include, a bad link in SUMMARY) as warnings.
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    assert!(warnings.is_empty(), "mdbook warned:\n{stderr}");
    out
}

fn html_files(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .collect()
}

/// Every `href`/`src` of a page that points inside the book, with the page it is on.
struct Link {
    page: PathBuf,
    target: String,
}

fn local_links(page: &Path, html: &str) -> Vec<Link> {
    let attr = Regex::new(r#"(?:href|src)="([^"]*)""#).unwrap();
    attr.captures_iter(html)
        .map(|c| c[1].to_string())
        .filter(|t| !t.contains("://") && !t.starts_with("mailto:") && !t.starts_with("data:"))
        .filter(|t| !t.is_empty())
        .map(|target| Link {
            page: page.to_owned(),
            target,
        })
        .collect()
}

fn ids(html: &str) -> BTreeSet<String> {
    let id = Regex::new(r#"\sid="([^"]*)""#).unwrap();
    id.captures_iter(html).map(|c| c[1].to_string()).collect()
}

/// The links that do not resolve: no such file in the book, or no such id on the page.
fn broken_links(book: &Path) -> Vec<String> {
    // mdBook's 404 page links from the site's root (`<base href="/">`), wherever it is served.
    let pages: HashMap<PathBuf, String> = html_files(book)
        .into_iter()
        .map(|p| {
            let html = std::fs::read_to_string(&p).unwrap();
            (p.canonicalize().unwrap(), html)
        })
        .collect();
    let mut broken = Vec::new();
    for (page, html) in pages.iter().filter(|(p, _)| !p.ends_with("404.html")) {
        for link in local_links(page, html) {
            let (file, anchor) = match link.target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (link.target.as_str(), None),
            };
            let file = file.split('?').next().unwrap();
            let target = if file.is_empty() {
                link.page.clone()
            } else {
                link.page.parent().unwrap().join(file)
            };
            let name = format!("{} → {}", link.page.display(), link.target);
            let Ok(target) = target.canonicalize() else {
                broken.push(format!("{name}: no such file"));
                continue;
            };
            if !target.starts_with(book.canonicalize().unwrap()) {
                broken.push(format!("{name}: outside the book"));
                continue;
            }
            if let Some(anchor) = anchor.filter(|a| !a.is_empty()) {
                match pages.get(&target) {
                    Some(html) if ids(html).contains(anchor) => {}
                    Some(_) => broken.push(format!("{name}: no id {anchor:?} on that page")),
                    None => {
                        broken.push(format!("{name}: an anchor into a file that is not a page"))
                    }
                }
            }
        }
    }
    broken.sort();
    broken
}

#[test]
fn the_book_builds_and_every_link_in_it_resolves() {
    let book = build_book();
    let pages = html_files(book.path());
    // Every chapter of SUMMARY.md became a page.
    let summary = std::fs::read_to_string(root().join("docs/src/SUMMARY.md")).unwrap();
    let chapters = Regex::new(r"\]\(([^)]+)\.md\)").unwrap();
    for c in chapters.captures_iter(&summary) {
        let page = book.path().join(format!("{}.html", &c[1]));
        assert!(page.is_file(), "{} was not built", page.display());
    }
    assert!(pages.len() > 20, "{} pages", pages.len());
    let broken = broken_links(book.path());
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_page_of_the_book_is_in_its_summary() {
    let src = root().join("docs/src");
    let summary = std::fs::read_to_string(src.join("SUMMARY.md")).unwrap();
    for entry in walkdir::WalkDir::new(&src) {
        let path = entry.unwrap().into_path();
        if path.extension().is_some_and(|e| e == "md") && !path.ends_with("SUMMARY.md") {
            let rel = path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .to_string();
            assert!(
                summary.contains(&format!("]({rel})")),
                "docs/src/{rel} is not in SUMMARY.md, so mdBook leaves it out"
            );
        }
    }
}

#[test]
fn the_checker_finds_a_broken_link_and_a_missing_anchor() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("b.html"), r#"<h1 id="there">B</h1>"#).unwrap();
    std::fs::write(
        dir.path().join("a.html"),
        r##"<a href="b.html#there">ok</a> <a href="b.html#gone">x</a> <a href="c.html">y</a>
        <a href="https://example.org/">web</a> <a href="#top">z</a><p id="top"></p>"##,
    )
    .unwrap();
    let broken = broken_links(dir.path());
    assert_eq!(broken.len(), 2, "{broken:?}");
    assert!(broken[0].ends_with("b.html#gone: no id \"gone\" on that page"));
    assert!(broken[1].ends_with("c.html: no such file"));
}

#[test]
fn the_readme_links_resolve() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let link = Regex::new(r"\]\(([^)#]+)(#[^)]*)?\)").unwrap();
    let mut n = 0;
    for c in link.captures_iter(&readme) {
        let target = &c[1];
        if target.contains("://") {
            continue;
        }
        n += 1;
        assert!(
            root().join(target).exists(),
            "README.md links to {target}, which does not exist"
        );
    }
    assert!(
        n >= 10,
        "the README should lead into the book ({n} local links)"
    );
}

#[test]
fn the_settings_reference_names_every_setting() {
    let scratch = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lmeff"))
        .arg("config")
        .current_dir(scratch.path())
        .env_remove("LMEFF_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let reference = std::fs::read_to_string(root().join("docs/src/reference/settings.md")).unwrap();
    let keys: Vec<&str> = printed
        .lines()
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim()))
        .collect();
    assert!(keys.len() > 60, "{printed}");
    let undocumented: Vec<&&str> = keys
        .iter()
        .filter(|k| !reference.contains(&format!("| `{k}` |")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "docs/src/reference/settings.md has no row for {undocumented:?}"
    );
}
