//! Writing a checkpoint folder ([`crate::config::layout::checkpoint`] defines it): built in a
//! staging folder and renamed into place; an existing one is kept when its weights are the same
//! and refused when they differ, so nothing finished is ever replaced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use fs_err as fs;
use tch::Tensor;

use super::{weights, LlamaConfig};
use crate::config::layout::checkpoint::{
    write_checksums, write_tokenizer_config, CONFIG_FILE, META_FILE, MODEL_FILE, TOKENIZER_FILE,
};
use crate::config::layout::meta::CheckpointMeta;
use crate::io::{sha256_file, write_json_atomic, Staged};

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
    write_json_atomic(&staged.path().join(CONFIG_FILE), config)?;
    fs::copy(tokenizer, staged.path().join(TOKENIZER_FILE))
        .with_context(|| format!("copying {}", tokenizer.display()))?;
    write_tokenizer_config(staged.path(), config.max_position_embeddings)?;
    write_json_atomic(&staged.path().join(META_FILE), meta)?;
    let special = (
        config.bos_token_id,
        config.eos_token_id,
        config.pad_token_id,
    );
    crate::config::layout::card::write(staged.path(), meta, special)?;
    write_checksums(staged.path())?;
    staged.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::layout::checkpoint::verify;
    use tch::{Device, Kind};

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
        let run = crate::config::RunKey {
            dataset: "d".into(),
            model: "tiny".into(),
            vocab_size: 10,
            seed: 0,
            anchor: crate::config::Anchor::Full,
            schedule: crate::config::ScheduleKind::Cosine,
        };
        let meta = CheckpointMeta {
            run_id: run.run_id(),
            key: crate::config::CheckpointKey {
                run,
                label: crate::config::CheckpointLabel::Final,
            },
            model_vocab_size: 10,
            tokens_seen: 1,
            step: 1,
            learning_rate: 0.1,
            train_loss: None,
            eval_loss: None,
            wall_time_s: 0.0,
            lmeff_version: "x".into(),
            seed_mode: Default::default(),
            encoding: Default::default(),
            tokenizer_recipe: Default::default(),
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
        let card = fs::read_to_string(ck.join("README.md")).unwrap();
        assert!(
            card.starts_with("---\nlibrary_name: transformers\n"),
            "{card}"
        );
        assert!(
            card.contains("| run | `d_tiny_v10_seed0_full` |")
                && card.contains("| tokens seen | 1 |"),
            "{card}"
        );
        let gen: serde_json::Value =
            serde_json::from_slice(&fs::read(ck.join("generation_config.json")).unwrap()).unwrap();
        assert_eq!(gen["_from_model_config"], true);
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
