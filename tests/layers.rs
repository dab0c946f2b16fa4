//! The library's modules form layers, and imports flow one way: a module may use its own layer and
//! the layers below it, never one above. This test reads every `crate::…` path in `src/` (the
//! `use` lines and paths written inline; test modules excluded) and fails on a back-edge, naming
//! the file and line. The order is ARCHITECTURE.md's table of layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top.
const LAYERS: [&str; 15] = [
    "io", "rng", "progress", "config", "shim", "device", "data", "model", "hub", "dist", "train",
    "results", "eval", "analysis", "slurm",
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
        "use crate::shim::lmeff_x;\nuse crate::train::TrainSettings;\n#[cfg(test)]\nuse crate::slurm::X;\n",
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
        problems[0].ends_with(
            "settings.rs:1: `config` (layer 3) imports `shim` (layer 4), a higher layer"
        ),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("settings.rs:2: `config` (layer 3) imports `train`"),
        "{problems:?}"
    );
}

/// The files of `src/` and the files each imports: paths through `crate::`, `super::`, `self::`
/// and a module's own children, followed through a module root's `pub use` re-exports to the
/// file that defines the item.
struct FileGraph {
    /// Relative path → code before its `#[cfg(test)]`.
    files: BTreeMap<String, String>,
}

impl FileGraph {
    fn load(src: &Path) -> FileGraph {
        let mut paths = Vec::new();
        sources(src, &mut paths);
        let files = paths
            .iter()
            .map(|p| {
                let rel = p
                    .strip_prefix(src)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                let text = std::fs::read_to_string(p).unwrap();
                let code: Vec<&str> = text
                    .lines()
                    .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
                    .map(|l| l.split("//").next().unwrap_or(""))
                    .collect();
                (rel, code.join("\n"))
            })
            .collect();
        FileGraph { files }
    }

    /// `data/fetch/mod.rs` → [data, fetch]; `data/text.rs` → [data, text]; `lib.rs` → [].
    fn module_of(file: &str) -> Vec<String> {
        let mut parts: Vec<String> = file
            .trim_end_matches(".rs")
            .split('/')
            .map(str::to_owned)
            .collect();
        if matches!(
            parts.last().map(String::as_str),
            Some("mod" | "lib" | "main")
        ) {
            parts.pop();
        }
        parts
    }

    fn file_named(&self, module: &[String]) -> Option<String> {
        let base = module.join("/");
        [format!("{base}.rs"), format!("{base}/mod.rs")]
            .into_iter()
            .find(|f| self.files.contains_key(f))
    }

    /// The file `path` (as written in `from`) leads to, or None for other crates.
    fn resolve(&self, from: &str, path: &[String], depth: usize) -> Option<String> {
        let here = Self::module_of(from);
        let mut module = match path.first()?.as_str() {
            "crate" => path[1..].to_vec(),
            "self" => [here.clone(), path[1..].to_vec()].concat(),
            "super" => {
                let ups = path.iter().take_while(|s| *s == "super").count();
                let mut m = here.clone();
                m.truncate(m.len().saturating_sub(ups));
                [m, path[ups..].to_vec()].concat()
            }
            first
                if self
                    .file_named(&[here.clone(), vec![first.to_owned()]].concat())
                    .is_some() =>
            {
                [here.clone(), path.to_vec()].concat()
            }
            _ => return None,
        };
        let mut rest = Vec::new();
        let file = loop {
            if module.is_empty() {
                return None;
            }
            if let Some(f) = self.file_named(&module) {
                break f;
            }
            rest.insert(0, module.pop().unwrap());
        };
        if let (Some(item), true) = (rest.first(), depth < 8) {
            if let Some(target) = self.reexports(&file).get(item) {
                if let Some(f) = self.resolve(&file, target, depth + 1) {
                    return Some(f);
                }
            }
        }
        Some(file)
    }

    /// A file's `pub use` items: visible name → the path it re-exports.
    fn reexports(&self, file: &str) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        for (public, path) in use_paths(&self.files[file]) {
            if public && path.len() > 1 {
                out.insert(
                    path.last().unwrap().clone(),
                    path[..path.len() - 1].to_vec(),
                );
            }
        }
        out
    }

    fn edges(&self, file: &str) -> BTreeSet<String> {
        let code = &self.files[file];
        let mut paths: Vec<Vec<String>> = use_paths(code).into_iter().map(|(_, p)| p).collect();
        paths.extend(inline_paths(code));
        paths
            .iter()
            .filter_map(|p| self.resolve(file, p, 0))
            .filter(|f| f != file)
            .collect()
    }

    /// Each circle of files that import each other, as `a.rs → b.rs → a.rs`.
    fn circles(&self) -> Vec<String> {
        let edges: BTreeMap<&str, BTreeSet<String>> = self
            .files
            .keys()
            .map(|f| (f.as_str(), self.edges(f)))
            .collect();
        let mut found = Vec::new();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for start in self.files.keys() {
            if seen.contains(start) {
                continue;
            }
            if let Some(cycle) = path_back(&edges, start) {
                seen.extend(cycle.iter().cloned());
                found.push(format!("{} → {start}", cycle.join(" → ")));
            }
        }
        found
    }
}

/// The shortest import path from `start` back to itself (breadth first), if any.
fn path_back(edges: &BTreeMap<&str, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut parent: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start.to_owned()]);
    while let Some(f) = queue.pop_front() {
        for next in &edges[f.as_str()] {
            if next == start {
                let mut cycle = vec![f.clone()];
                while let Some(p) = parent.get(cycle.last().unwrap()) {
                    cycle.push(p.clone());
                }
                cycle.reverse();
                return Some(cycle);
            }
            if !parent.contains_key(next) && next != start {
                parent.insert(next.clone(), f.clone());
                queue.push_back(next.clone());
            }
        }
    }
    None
}

/// Every path a `use` declaration names, braces expanded, with whether it is `pub`.
fn use_paths(code: &str) -> Vec<(bool, Vec<String>)> {
    let mut out = Vec::new();
    for stmt in code.split(';') {
        let s = stmt.trim();
        let Some(at) = s.find("use ").filter(|&i| {
            let before = s[..i].trim();
            before.is_empty() || before.starts_with("pub") || before.ends_with('}')
        }) else {
            continue;
        };
        let public = s[..at].trim_end().ends_with("pub") || s[..at].contains("pub(");
        let words: Vec<&str> = s[at + 4..].split_whitespace().collect();
        let mut tree = words.join(" ");
        for sep in ["::", "{", "}", ","] {
            tree = tree
                .replace(&format!(" {sep}"), sep)
                .replace(&format!("{sep} "), sep);
        }
        for p in expand(&tree) {
            out.push((public, p));
        }
    }
    out
}

/// `a::{b,c::{d,e}}` → [a::b, a::c::d, a::c::e] (aliases dropped, `self` = the prefix).
fn expand(tree: &str) -> Vec<Vec<String>> {
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree);
        let segs: Vec<String> = path
            .split("::")
            .filter(|s| !s.is_empty() && *s != "self" && *s != "*")
            .map(str::to_owned)
            .collect();
        return vec![segs];
    };
    let prefix = tree[..open].trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut items = Vec::new();
    let (mut depth, mut from) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[from..]);
    items
        .into_iter()
        .filter(|i| !i.is_empty())
        .flat_map(|i| expand(&format!("{prefix}::{i}")))
        .collect()
}

/// Paths written inline: `crate::a::b`, `super::super::c`.
fn inline_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for start in ["crate::", "super::"] {
        for (at, _) in code.match_indices(start) {
            let boundary = at == 0
                || !(bytes[at - 1].is_ascii_alphanumeric()
                    || bytes[at - 1] == b'_'
                    || bytes[at - 1] == b':');
            if !boundary {
                continue;
            }
            let path: String = code[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            if path.ends_with("::") {
                continue; // a `use` group's prefix: its paths come from `use_paths`
            }
            out.push(
                path.split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            );
        }
    }
    out
}

#[test]
fn no_two_files_import_each_other_directly_or_in_a_loop() {
    let graph = FileGraph::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let circles = graph.circles();
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn a_circle_is_found_through_children_and_re_exports() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("lib.rs", "pub mod m;\npub mod n;\n");
    write(
        "m/mod.rs",
        "mod a;\nmod b;\npub use a::Thing;\nuse b::{self as bee,\n    Other};\npub struct Root;\n",
    );
    write("m/a.rs", "pub struct Thing;\n");
    write("m/b.rs", "use super::Root;\npub struct Other;\n");
    write("n/x.rs", "use crate::n::y::Y;\npub struct X;\n");
    write(
        "n/y.rs",
        "pub struct Y;\nfn f() { let _ = crate::m::Thing; }\n#[cfg(test)]\nuse super::x::X;\n",
    );
    let graph = FileGraph::load(dir.path());
    assert_eq!(
        graph.edges("n/y.rs"),
        BTreeSet::from(["m/a.rs".to_owned()]),
        "through the re-export, tests left out"
    );
    assert_eq!(graph.circles(), ["m/b.rs → m/mod.rs → m/b.rs"]);
    write("n/y.rs", "use super::super::n::x;\n");
    assert_eq!(FileGraph::load(dir.path()).circles().len(), 2);
}
