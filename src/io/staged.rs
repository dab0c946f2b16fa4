//! Folders built under a temporary name and put in place in one rename, replacing only a folder
//! that holds nothing but what lmeff writes there.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use fs_err as fs;

use super::temp::temp_sibling;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
