//! File-system helpers every stage uses so that nothing is ever half-written: atomic file writes
//! (temp file + rename), staged folders replaced in one rename, and SHA-256 digests.

use fs_err::{self as fs, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

/// A temporary sibling path of `path` (same folder, so `rename` is atomic).
pub fn temp_sibling(path: &Path, tag: &str) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{tag}-{}.tmp", std::process::id()))
}

/// Whether `name` is one of [`temp_sibling`]'s names (`.<name>.<tag>-<pid>.tmp`).
pub fn is_temp_name(name: &str) -> bool {
    let Some(inner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
        return false;
    };
    let Some((rest, pid)) = inner.rsplit_once('-') else {
        return false;
    };
    let tag = rest.rsplit_once('.').map(|(_, tag)| tag);
    !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && tag.is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_lowercase()))
}

/// Writes a file atomically: `write` fills a temp file that is synced and renamed over `path`.
/// On error the temp file is removed and `path` is untouched; a bare I/O error gets the path as
/// context, other errors (input faults found by `write`) are returned as they are.
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
    match result {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            // A bare I/O error is the write's own; anything else (bad input found while
            // writing) already says what was wrong and where.
            match e.downcast_ref::<std::io::Error>() {
                Some(_) => Err(e.context(format!("writing {}", path.display()))),
                None => Err(e),
            }
        }
    }
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

/// Checks that `target` is absent or a folder holding only entries named in `own` (what the step
/// that writes it puts there), so that replacing it deletes nothing lmeff did not write.
pub fn check_replaceable(target: &Path, own: &[&str]) -> Result<()> {
    if !target.exists() {
        return Ok(());
    }
    if !target.is_dir() {
        bail!(
            "{} is a file, not a folder lmeff writes: choose another destination",
            target.display()
        );
    }
    let mut foreign: Vec<String> = fs::read_dir(target)?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter(|name| !own.contains(&name.as_str()))
        .collect();
    foreign.sort();
    if let Some(first) = foreign.first() {
        bail!(
            "{} holds {} that lmeff did not write there ({}{}); refusing to replace the folder: \
             choose a new or empty one (lmeff writes {})",
            target.display(),
            if foreign.len() == 1 {
                "an entry"
            } else {
                "entries"
            },
            target.join(first).display(),
            if foreign.len() > 1 {
                format!(" and {} more", foreign.len() - 1)
            } else {
                String::new()
            },
            own.join(", ")
        );
    }
    Ok(())
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

    /// Replaces `target` with the staged folder, but only when `target` holds nothing besides
    /// entries named in `own` (see [`check_replaceable`]).
    pub fn commit_over(self, own: &[&str]) -> Result<PathBuf> {
        check_replaceable(&self.target, own)?;
        self.commit()
    }

    /// Puts the staged folder in place and keeps the one it replaces as `previous` (whose older
    /// content is removed first).
    pub fn commit_keeping(mut self, previous: &Path) -> Result<PathBuf> {
        if self.target.exists() {
            if previous.exists() {
                fs::remove_dir_all(previous)?;
            }
            fs::rename(&self.target, previous)
                .with_context(|| format!("moving {} aside", self.target.display()))?;
        }
        fs::rename(&self.tmp, &self.target)
            .with_context(|| format!("putting {} in place", self.target.display()))?;
        self.committed = true;
        Ok(self.target.clone())
    }

    /// Moves every entry of the staged folder into `dir`, each replacing its namesake there (moved
    /// aside first, removed once all are in place; if a move fails, those already made are undone).
    /// For outputs that share a folder with other files, such as a report beside its inputs.
    pub fn commit_into(mut self, dir: &Path) -> Result<()> {
        let mut names: Vec<_> = fs::read_dir(&self.tmp)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()?;
        names.sort();
        let mut moved: Vec<(PathBuf, Option<PathBuf>)> = Vec::new();
        let result = names.iter().try_for_each(|name| -> Result<()> {
            let (from, to) = (self.tmp.join(name), dir.join(name));
            let aside = to.exists().then(|| temp_sibling(&to, "old"));
            if let Some(aside) = &aside {
                fs::rename(&to, aside)
                    .with_context(|| format!("moving the old {} aside", to.display()))?;
            }
            moved.push((to.clone(), aside));
            fs::rename(&from, &to).with_context(|| format!("putting {} in place", to.display()))
        });
        if let Err(e) = result {
            for (to, aside) in moved.iter().rev() {
                if let Some(aside) = aside {
                    let _ = fs::remove_dir_all(to).or_else(|_| fs::remove_file(to));
                    let _ = fs::rename(aside, to);
                }
            }
            return Err(e);
        }
        self.committed = true;
        for aside in moved.into_iter().filter_map(|m| m.1) {
            match aside.is_dir() {
                true => fs::remove_dir_all(&aside)?,
                false => fs::remove_file(&aside)?,
            }
        }
        fs::remove_dir(&self.tmp)?;
        Ok(())
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
            anyhow::bail!("input.txt: line 3: boom")
        });
        assert_eq!(format!("{:#}", err.unwrap_err()), "input.txt: line 3: boom");
        assert_eq!(fs::read(&path).unwrap(), b"first");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file left behind"
        );
    }

    #[test]
    fn temp_names_are_recognised() {
        let t = temp_sibling(Path::new("run/resume"), "stage");
        assert!(is_temp_name(&t.file_name().unwrap().to_string_lossy()));
        assert!(is_temp_name(".metrics.jsonl.write-12.tmp"));
        for other in [
            "resume",
            ".resume.stage-.tmp",
            "a.stage-1.tmp",
            ".x.tmp",
            ".hidden",
        ] {
            assert!(!is_temp_name(other), "{other}");
        }
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
    fn a_folder_with_foreign_entries_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("keep");
        assert!(check_replaceable(&target, &["a"]).is_ok(), "absent");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("a"), "ours").unwrap();
        assert!(check_replaceable(&target, &["a", "b"]).is_ok());
        fs::write(target.join("thesis.tex"), "x").unwrap();
        let s = Staged::new(&target).unwrap();
        fs::write(s.path().join("a"), "new").unwrap();
        let err = format!("{:#}", s.commit_over(&["a", "b"]).unwrap_err());
        assert!(
            err.contains("thesis.tex") && err.contains("refusing"),
            "{err}"
        );
        assert_eq!(fs::read_to_string(target.join("a")).unwrap(), "ours");
        assert!(target.join("thesis.tex").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "staging left");
        let file = dir.path().join("f");
        fs::write(&file, "x").unwrap();
        assert!(check_replaceable(&file, &["a"]).is_err());
    }

    #[test]
    fn staged_entries_replace_their_namesakes_only() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        fs::create_dir(out.join("data")).unwrap();
        fs::write(out.join("data/old.csv"), "old").unwrap();
        fs::write(out.join("report.md"), "old").unwrap();
        fs::write(out.join("inputs.parquet"), "keep").unwrap();
        let s = Staged::new(&out.join("aggregate")).unwrap();
        fs::create_dir(s.path().join("data")).unwrap();
        fs::write(s.path().join("data/new.csv"), "new").unwrap();
        fs::write(s.path().join("report.md"), "new").unwrap();
        s.commit_into(out).unwrap();
        let mut names: Vec<_> = fs::read_dir(out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["data", "inputs.parquet", "report.md"]);
        assert!(out.join("data/new.csv").exists() && !out.join("data/old.csv").exists());
        assert_eq!(fs::read_to_string(out.join("report.md")).unwrap(), "new");
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
