//! `metrics.jsonl`: one JSON object per logged step, written here and read back here
//! ([`tokens_reached`]). On resume the file is cut back to the length recorded with the resume
//! state, so replayed steps are not written twice.

use fs_err::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Record {
    /// When it was logged (UTC, RFC 3339) and by which run; filled by [`Metrics::write`].
    #[serde(skip_serializing_if = "String::is_empty")]
    pub time: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub run_id: String,
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
    run_id: String,
}

impl Metrics {
    /// Opens `path`, truncated to `keep` bytes (0 for a fresh run), for run `run_id`.
    pub fn open(path: &Path, keep: u64, run_id: &str) -> Result<Metrics> {
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
            run_id: run_id.to_owned(),
        })
    }

    /// Writes one record (flushed to the OS; a crash loses at most the line being written).
    pub fn write(&mut self, record: &Record) -> Result<()> {
        let stamped = Record {
            time: jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string(),
            run_id: self.run_id.clone(),
            ..record.clone()
        };
        let mut line = serde_json::to_vec(&stamped)?;
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

/// The tokens of the last record of the `metrics.jsonl` at `path` (`None` when there is none).
pub fn tokens_reached(path: &Path) -> Option<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path).ok()?;
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
