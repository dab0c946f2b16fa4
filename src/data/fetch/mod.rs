//! `lmeff data fetch`: downloads the study's corpora over HTTP(S). It first asks every server how
//! much it will send and says so (failing at once when a host cannot be reached), then downloads
//! with retries, resume of partial files (HTTP `Range`), optional SHA-256 pinning, a manifest of
//! what was fetched, and atomic placement (a file appears under its name only once complete and
//! verified). Zip archives, told by their content, are extracted into their destination.
//!
//! Sources are data, not code: `configs/sources.toml` lists each file's URL and destination; a
//! fetch may take only some files of a source (`tinystories:TinyStoriesV2-GPT4-valid.txt`).

mod archive;
pub mod http;
pub mod hybrid;
mod pick;
pub mod sources;

pub use pick::{select, Pick, Wanted};

use fs_err as fs;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::DecimalBytes;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::io::{sha256_file, write_json_atomic};
pub use sources::{load_sources, FileSpec, Sources, SourcesFile};

/// One downloaded file, as recorded in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fetched {
    pub url: String,
    /// Path relative to the fetch root (for archives: the archive, under `.downloads/<source>/`).
    pub file: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    /// Files extracted from an archive, relative to the fetch root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extracted: Vec<PathBuf>,
}

/// Options of a fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Fetch every file from `<mirror>/<source>/<file name>` instead of its URL.
    pub mirror: Option<String>,
    /// Seconds to wait before the first retry (doubling after each).
    pub retry_delay: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            mirror: None,
            retry_delay: Duration::from_millis(500),
        }
    }
}

/// What a fetch did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub files: Vec<Fetched>,
    /// Bytes that crossed the wire.
    pub downloaded: u64,
    pub seconds: f64,
}

/// The manifest path of source `name` under `root`.
pub fn manifest_path(root: &Path, name: &str) -> PathBuf {
    root.join(format!("fetch-manifest-{name}.json"))
}

/// Fetches the picked files into `root`; files already complete are kept. Before downloading it
/// prints how much will be downloaded. Each source's manifest keeps the entries of files not
/// fetched this time.
pub fn fetch(
    sources: &Sources,
    picks: &[Pick],
    root: &Path,
    opts: &FetchOptions,
) -> Result<Report> {
    let wanted = select(sources, picks)?;
    let agent = http::agent();
    let mut manifests: BTreeMap<&str, Vec<Fetched>> = BTreeMap::new();
    for w in &wanted {
        if !manifests.contains_key(w.source) {
            manifests.insert(w.source, read_manifest(root, w.source)?);
        }
    }
    let from = |w: &Wanted| match &opts.mirror {
        Some(m) => format!("{}/{}/{}", m.trim_end_matches('/'), w.source, w.key),
        None => w.url.clone(),
    };
    let missing: Vec<&Wanted> = wanted
        .iter()
        .filter(|w| present(w, root, &manifests[w.source], &from(w)).is_none())
        .collect();
    announce(&agent, &missing, wanted.len(), &from)?;

    let start = Instant::now();
    let mut report = Report::default();
    for w in &wanted {
        let url = from(w);
        let (record, wire) = fetch_one(&agent, w, &url, root, &manifests[w.source], opts)?;
        info!(
            source = w.source,
            bytes = record.bytes,
            "fetched {}",
            record.file.display()
        );
        report.downloaded += wire;
        report.files.push(record);
    }
    report.seconds = start.elapsed().as_secs_f64();
    for (source, old) in manifests {
        let mut merged: Vec<Fetched> = old
            .into_iter()
            .filter(|o| !report.files.iter().any(|f| f.url == o.url))
            .collect();
        merged.extend(
            wanted
                .iter()
                .zip(&report.files)
                .filter(|(w, _)| w.source == source)
                .map(|(_, f)| f.clone()),
        );
        write_json_atomic(&manifest_path(root, source), &merged)?;
    }
    Ok(report)
}

/// Asks for the size of every missing file (a few at a time) and prints the total to download.
fn announce(
    agent: &ureq::Agent,
    missing: &[&Wanted],
    all: usize,
    from: &dyn Fn(&Wanted) -> String,
) -> Result<()> {
    let urls: Vec<String> = missing.iter().map(|w| from(w)).collect();
    let mut sizes = Vec::with_capacity(urls.len());
    for chunk in urls.chunks(8) {
        let got: Vec<Result<Option<u64>>> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|u| s.spawn(move || http::size(agent, u)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a size request"))
                .collect()
        });
        for size in got {
            sizes.push(size?);
        }
    }
    let known: u64 = sizes.iter().flatten().sum();
    let unknown = sizes.iter().filter(|s| s.is_none()).count();
    let mut line = format!(
        "{} file(s) to download, {}",
        missing.len(),
        DecimalBytes(known)
    );
    if unknown > 0 {
        line += &format!(" and {unknown} of unknown size");
    }
    if all > missing.len() {
        line += &format!("; {} already here", all - missing.len());
    }
    println!("{line}");
    Ok(())
}

/// Where a complete copy of `w` already lies, if anywhere: its archive under `.downloads/` or
/// its file in `dest`, under the name it is known by (`name`, the manifest's, or the URL's).
fn present(w: &Wanted, root: &Path, manifest: &[Fetched], url: &str) -> Option<PathBuf> {
    let recorded = manifest
        .iter()
        .find(|f| f.url == url)
        .and_then(|f| f.file.file_name().map(|n| n.to_string_lossy().into_owned()));
    let name = w.spec.name.clone().or(recorded).unwrap_or(w.key.clone());
    [
        downloads(root, w.source).join(&name),
        root.join(&w.spec.dest).join(&name),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

fn downloads(root: &Path, source: &str) -> PathBuf {
    root.join(".downloads").join(source)
}

/// Fetches one file (unless a complete copy is there), places it and extracts it when it is an
/// archive. Returns its record and the bytes downloaded.
fn fetch_one(
    agent: &ureq::Agent,
    w: &Wanted,
    url: &str,
    root: &Path,
    manifest: &[Fetched],
    opts: &FetchOptions,
) -> Result<(Fetched, u64)> {
    let stash = downloads(root, w.source);
    let dest = root.join(&w.spec.dest);
    fs::create_dir_all(&stash)?;
    fs::create_dir_all(&dest)?;
    let expected = w.spec.sha256.as_deref();
    let mut wire = 0;
    let mut file = None;
    if let Some(have) = present(w, root, manifest, url) {
        let sha = sha256_file(&have)?;
        if expected.is_none_or(|e| e.eq_ignore_ascii_case(&sha)) {
            info!("{} already complete", have.display());
            file = Some((have, sha));
        } else {
            warn!(
                "{} does not match its pinned sha256: fetching again",
                have.display()
            );
        }
    }
    let (path, sha256) = match file {
        Some(found) => found,
        None => {
            let part = stash.join(format!(".{}.part", w.key));
            let got = http::download(agent, url, &part, opts.retry_delay, None)?;
            wire = got.wire_bytes;
            let sha = sha256_file(&part)?;
            if let Some(want) = expected.filter(|e| !e.eq_ignore_ascii_case(&sha)) {
                fs::remove_file(&part)?;
                bail!("{url}: sha256 mismatch: expected {want}, got {sha}; the download was discarded");
            }
            let name = w.spec.name.clone().or(got.name).unwrap_or(w.key.clone());
            let archive = w.spec.unzip.map_or_else(|| archive::is_zip(&part), Ok)?;
            let to = if archive {
                stash.join(&name)
            } else {
                dest.join(&name)
            };
            fs::rename(&part, &to)?;
            (to, sha)
        }
    };
    let extracted = if path.starts_with(&stash) {
        let folders = w
            .spec
            .folders
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), root.join(v))).collect());
        archive::unzip_into(&path, &dest, folders.as_ref())
            .inspect_err(|_| {
                // A bad archive is not kept as "complete": the next fetch downloads it again.
                let _ = fs::remove_file(&path);
            })?
            .into_iter()
            .map(|p| p.strip_prefix(root).unwrap_or(&p).to_owned())
            .collect()
    } else {
        vec![]
    };
    let record = Fetched {
        url: url.to_owned(),
        file: path.strip_prefix(root).unwrap_or(&path).to_owned(),
        bytes: path.metadata()?.len(),
        sha256,
        extracted,
    };
    Ok((record, wire))
}

fn read_manifest(root: &Path, source: &str) -> Result<Vec<Fetched>> {
    let path = manifest_path(root, source);
    if !path.exists() {
        return Ok(vec![]);
    }
    serde_json::from_slice(&fs::read(&path)?)
        .with_context(|| format!("{} is not a fetch manifest", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Sources {
        load_sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/sources.toml"))
            .unwrap()
            .files
    }

    #[test]
    fn shipped_sources_parse() {
        let s = shipped();
        assert_eq!(s["tinystories"].len(), 2);
        assert!(s["blimp"][0].each_paradigm && s["blimp"][0].url.contains("{paradigm}"));
        // The study's BabyLM links (scripts/data/load_data.sh): OSF file ids, names given here.
        // BabyLM 2025 (OSF project ryjfm), the study's `babylm3`: OSF file ids, names given here.
        for id in [
            "6819fdbfbecda878d4c61566",
            "6819fd8d91a6c4b6d4159848",
            "6819fd86ff83c3467ac0dcb0",
        ] {
            let url = format!("https://osf.io/download/{id}/");
            for edition in ["babylm2025", "babylm3"] {
                assert!(
                    s[edition].iter().any(|f| f.url == url && f.name.is_some()),
                    "{edition} {id}"
                );
            }
        }
        // BabyLM 2024 (OSF project ad7qg).
        for id in ["5mk3x", "rduj2", "m48ed"] {
            let url = format!("https://osf.io/download/{id}/");
            assert!(s["babylm2024"].iter().any(|f| f.url == url), "{id}");
        }
        // SuperGLUE from aps/super_glue's `main`, in its native Parquet layout.
        for task in ["boolq", "multirc", "wsc"] {
            for split in ["train", "validation"] {
                let url = format!(
                    "https://huggingface.co/datasets/aps/super_glue/resolve/main/{task}/{split}-00000-of-00001.parquet"
                );
                assert!(s["glue"].iter().any(|f| f.url == url), "{url}");
            }
        }
        assert!(!s["glue"].iter().any(|f| f.url.contains("refs%2Fconvert")));
        // BabyLM 2023: one archive in the challenge's GitHub repository, four folders.
        let b23 = &s["babylm2023"][0];
        assert!(b23
            .url
            .ends_with("babylm.github.io/raw/main/babylm_data.zip"));
        assert_eq!(b23.folders.as_ref().unwrap().len(), 4);
        // Each edition lands in folders named after it.
        for edition in ["babylm2025", "babylm2024", "babylm2023"] {
            for f in &s[edition] {
                let dests: Vec<&PathBuf> = match &f.folders {
                    Some(m) => m.values().collect(),
                    None => vec![&f.dest],
                };
                for d in dests {
                    assert!(d.to_string_lossy().starts_with(edition), "{edition}: {d:?}");
                }
            }
        }
    }
}
