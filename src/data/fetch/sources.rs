//! `configs/sources.toml`: where each named source's files are downloaded from, the aliases, and
//! the hybrid corpus's Hub sources.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use fs_err as fs;
use serde::Deserialize;

use super::hybrid::HybridSpec;

/// One entry of `configs/sources.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Where to download from (`{paradigm}` is expanded when `each_paradigm`).
    pub url: String,
    /// The file's name when the URL does not end in it (OSF links); otherwise the server's
    /// `Content-Disposition` name, else the URL's last segment.
    pub name: Option<String>,
    /// Destination folder, relative to the fetch root.
    pub dest: PathBuf,
    /// Expected SHA-256 of the downloaded file; a mismatch is refused.
    pub sha256: Option<String>,
    /// Extract the archive into `dest` (files only, top folder stripped); unset: extract when the
    /// file is a zip archive.
    pub unzip: Option<bool>,
    /// One download per BLiMP paradigm.
    #[serde(default)]
    pub each_paradigm: bool,
    /// An archive holding several folders: each named folder's files go to its destination
    /// (relative to the fetch root), the other folders' nowhere.
    pub folders: Option<BTreeMap<String, PathBuf>>,
}

/// Every named source of a sources file.
pub type Sources = BTreeMap<String, Vec<FileSpec>>;

/// A sources file: named file lists, other names for some of them (`[aliases]`, e.g. the study's
/// `babylm3` for `babylm2025`), and the hybrid corpus's Hub sources (`[hybrid]`).
#[derive(Debug, Clone, Deserialize)]
pub struct SourcesFile {
    pub hybrid: Option<HybridSpec>,
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    #[serde(flatten)]
    pub files: Sources,
}

/// `lmeff data fetch --sources`' default, relative to the folder lmeff runs in.
pub const DEFAULT_SOURCES: &str = "configs/sources.toml";

/// lmeff's own `configs/sources.toml`, for a folder without one.
const BUILTIN_SOURCES: &str = include_str!("../../../configs/sources.toml");

/// Reads a sources file (lmeff's built-in one for the default path when the folder lmeff runs in
/// has none); each alias names its source's files.
pub fn load_sources(path: &Path) -> Result<SourcesFile> {
    use figment::providers::{Format, Toml};
    let text = if path == Path::new(DEFAULT_SOURCES) && !path.exists() {
        BUILTIN_SOURCES.to_owned()
    } else {
        fs::read_to_string(path)?
    };
    let mut s: SourcesFile = figment::Figment::from(Toml::string(&text))
        .extract()
        .with_context(|| format!("parsing {}", path.display()))?;
    for (alias, of) in &s.aliases {
        let Some(files) = s.files.get(of).cloned() else {
            bail!("{}: alias {alias} names no source `{of}`", path.display());
        };
        s.files.insert(alias.clone(), files);
    }
    Ok(s)
}
