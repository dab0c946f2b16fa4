//! Checkpoint folders and the resume state.
//!
//! A checkpoint (`milestone-<M>M/`, `final/`) is a Hugging Face model folder: `model.safetensors`,
//! `config.json`, `tokenizer.json`, plus `milestone_meta.json` and `checksums.json` (sha256 of each
//! file). It is built in a staging folder and renamed into place; an existing one is kept when its
//! weights are the same and refused when they differ, so nothing finished is ever replaced.
//!
//! `resume/` holds what exact resumption needs: the weights, the optimizer state and
//! `state.json` (step, tokens, early-stopping state, metrics offset), with checksums. Saving moves
//! the previous state to `resume.prev/`, so a state cut short by a kill leaves the older one usable.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tch::Tensor;

use crate::io::{sha256_file, temp_sibling, write_json_atomic, Staged};
use crate::model::{weights, LlamaConfig};

/// `milestone_meta.json`: what a checkpoint is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub run_id: String,
    /// `milestone-25M`, `final`, ….
    pub name: String,
    pub dataset: String,
    pub model: String,
    pub seed: u64,
    /// The run's anchor: `full` or a budget such as `25M`.
    #[serde(default)]
    pub anchor: String,
    /// The tokenizer vocabulary size of the run (configs.csv; names the results folder).
    pub vocab_size: u32,
    /// The model's vocabulary: the trained tokenizer's size (≤ `vocab_size` on small corpora).
    #[serde(default)]
    pub model_vocab_size: u32,
    pub tokens_seen: u64,
    pub step: u64,
    pub learning_rate: f64,
    pub train_loss: Option<f64>,
    pub eval_loss: Option<f64>,
    pub wall_time_s: f64,
    pub lmeff_version: String,
}

/// The files of a checkpoint folder.
pub const MODEL_FILE: &str = "model.safetensors";
const CHECKSUMS: &str = "checksums.json";

/// Writes `sha256` of every file in `dir` (but itself) to `checksums.json`.
fn write_checksums(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut sums = BTreeMap::new();
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name != CHECKSUMS && path.is_file() {
            sums.insert(name, sha256_file(&path)?);
        }
    }
    write_json_atomic(&dir.join(CHECKSUMS), &sums)?;
    Ok(sums)
}

/// Checks every file listed in `dir/checksums.json`.
pub fn verify(dir: &Path) -> Result<()> {
    let sums: BTreeMap<String, String> = read_json(&dir.join(CHECKSUMS))?;
    for (name, want) in &sums {
        let path = dir.join(name);
        let got = sha256_file(&path).with_context(|| format!("{} is missing", path.display()))?;
        if &got != want {
            bail!(
                "{}: checksum mismatch (the file is truncated or altered)",
                path.display()
            );
        }
    }
    Ok(())
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Writes a checkpoint folder `dir` atomically. If `dir` exists with the same weights it is kept
/// as is; with different weights it is an error.
pub fn save_checkpoint(
    dir: &Path,
    tensors: &BTreeMap<String, Tensor>,
    config: &LlamaConfig,
    tokenizer: &Path,
    meta: &CheckpointMeta,
) -> Result<PathBuf> {
    let bytes = weights::to_safetensors(tensors)?;
    if dir.join(MODEL_FILE).is_file() {
        let existing = sha256_file(&dir.join(MODEL_FILE))?;
        if existing == crate::io::sha256_hex(&bytes) {
            return Ok(dir.to_owned());
        }
        bail!(
            "{} already holds a different checkpoint; refusing to overwrite it (move it away to re-train)",
            dir.display()
        );
    }
    let staged = Staged::new(dir)?;
    crate::io::write_bytes_atomic(&staged.path().join(MODEL_FILE), &bytes)?;
    write_json_atomic(&staged.path().join("config.json"), config)?;
    fs::copy(tokenizer, staged.path().join("tokenizer.json"))
        .with_context(|| format!("copying {}", tokenizer.display()))?;
    write_tokenizer_config(staged.path(), config)?;
    write_json_atomic(&staged.path().join("milestone_meta.json"), meta)?;
    write_checksums(staged.path())?;
    staged.commit()
}

/// `tokenizer_config.json` and `special_tokens_map.json`, so `AutoTokenizer`/
/// `PreTrainedTokenizerFast.from_pretrained` encode exactly as lmeff trained: transformers turns
/// the ByteLevel prefix space off unless `add_prefix_space` says otherwise.
fn write_tokenizer_config(dir: &Path, config: &LlamaConfig) -> Result<()> {
    let specials =
        serde_json::json!({"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"});
    let mut cfg = specials.clone();
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast".into();
    cfg["add_prefix_space"] = true.into();
    cfg["model_max_length"] = config.max_position_embeddings.into();
    cfg["clean_up_tokenization_spaces"] = false.into();
    write_json_atomic(&dir.join("tokenizer_config.json"), &cfg)?;
    write_json_atomic(&dir.join("special_tokens_map.json"), &specials)
}

/// Early-stopping bookkeeping (full runs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EarlyStop {
    /// Best eval loss so far and its step.
    pub best_eval: Option<f64>,
    pub best_step: u64,
    /// Evaluations since the last improvement (counted once early stopping is active).
    pub bad_evals: u32,
}

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
            current: run_dir.join("resume"),
            previous: run_dir.join("resume.prev"),
        }
    }

    /// Saves a state (folder written, checked, then swapped in).
    pub fn save(
        &self,
        state: &ResumeState,
        model: &BTreeMap<String, Tensor>,
        optimizer: &BTreeMap<String, Tensor>,
        best: Option<&BTreeMap<String, Tensor>>,
    ) -> Result<()> {
        let stage = temp_sibling(&self.current, "stage");
        if stage.exists() {
            fs::remove_dir_all(&stage)?;
        }
        fs::create_dir_all(&stage).with_context(|| format!("creating {}", stage.display()))?;
        weights::save(model, &stage.join(MODEL_FILE))?;
        weights::save(optimizer, &stage.join("optimizer.safetensors"))?;
        if let Some(best) = best {
            weights::save(best, &stage.join("best.safetensors"))?;
        }
        write_json_atomic(&stage.join("state.json"), state)?;
        write_checksums(&stage)?;
        if self.current.exists() {
            if self.previous.exists() {
                fs::remove_dir_all(&self.previous)?;
            }
            fs::rename(&self.current, &self.previous)
                .with_context(|| format!("moving {} aside", self.current.display()))?;
        }
        fs::rename(&stage, &self.current)
            .with_context(|| format!("putting {} in place", self.current.display()))?;
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
    use tch::{Device, Kind};

    fn state(step: u64) -> ResumeState {
        ResumeState {
            run_id: "r".into(),
            config_sha256: "c".into(),
            step,
            tokens: step * 10,
            early_stop: EarlyStop::default(),
            metrics_bytes: 0,
            wall_time_s: 0.0,
            last_train_loss: None,
            last_eval_loss: None,
            pending_loss: 0.0,
            pending_steps: 0,
        }
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

    #[test]
    fn a_different_checkpoint_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let tok = dir.path().join("tokenizer.json");
        fs::write(&tok, "{}").unwrap();
        let cfg = LlamaConfig::from_shape(
            &crate::config::ModelShape {
                hidden_size: 4,
                intermediate_size: 8,
                num_attention_heads: 2,
                num_hidden_layers: 1,
                max_position_embeddings: 8,
                rms_norm_eps: 1e-6,
                rope_theta: 1e4,
                tie_word_embeddings: false,
            },
            10,
        );
        let meta = CheckpointMeta {
            run_id: "r".into(),
            name: "final".into(),
            dataset: "d".into(),
            model: "tiny".into(),
            seed: 0,
            anchor: "full".into(),
            vocab_size: 10,
            model_vocab_size: 10,
            tokens_seen: 1,
            step: 1,
            learning_rate: 0.1,
            train_loss: None,
            eval_loss: None,
            wall_time_s: 0.0,
            lmeff_version: "x".into(),
        };
        let a = BTreeMap::from([(
            "w".to_owned(),
            Tensor::ones([2], (Kind::Float, Device::Cpu)),
        )]);
        let b = BTreeMap::from([(
            "w".to_owned(),
            Tensor::zeros([2], (Kind::Float, Device::Cpu)),
        )]);
        let ck = dir.path().join("final");
        save_checkpoint(&ck, &a, &cfg, &tok, &meta).unwrap();
        verify(&ck).unwrap();
        save_checkpoint(&ck, &a, &cfg, &tok, &meta).unwrap();
        let err = save_checkpoint(&ck, &b, &cfg, &tok, &meta)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("already holds a different checkpoint"),
            "{err}"
        );
        assert_eq!(
            weights::load(&ck.join(MODEL_FILE)).unwrap()["w"].double_value(&[0]),
            1.0
        );
    }
}
