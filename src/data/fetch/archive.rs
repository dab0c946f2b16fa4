//! Zip archives among fetched files: recognised by their content (OSF links name nothing in the
//! URL) and extracted, staged, into their destination.

use fs_err::{self as fs, File};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::io::Staged;

/// Whether `path` starts as a zip archive does (a local file header, or an empty archive's end
/// record).
pub fn is_zip(path: &Path) -> Result<bool> {
    let mut head = [0u8; 4];
    let mut file = File::open(path)?;
    let n = file.read(&mut head)?;
    Ok(n == 4 && (head == *b"PK\x03\x04" || head == *b"PK\x05\x06"))
}

/// Extracts an archive's files (their folders dropped) into `dest`, or with `folders` (archive
/// folder name → destination) each file under a listed folder into that folder's destination and
/// the others not at all; staged, so a bad archive leaves every destination untouched. Returns
/// the extracted paths.
pub fn unzip_into(
    archive: &Path,
    dest: &Path,
    folders: Option<&BTreeMap<String, PathBuf>>,
) -> Result<Vec<PathBuf>> {
    let file = File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a zip archive", archive.display()))?;
    let staged = Staged::new(&dest.with_extension("unzip"))?;
    // (staged name, destination folder, file name)
    let mut files: Vec<(PathBuf, PathBuf, PathBuf)> = Vec::new();
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
        let to = match folders {
            None => dest.to_owned(),
            Some(map) => {
                let parent = path.parent().unwrap_or(Path::new(""));
                let Some(d) = parent
                    .components()
                    .find_map(|c| map.get(c.as_os_str().to_string_lossy().as_ref()))
                else {
                    continue;
                };
                d.clone()
            }
        };
        let name = PathBuf::from(path.file_name().expect("a file entry has a name"));
        let staged_name = PathBuf::from(format!("{i}"));
        let mut out = File::create(staged.path().join(&staged_name))?;
        std::io::copy(&mut entry, &mut out)
            .with_context(|| format!("extracting {}", path.display()))?;
        files.push((staged_name, to, name));
    }
    if folders.is_some() && files.is_empty() {
        bail!(
            "{}: no file under the folders {:?} the source names",
            archive.display(),
            folders
                .map(|m| m.keys().collect::<Vec<_>>())
                .unwrap_or_default()
        );
    }
    let mut placed = Vec::new();
    for (staged_name, dir, name) in files {
        fs::create_dir_all(&dir)?;
        let to = dir.join(&name);
        fs::rename(staged.path().join(&staged_name), &to)
            .with_context(|| format!("placing {}", to.display()))?;
        placed.push(to);
    }
    Ok(placed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zips_are_told_by_their_first_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            fs::write(&p, bytes).unwrap();
            p
        };
        assert!(is_zip(&write("6819fd8d", b"PK\x03\x04rest")).unwrap());
        assert!(is_zip(&write("empty", b"PK\x05\x06\0\0")).unwrap());
        assert!(!is_zip(&write("a.zip", b"{\"sentence_good\": 1}")).unwrap());
        assert!(!is_zip(&write("short", b"PK")).unwrap());
    }
}
