//! `metrics.jsonl`: one JSON object per logged step, written here and read back here
//! ([`tokens_reached`]). On resume the file is cut back to the length recorded with the resume
//! state, so replayed steps are not written twice.

use fs_err::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub step: u64,
    pub tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    pub lr: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grad_norm: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_s: Option<f64>,
    /// Share of the training time spent in the gradient all-reduce (several ranks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allreduce_share: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_loss: Option<f64>,
}

/// Appends records to a run's `metrics.jsonl`.
pub struct Metrics {
    path: PathBuf,
    file: File,
    bytes: u64,
}

impl Metrics {
    /// Opens `path`, truncated to `keep` bytes (0 for a fresh run).
    pub fn open(path: &Path, keep: u64) -> Result<Metrics> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        file.set_len(keep)
            .with_context(|| format!("truncating {}", path.display()))?;
        Ok(Metrics {
            path: path.to_owned(),
            file,
            bytes: keep,
        })
    }

    /// Writes one record (flushed to the OS; a crash loses at most the line being written).
    pub fn write(&mut self, record: &Record) -> Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .with_context(|| format!("writing {}", self.path.display()))?;
        self.bytes += line.len() as u64;
        Ok(())
    }

    /// Bytes written so far (stored with the resume state).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// The tokens of the last record of `<run_dir>/metrics.jsonl` (`None` when there is none).
pub fn tokens_reached(run_dir: &Path) -> Option<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(run_dir.join("metrics.jsonl")).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(4096))).ok()?;
    let mut tail = String::new();
    f.read_to_string(&mut tail).ok()?;
    let last = tail
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))?;
    serde_json::from_str::<serde_json::Value>(last).ok()?["tokens"].as_u64()
}

/// A progress bar (steps, tokens, loss, tokens/s, ETA) when stderr is a terminal; otherwise
/// nothing, and the trainer's log lines carry the same figures.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    /// A bar over `total` steps starting at `step`, if `show` and stderr is a terminal.
    pub fn new(total: u64, step: u64, show: bool) -> Progress {
        use std::io::IsTerminal;
        let bar = (show && std::io::stderr().is_terminal()).then(|| {
            let style = indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta_precise}]",
            )
            .expect("valid template");
            indicatif::ProgressBar::new(total)
                .with_style(style)
                .with_position(step)
        });
        Progress { bar }
    }

    /// True when a bar is shown (plain log lines are then left out).
    pub fn is_bar(&self) -> bool {
        self.bar.is_some()
    }

    /// Moves the bar to `step`, with `message` when given.
    pub fn update(&self, step: u64, message: Option<String>) {
        if let Some(bar) = &self.bar {
            bar.set_position(step);
            if let Some(m) = message {
                bar.set_message(m);
            }
        }
    }

    /// Runs `f` (which logs) with the bar out of the way.
    pub fn suspend<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
