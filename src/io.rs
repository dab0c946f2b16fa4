//! File-system helpers every stage uses so that nothing is ever half-written: atomic file writes
//! (temp file + rename), staged folders replaced in one rename, and SHA-256 digests.

use fs_err::{self as fs, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// A temporary sibling path of `path` (same folder, so `rename` is atomic).
pub fn temp_sibling(path: &Path, tag: &str) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{tag}-{}.tmp", std::process::id()))
}

/// Writes a file atomically: `write` fills a temp file that is synced and renamed over `path`.
/// On error the temp file is removed and `path` is untouched.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = temp_sibling(path, "write");
    let result = (|| {
        let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        write(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

/// Writes bytes atomically.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| Ok(w.write_all(bytes)?))
}

/// Writes pretty JSON atomically.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value)?;
        Ok(w.write_all(b"\n")?)
    })
}

/// A folder built under a temporary name and put in place with [`Staged::commit`]; dropped
/// uncommitted, it is removed, so a failure leaves no partial output.
pub struct Staged {
    target: PathBuf,
    tmp: PathBuf,
    committed: bool,
}

impl Staged {
    /// Starts staging `target` (its parent is created).
    pub fn new(target: &Path) -> Result<Staged> {
        let tmp = temp_sibling(target, "stage");
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        Ok(Staged {
            target: target.to_owned(),
            tmp,
            committed: false,
        })
    }

    /// The folder to write into.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Replaces `target` with the staged folder (an existing one is moved aside first, then removed).
    pub fn commit(mut self) -> Result<PathBuf> {
        let old = temp_sibling(&self.target, "old");
        if self.target.exists() {
            fs::rename(&self.target, &old)
                .with_context(|| format!("moving the old {} aside", self.target.display()))?;
        }
        fs::rename(&self.tmp, &self.target)
            .with_context(|| format!("putting {} in place", self.target.display()))?;
        self.committed = true;
        if old.exists() {
            fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
        }
        Ok(self.target.clone())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Rows of cells as an aligned text table (columns two spaces apart, widths in characters, no
/// trailing spaces), the header first.
pub fn aligned_table<'a>(header: &[&str], rows: impl IntoIterator<Item = Vec<&'a str>>) -> String {
    use std::io::Write as _;
    let mut tw = tabwriter::TabWriter::new(Vec::new()).minwidth(0).padding(2);
    let mut line = |cells: &[&str]| {
        let _ = writeln!(tw, "{}", cells.join("\t"));
    };
    line(header);
    for row in rows {
        line(&row);
    }
    let bytes = tw.into_inner().expect("writing to memory cannot fail");
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(|l| l.trim_end().to_owned() + "\n")
        .collect()
}

/// Hex SHA-256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Hex SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_leaves_old_file_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_bytes_atomic(&path, b"first").unwrap();
        let err = write_atomic(&path, |w| {
            w.write_all(b"partial")?;
            anyhow::bail!("boom")
        });
        assert!(err.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"first");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file left behind"
        );
    }

    #[test]
    fn staged_folders_replace_or_vanish() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("old.txt"), "old").unwrap();
        {
            let s = Staged::new(&target).unwrap();
            fs::write(s.path().join("new.txt"), "new").unwrap();
        } // dropped: nothing changes
        assert!(target.join("old.txt").exists());
        let s = Staged::new(&target).unwrap();
        fs::write(s.path().join("new.txt"), "new").unwrap();
        s.commit().unwrap();
        assert!(target.join("new.txt").exists() && !target.join("old.txt").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn tables_align_on_characters() {
        let t = aligned_table(
            &["#", "name", "x"],
            [vec!["1", "größe", ""], vec!["10", "ab", "z"]],
        );
        assert_eq!(t, "#   name   x\n1   größe\n10  ab     z\n");
    }

    #[test]
    fn sha256_known_value() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, b"abc").unwrap();
        assert_eq!(sha256_file(&p).unwrap(), sha256_hex(b"abc"));
    }
}
