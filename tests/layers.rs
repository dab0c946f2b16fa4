//! The library's modules form layers, and imports flow one way: a module may use its own layer and
//! the layers below it, never one above. This test reads every `crate::…` path in `src/` (the
//! `use` lines and paths written inline; test modules excluded) and fails on a back-edge, naming
//! the file and line. The order is the README's layout table.

use std::path::{Path, PathBuf};

/// Bottom to top.
const LAYERS: [&str; 13] = [
    "config", "io", "shim", "device", "data", "model", "hub", "dist", "train", "results", "eval",
    "analysis", "slurm",
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == module)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for the binary's files).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    let name = first.trim_end_matches(".rs").to_owned();
    (!matches!(name.as_str(), "main" | "cli" | "lib")).then_some(name)
}

/// Every (line, module) a file imports through `crate::<module>`, outside `#[cfg(test)]` code.
fn imports(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push((i + 1, name));
            }
        }
    }
    out
}

/// Every back-edge in the tree under `src`: "file:line: `a` (layer i) imports `b` (layer j)".
fn back_edges(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    sources(src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for f in &files {
        let Some(module) = module_of(src, f) else {
            continue;
        };
        let from = rank(&module)
            .unwrap_or_else(|| panic!("{}: module `{module}` is in no layer", f.display()));
        for (line, target) in imports(&std::fs::read_to_string(f).unwrap()) {
            let to = rank(&target).unwrap_or_else(|| {
                panic!("{}:{line}: `crate::{target}` is in no layer", f.display())
            });
            if to > from {
                problems.push(format!(
                    "{}:{line}: `{module}` (layer {from}) imports `{target}` (layer {to}), a higher layer",
                    f.display()
                ));
            }
        }
    }
    problems
}

#[test]
fn imports_flow_from_higher_layers_to_lower_ones_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = back_edges(&src);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_back_edge_is_found() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/settings.rs"),
        "use crate::io::write_atomic;\nuse crate::train::TrainSettings;\n#[cfg(test)]\nuse crate::slurm::X;\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("eval.rs"),
        "fn f() { crate::config::Millions::new(1.0); }\n",
    )
    .unwrap();
    let problems = back_edges(dir.path());
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0]
            .ends_with("settings.rs:1: `config` (layer 0) imports `io` (layer 1), a higher layer"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("settings.rs:2: `config` (layer 0) imports `train`"),
        "{problems:?}"
    );
}
