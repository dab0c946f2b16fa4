//! The resume state of a run folder: `resume/` holds what exact resumption needs — the weights,
//! the optimizer state and `state.json` (step, tokens, early-stopping state, metrics offset), with
//! checksums. Saving stages the new state beside the old, then moves the previous one to
//! `resume.prev/`, so a state cut short by a kill leaves the older one usable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::early_stop::EarlyStop;
use crate::config::layout::checkpoint::{read_json, verify, write_checksums, MODEL_FILE};
use crate::config::RunLayout;
use crate::io::{write_json_atomic, Staged};
use crate::model::weights;

/// `resume/state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResumeState {
    pub run_id: String,
    /// Hash of the resolved training config; a resume under another config is refused.
    pub config_sha256: String,
    /// Optimizer steps done.
    pub step: u64,
    pub tokens: u64,
    pub early_stop: EarlyStop,
    /// Bytes of `metrics.jsonl` written up to this state.
    pub metrics_bytes: u64,
    /// Training wall time so far (seconds).
    pub wall_time_s: f64,
    pub last_train_loss: Option<f64>,
    pub last_eval_loss: Option<f64>,
    /// Training loss summed over the steps since the last log line, and their count (the fp32
    /// device sum, exactly), so a resumed run logs the same means.
    pub pending_loss: f32,
    pub pending_steps: u64,
}

impl ResumeState {
    /// The state of a run that has not taken a step.
    pub fn fresh(run_id: &str, config_sha256: &str) -> ResumeState {
        ResumeState {
            run_id: run_id.to_owned(),
            config_sha256: config_sha256.to_owned(),
            step: 0,
            tokens: 0,
            early_stop: EarlyStop::default(),
            metrics_bytes: 0,
            wall_time_s: 0.0,
            last_train_loss: None,
            last_eval_loss: None,
            pending_loss: 0.0,
            pending_steps: 0,
        }
    }

    /// Counts one optimizer step of `tokens_per_step` tokens.
    pub fn advance(&mut self, tokens_per_step: u64) {
        self.step += 1;
        self.tokens = self.step * tokens_per_step;
    }
}

/// Paths of the resume state of a run folder.
pub struct ResumeDir {
    current: PathBuf,
    previous: PathBuf,
}

/// A loaded resume state.
pub struct Resumed {
    pub state: ResumeState,
    pub model: BTreeMap<String, Tensor>,
    pub optimizer: BTreeMap<String, Tensor>,
    /// Best weights so far (full runs).
    pub best: Option<BTreeMap<String, Tensor>>,
    pub from: PathBuf,
}

impl ResumeDir {
    /// The resume folders of the run folder `run_dir`.
    pub fn new(run_dir: &Path) -> ResumeDir {
        ResumeDir {
            current: RunLayout::at(run_dir).resume(),
            previous: RunLayout::at(run_dir).resume_prev(),
        }
    }

    /// A state kept in `dir` (its previous one in `<dir>.prev`), such as a WSD branch point's.
    pub fn at(dir: PathBuf) -> ResumeDir {
        let previous = PathBuf::from(format!("{}.prev", dir.display()));
        ResumeDir {
            current: dir,
            previous,
        }
    }

    /// Whether a state has been saved here.
    pub fn exists(&self) -> bool {
        self.current.exists() || self.previous.exists()
    }

    /// Saves a state (folder written, checked, then swapped in).
    pub fn save(
        &self,
        state: &ResumeState,
        model: &BTreeMap<String, Tensor>,
        optimizer: &BTreeMap<String, Tensor>,
        best: Option<&BTreeMap<String, Tensor>>,
    ) -> Result<()> {
        let stage = Staged::new(&self.current)?;
        weights::save(model, &stage.path().join(MODEL_FILE))?;
        weights::save(optimizer, &stage.path().join("optimizer.safetensors"))?;
        if let Some(best) = best {
            weights::save(best, &stage.path().join("best.safetensors"))?;
        }
        write_json_atomic(&stage.path().join("state.json"), state)?;
        write_checksums(stage.path())?;
        stage.commit_keeping(&self.previous)?;
        Ok(())
    }

    /// The newest valid state: `resume/`, else `resume.prev/` (a broken one is reported and
    /// skipped). `None` when there is none; an error when states exist but none is valid.
    pub fn load(&self) -> Result<Option<Resumed>> {
        let mut problems = Vec::new();
        for dir in [&self.current, &self.previous] {
            if !dir.exists() {
                continue;
            }
            match Self::load_dir(dir) {
                Ok(r) => {
                    if !problems.is_empty() {
                        tracing::warn!(
                            "{}; resuming from {} instead",
                            problems.join("; "),
                            dir.display()
                        );
                    }
                    return Ok(Some(r));
                }
                Err(e) => problems.push(format!(
                    "refusing the resume state {}: {e:#}",
                    dir.display()
                )),
            }
        }
        if problems.is_empty() {
            Ok(None)
        } else {
            bail!(
                "{}; no usable resume state (delete it to start over)",
                problems.join("; ")
            )
        }
    }

    fn load_dir(dir: &Path) -> Result<Resumed> {
        verify(dir)?;
        let state: ResumeState = read_json(&dir.join("state.json"))?;
        let best = dir.join("best.safetensors");
        Ok(Resumed {
            state,
            model: weights::load(&dir.join(MODEL_FILE))?,
            optimizer: weights::load(&dir.join("optimizer.safetensors"))?,
            best: if best.exists() {
                Some(weights::load(&best)?)
            } else {
                None
            },
            from: dir.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fs_err as fs;
    use tch::{Device, Kind};

    fn state(step: u64) -> ResumeState {
        let mut s = ResumeState::fresh("r", "c");
        for _ in 0..step {
            s.advance(10);
        }
        s
    }

    #[test]
    fn a_damaged_state_falls_back_to_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let rd = ResumeDir::new(dir.path());
        assert!(rd.load().unwrap().is_none());
        let w = BTreeMap::from([(
            "w".to_owned(),
            Tensor::ones([4], (Kind::Float, Device::Cpu)),
        )]);
        rd.save(&state(1), &w, &w, None).unwrap();
        rd.save(&state(2), &w, &w, None).unwrap();
        assert_eq!(rd.load().unwrap().unwrap().state.step, 2);
        // Truncate the newest weights: the previous state is used.
        let f = dir.path().join("resume").join(MODEL_FILE);
        let len = fs::metadata(&f).unwrap().len();
        fs::OpenOptions::new()
            .write(true)
            .open(&f)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        let r = rd.load().unwrap().unwrap();
        assert_eq!(r.state.step, 1);
        assert!(r.from.ends_with("resume.prev"));
        // Both damaged: a clear error.
        let f = dir.path().join("resume.prev").join("state.json");
        fs::write(&f, "{}").unwrap();
        let err = format!("{:#}", rd.load().err().unwrap());
        assert!(err.contains("checksum mismatch"), "{err}");
    }
}
