//! Zip archives among fetched files: recognised by their content (OSF links name nothing in the
//! URL) and extracted, staged, into their destination.

use fs_err::{self as fs, File};
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

/// Extracts an archive's files (top folder stripped) into `dest`, staged so a bad archive leaves
/// `dest` untouched. Returns the extracted paths.
pub fn unzip_into(archive: &Path, dest: &Path) -> Result<Vec<PathBuf>> {
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
