//! The run folder: the configuration fingerprint a run is known by, claiming the folder for it
//! (`run.json`; a folder holding a different run is refused), finding a finished run, and
//! clearing the resume state once `final/` is written.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use fs_err as fs;
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::run_lock::RunLock;
use crate::config::layout::checkpoint;
use crate::config::{
    BatchOrder, DataSettings, ModelShape, Precision, SeedMode, Seeds, TrainingDefaults,
};
use crate::config::{CheckpointLabel, RunLayout};
use crate::io::{is_temp_name, sha256_hex, write_json_atomic};

/// The settings that define a run's computation: a resume state or a claimed folder must match
/// them (their sha256).
#[derive(Serialize)]
pub struct ConfigFingerprint<'a> {
    run_id: &'a str,
    model: &'a ModelShape,
    vocab: u32,
    seq_len: u32,
    seed: u64,
    batch_size: u32,
    grad_accum: u32,
    total_steps: u64,
    learning_rate: f64,
    weight_decay: f64,
    warmup_steps: u64,
    training: &'a TrainingDefaults,
    precision: Precision,
    tokenizer_sha256: &'a str,
    /// The study's recipe or encoding (absent for lmeff's, so older runs keep their fingerprint).
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<DataSettings>,
    /// What the seed varies, and the two seeds, unless `train.seed_mode` is `both`.
    #[serde(skip_serializing_if = "Option::is_none")]
    seeds: Option<(SeedMode, Seeds)>,
    /// The study's epochs of windows (absent: lmeff's random windows).
    #[serde(skip_serializing_if = "Option::is_none")]
    batches: Option<BatchOrder>,
}

impl<'a> ConfigFingerprint<'a> {
    /// The fingerprint of `cfg` trained for `total_steps` with a tokenizer of `vocab` tokens.
    pub fn of(
        cfg: &'a TrainConfig,
        vocab: u32,
        total_steps: u64,
        precision: Precision,
        tokenizer_sha256: &'a str,
    ) -> ConfigFingerprint<'a> {
        let run = &cfg.run;
        ConfigFingerprint {
            run_id: run.run_id.as_str(),
            model: &cfg.preset.model,
            vocab,
            seq_len: run.seq_len,
            seed: run.key.seed,
            batch_size: run.batch_size,
            grad_accum: run.grad_accum,
            total_steps,
            learning_rate: run.learning_rate,
            weight_decay: run.weight_decay,
            warmup_steps: run.warmup_steps,
            training: &cfg.preset.training,
            precision,
            tokenizer_sha256,
            data: (!cfg.data.is_default()).then_some(cfg.data),
            seeds: (cfg.settings.seed_mode != SeedMode::Both)
                .then(|| (cfg.settings.seed_mode, cfg.seeds())),
            batches: (cfg.settings.batches != BatchOrder::Random).then_some(cfg.settings.batches),
        }
    }

    /// The sha256 of its JSON.
    pub fn sha256(&self) -> Result<String> {
        Ok(sha256_hex(&serde_json::to_vec(self)?))
    }
}

/// `run.json`.
#[derive(Serialize, Deserialize)]
struct RunRecord {
    run_id: String,
    config_sha256: String,
    total_steps: u64,
    #[serde(default)]
    config: serde_json::Value,
}

/// A run's checkpoint folder (locked by the main rank for the run's life: [`RunDir::take`]).
pub struct RunDir {
    path: PathBuf,
    lock: Option<RunLock>,
}

impl RunDir {
    /// The folder `path`, created when absent.
    pub fn create(path: &Path) -> Result<RunDir> {
        fs::create_dir_all(path)?;
        Ok(RunDir {
            path: path.to_owned(),
            lock: None,
        })
    }

    /// Takes the folder for this process (the rank that writes): its lock, then the removal of
    /// what earlier holders left staged (killed mid-save: under the lock they are all gone), then
    /// [`RunDir::claim`].
    pub fn take(&mut self, cfg: &TrainConfig, config_sha256: &str, total: u64) -> Result<()> {
        self.lock = Some(RunLock::take(&self.path)?);
        for stale in stale_staging(&self.path)? {
            tracing::warn!("removing {}, left by an interrupted save", stale.display());
            if stale.is_dir() {
                fs::remove_dir_all(&stale)?;
            } else {
                fs::remove_file(&stale)?;
            }
        }
        self.claim(cfg, config_sha256, total)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder of checkpoint `name`.
    pub fn checkpoint(&self, name: CheckpointLabel) -> PathBuf {
        self.layout().checkpoint(name)
    }

    /// The current resume state's folder.
    pub fn resume(&self) -> PathBuf {
        self.layout().resume()
    }

    fn layout(&self) -> RunLayout {
        RunLayout::at(self.path.clone())
    }

    /// Records the run in `run.json`; a folder holding a different run is refused.
    fn claim(&self, cfg: &TrainConfig, config_sha256: &str, total: u64) -> Result<()> {
        let path = self.layout().run_record();
        if path.is_file() {
            let old: RunRecord = checkpoint::read_json(&path)?;
            if old.config_sha256 != config_sha256 {
                bail!(
                    "{} holds run {} trained with a different configuration (or different data); refusing to mix them: move it away or use another output_dir",
                    self.path.display(), old.run_id
                );
            }
            return Ok(());
        }
        write_json_atomic(
            &path,
            &RunRecord {
                run_id: cfg.run.run_id.to_string(),
                config_sha256: config_sha256.to_owned(),
                total_steps: total,
                config: serde_json::to_value(cfg)?,
            },
        )
    }

    /// `final/` when the run is already trained (its checksums verified).
    pub fn finished(&self) -> Result<Option<PathBuf>> {
        let dir = self.checkpoint(CheckpointLabel::Final);
        if !checkpoint::is_checkpoint(&dir) {
            return Ok(None);
        }
        checkpoint::verify(&dir)?;
        Ok(Some(dir))
    }

    /// Removes `resume/` and `resume.prev/` (once `final/` holds the run's end).
    pub fn clear_resume(&self) -> Result<()> {
        let layout = self.layout();
        for p in [layout.resume(), layout.resume_prev()] {
            if p.exists() {
                fs::remove_dir_all(&p)?;
            }
        }
        Ok(())
    }
}

/// lmeff's temporaries (staged folders, atomic-write files) directly in `dir`.
fn stale_staging(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if is_temp_name(&entry.file_name().to_string_lossy()) {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}
