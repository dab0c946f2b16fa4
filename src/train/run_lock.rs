//! The lock a run holds on its folder for its whole life: `run.lock`, an advisory `flock` the
//! kernel releases when the process ends, however it ends (a kill, a node failure that ends the
//! process). The file names its holder (pid, host, Slurm job, start time) so that a second
//! `lmeff train` into the folder, or a requeued Slurm task that overlaps its predecessor, is
//! turned away with a message that says who holds it.

use std::fs::TryLockError;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use fs_err::{self as fs, File};

use crate::config::RunLayout;

/// A held run lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct RunLock {
    file: File,
}

impl RunLock {
    /// Takes the lock of the run folder `dir`, or fails naming the process that holds it.
    pub fn take(dir: &Path) -> Result<RunLock> {
        let path = RunLayout::at(dir).lock();
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        match file.file().try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                bail!(
                    "{} is in use by another lmeff train ({}); two runs must not write one folder: \
                     wait for it to end (a requeued Slurm task starts again once its predecessor has exited)",
                    dir.display(),
                    match holder.trim() {
                        "" => "its holder has not written its name yet".to_owned(),
                        h => h.to_owned(),
                    }
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
        file.set_len(0)?;
        file.rewind()
            .with_context(|| format!("rewinding {}", path.display()))?;
        file.write_all(holder().as_bytes())?;
        file.flush()?;
        Ok(RunLock { file })
    }

    /// The lock file.
    pub fn path(&self) -> PathBuf {
        self.file.path().to_owned()
    }
}

/// Who takes the lock: pid, host, Slurm job (array job and task when in an array), time.
fn holder() -> String {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let host = fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .or_else(|| var("HOSTNAME"))
        .unwrap_or_else(|| "an unknown host".into());
    let slurm = match (
        var("SLURM_ARRAY_JOB_ID"),
        var("SLURM_ARRAY_TASK_ID"),
        var("SLURM_JOB_ID"),
    ) {
        (Some(array), Some(task), _) => format!(", Slurm job {array}_{task}"),
        (_, _, Some(job)) => format!(", Slurm job {job}"),
        _ => String::new(),
    };
    format!(
        "pid {} on {host}{slurm}, since {}\n",
        std::process::id(),
        jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_turned_away_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::take(dir.path()).unwrap();
        let text = fs::read_to_string(first.path()).unwrap();
        assert!(
            text.starts_with(&format!("pid {} on ", std::process::id())),
            "{text}"
        );
        let err = format!("{:#}", RunLock::take(dir.path()).unwrap_err());
        assert!(
            err.contains("in use by another lmeff train") && err.contains(text.trim()),
            "{err}"
        );
        drop(first);
        RunLock::take(dir.path()).unwrap();
    }
}
