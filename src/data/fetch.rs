//! `lmeff data fetch`: downloads the study's corpora over HTTP(S) with retries, resume of partial
//! files (HTTP `Range`), optional SHA-256 pinning, a manifest of what was fetched, and atomic
//! placement (a file appears under its name only once complete and verified).
//!
//! Sources are data, not code: `configs/sources.toml` lists each file's URL and destination.

use fs_err::{self as fs, File, OpenOptions};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::blimp_paradigms::BLIMP_PARADIGMS;
use super::prepare::byte_bar;
use crate::io::{sha256_file, write_json_atomic, Staged};

/// Attempts per file before giving up.
const MAX_ATTEMPTS: u32 = 6;

/// One entry of `configs/sources.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Where to download from (`{paradigm}` is expanded when `each_paradigm`).
    pub url: String,
    /// Destination folder, relative to the fetch root.
    pub dest: PathBuf,
    /// Expected SHA-256 of the downloaded file; a mismatch is refused.
    pub sha256: Option<String>,
    /// Extract the archive into `dest` (files only, top folder stripped).
    #[serde(default)]
    pub unzip: bool,
    /// One download per BLiMP paradigm.
    #[serde(default)]
    pub each_paradigm: bool,
}

/// Every named source of a sources file.
pub type Sources = BTreeMap<String, Vec<FileSpec>>;

/// Reads a sources file.
pub fn load_sources(path: &Path) -> Result<Sources> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml_from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn toml_from_str(text: &str) -> Result<Sources> {
    use figment::providers::{Format, Toml};
    Ok(figment::Figment::from(Toml::string(text)).extract()?)
}

/// One downloaded file, as recorded in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fetched {
    pub url: String,
    /// Path relative to the fetch root (for archives: the archive's name under its `dest`).
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

/// The manifest path of source `name` under `root`.
pub fn manifest_path(root: &Path, name: &str) -> PathBuf {
    root.join(format!("fetch-manifest-{name}.json"))
}

/// Fetches every file of source `name` into `root`; already complete files are kept.
pub fn fetch(
    sources: &Sources,
    name: &str,
    root: &Path,
    opts: &FetchOptions,
) -> Result<Vec<Fetched>> {
    let specs = sources.get(name).ok_or_else(|| {
        anyhow!(
            "unknown source `{name}` (known: {})",
            sources.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(120))
        .build();
    let mut fetched = Vec::new();
    for spec in specs {
        let urls: Vec<String> = if spec.each_paradigm {
            BLIMP_PARADIGMS
                .iter()
                .map(|p| spec.url.replace("{paradigm}", p))
                .collect()
        } else {
            vec![spec.url.clone()]
        };
        for url in urls {
            let file_name = url
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty())
                .ok_or_else(|| anyhow!("{url}: no file name at the end of the URL"))?
                .to_owned();
            let from = match &opts.mirror {
                Some(m) => format!("{}/{name}/{file_name}", m.trim_end_matches('/')),
                None => url.clone(),
            };
            let dest_dir = root.join(&spec.dest);
            fs::create_dir_all(&dest_dir)
                .with_context(|| format!("creating {}", dest_dir.display()))?;
            let target = if spec.unzip {
                root.join(".downloads").join(&file_name)
            } else {
                dest_dir.join(&file_name)
            };
            let (bytes, sha256) = download(&agent, &from, &target, spec.sha256.as_deref(), opts)?;
            let mut record = Fetched {
                url: from.clone(),
                file: target.strip_prefix(root).unwrap_or(&target).to_owned(),
                bytes,
                sha256,
                extracted: vec![],
            };
            if spec.unzip {
                record.extracted = unzip_into(&target, &dest_dir)?
                    .into_iter()
                    .map(|p| p.strip_prefix(root).unwrap_or(&p).to_owned())
                    .collect();
            }
            info!(source = name, bytes, "fetched {}", record.file.display());
            fetched.push(record);
        }
    }
    write_json_atomic(&manifest_path(root, name), &fetched)?;
    Ok(fetched)
}

/// Downloads `url` to `target` (resuming `target`'s partial sibling), verifies and renames it.
/// An existing `target` is kept when it matches `expected` (or when nothing is expected).
fn download(
    agent: &ureq::Agent,
    url: &str,
    target: &Path,
    expected: Option<&str>,
    opts: &FetchOptions,
) -> Result<(u64, String)> {
    if target.is_file() {
        let sha = sha256_file(target)?;
        if expected.is_none_or(|e| e.eq_ignore_ascii_case(&sha)) {
            info!("{} already complete", target.display());
            return Ok((target.metadata()?.len(), sha));
        }
        warn!(
            "{} does not match its pinned sha256: fetching again",
            target.display()
        );
    }
    if let Some(dir) = target.parent() {
        fs::create_dir_all(dir)?;
    }
    let name = target.file_name().expect("a file name").to_string_lossy();
    let part = target.with_file_name(format!(".{name}.part"));
    let mut delay = opts.retry_delay;
    let mut last_error = String::new();
    let mut done = false;
    for attempt in 1..=MAX_ATTEMPTS {
        if attempt > 1 {
            warn!("{url}: attempt {attempt}/{MAX_ATTEMPTS} after: {last_error}");
            std::thread::sleep(delay);
            delay *= 2;
        }
        match try_once(agent, url, &part) {
            Ok(()) => {
                done = true;
                break;
            }
            Err(Attempt::Fatal(e)) => return Err(e),
            Err(Attempt::Retry(e)) => last_error = format!("{e:#}"),
        }
    }
    if !done {
        let kept = match part.metadata().map(|m| m.len()) {
            Ok(n) if n > 0 => format!(
                "the partial file {} ({n} bytes) is kept, and the next run resumes it",
                part.display()
            ),
            _ => {
                let _ = fs::remove_file(&part);
                "nothing was downloaded".to_owned()
            }
        };
        bail!("{url}: giving up after {MAX_ATTEMPTS} attempts: {last_error} ({kept})");
    }
    let sha = sha256_file(&part)?;
    if let Some(want) = expected {
        if !want.eq_ignore_ascii_case(&sha) {
            fs::remove_file(&part)?;
            bail!("{url}: sha256 mismatch: expected {want}, got {sha}; the download was discarded");
        }
    }
    let bytes = part.metadata()?.len();
    fs::rename(&part, target).with_context(|| format!("placing {}", target.display()))?;
    Ok((bytes, sha))
}

enum Attempt {
    Retry(anyhow::Error),
    Fatal(anyhow::Error),
}

/// One request: resumes from the partial file's length when the server honours `Range`.
fn try_once(agent: &ureq::Agent, url: &str, part: &Path) -> std::result::Result<(), Attempt> {
    let have = part.metadata().map(|m| m.len()).unwrap_or(0);
    let mut req = agent.get(url);
    if have > 0 {
        req = req.set("Range", &format!("bytes={have}-"));
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(416, _)) if have > 0 => return Ok(()), // already complete
        Err(ureq::Error::Status(code, _)) if code == 429 || code >= 500 => {
            return Err(Attempt::Retry(anyhow!("HTTP {code}")))
        }
        Err(ureq::Error::Status(code, r)) => {
            return Err(Attempt::Fatal(anyhow!(
                "{url}: HTTP {code} {}",
                r.status_text()
            )))
        }
        Err(e) => return Err(Attempt::Retry(anyhow!(e))),
    };
    let resumed = resp.status() == 206;
    let start = if resumed { have } else { 0 };
    let total = if resumed {
        resp.header("Content-Range")
            .and_then(|v| v.rsplit('/').next())
            .and_then(|t| t.parse::<u64>().ok())
    } else {
        resp.header("Content-Length")
            .and_then(|v| v.parse::<u64>().ok())
    };
    let io = |e: std::io::Error| Attempt::Retry(anyhow!(e));
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(part)
        .map_err(|e| Attempt::Fatal(anyhow!("opening {}: {e}", part.display())))?;
    let bar = byte_bar(total.unwrap_or(0), url.rsplit('/').next().unwrap_or(url));
    bar.set_position(start);
    let mut reader = resp.into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = start;
    loop {
        let n = reader.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n]).map_err(io)?;
        got += n as u64;
        bar.set_position(got);
    }
    file.sync_all().map_err(io)?;
    bar.finish_and_clear();
    match total {
        Some(t) if got != t => Err(Attempt::Retry(anyhow!(
            "transfer ended at byte {got} of {t}"
        ))),
        _ => Ok(()),
    }
}

/// Extracts an archive's files (top folder stripped) into `dest`, staged so a bad archive leaves
/// `dest` untouched. Returns the extracted paths.
fn unzip_into(archive: &Path, dest: &Path) -> Result<Vec<PathBuf>> {
    let file = File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a zip archive", archive.display()))?;
    let staged = Staged::new(&dest.with_extension("unzip"))?;
    let mut names = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        let Some(path) = entry.enclosed_name() else {
            bail!(
                "{}: unsafe path {:?} in archive",
                archive.display(),
                entry.name()
            );
        };
        if entry.is_dir() || path.components().any(|c| c.as_os_str() == "__MACOSX") {
            continue;
        }
        let name = PathBuf::from(path.file_name().expect("a file entry has a name"));
        let mut out = File::create(staged.path().join(&name))?;
        std::io::copy(&mut entry, &mut out)
            .with_context(|| format!("extracting {}", name.display()))?;
        names.push(name);
    }
    let mut placed = Vec::new();
    for name in names {
        let to = dest.join(&name);
        fs::rename(staged.path().join(&name), &to)
            .with_context(|| format!("placing {}", to.display()))?;
        placed.push(to);
    }
    Ok(placed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_sources_parse() {
        let s = load_sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/sources.toml"))
            .unwrap();
        assert_eq!(s["tinystories"].len(), 2);
        assert!(s["babylm3"].iter().all(|f| f.unzip));
        assert!(s["blimp"][0].each_paradigm && s["blimp"][0].url.contains("{paradigm}"));
    }

    #[test]
    fn a_failed_download_says_whether_anything_was_kept() {
        // A port nobody listens on: every attempt is refused before a byte arrives.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f.txt");
        let opts = FetchOptions {
            retry_delay: Duration::from_millis(1),
            ..Default::default()
        };
        let agent = ureq::AgentBuilder::new().build();
        let url = format!("http://127.0.0.1:{port}/f.txt");
        let err = format!(
            "{:#}",
            download(&agent, &url, &target, None, &opts).unwrap_err()
        );
        assert!(err.contains("nothing was downloaded"), "{err}");
        assert!(!err.contains(".part"), "{err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
