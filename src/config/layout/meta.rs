//! `milestone_meta.json`: what a checkpoint is (its [`CheckpointKey`]) and where training stood
//! when it was saved, with the file's form beside its parser.

use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::checkpoint::{read_json, META_FILE};
use crate::config::data::{Encoding, TokenizerRecipe};
use crate::config::identity::{CheckpointKey, CheckpointLabel, RunId, RunKey};
use crate::config::train::{ScheduleKind, SeedMode, Seeds};
use crate::config::units::Anchor;

/// `milestone_meta.json` of `dir`, or `None` for a folder without one (a foreign HF checkpoint).
pub fn read_meta(dir: &Path) -> Result<Option<CheckpointMeta>> {
    let path = dir.join(META_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    read_json(&path).map(Some)
}

/// `milestone_meta.json`: what a checkpoint is (its run and label) and where training stood.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "MetaFile", try_from = "MetaFile")]
pub struct CheckpointMeta {
    pub run_id: RunId,
    pub key: CheckpointKey,
    /// The model's vocabulary: the trained tokenizer's size (≤ the run's `vocab_size` on small
    /// corpora; 0 in files of versions that did not record it).
    pub model_vocab_size: u32,
    pub tokens_seen: u64,
    pub step: u64,
    pub learning_rate: f64,
    pub train_loss: Option<f64>,
    pub eval_loss: Option<f64>,
    pub wall_time_s: f64,
    pub lmeff_version: String,
    /// What the run's seed varied (`train.seed_mode`).
    pub seed_mode: SeedMode,
    /// How the training text was encoded and the tokenizer trained (lmeff's when absent).
    pub encoding: Encoding,
    pub tokenizer_recipe: TokenizerRecipe,
}

impl CheckpointMeta {
    /// The run's data-order and initialisation seeds, when `train.seed_mode` kept them apart.
    pub fn seeds(&self) -> Option<Seeds> {
        (self.seed_mode != SeedMode::Both).then(|| self.seed_mode.seeds(self.key.run.seed))
    }
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// The file's form: the identity's fields inline, `name` the checkpoint's folder name, `anchor`
/// `full` or a budget (empty in files of versions before anchors: full), `schedule` only for WSD.
#[derive(Serialize, Deserialize)]
struct MetaFile {
    run_id: RunId,
    name: String,
    dataset: String,
    model: String,
    seed: u64,
    #[serde(default)]
    anchor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schedule: Option<ScheduleKind>,
    vocab_size: u32,
    #[serde(default)]
    model_vocab_size: u32,
    tokens_seen: u64,
    step: u64,
    learning_rate: f64,
    train_loss: Option<f64>,
    eval_loss: Option<f64>,
    wall_time_s: f64,
    lmeff_version: String,
    #[serde(default, skip_serializing_if = "is_default")]
    seed_mode: SeedMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data_seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    init_seed: Option<u64>,
    #[serde(default, skip_serializing_if = "is_default")]
    encoding: Encoding,
    #[serde(default, skip_serializing_if = "is_default")]
    tokenizer_recipe: TokenizerRecipe,
}

impl From<CheckpointMeta> for MetaFile {
    fn from(m: CheckpointMeta) -> MetaFile {
        let seeds = m.seeds();
        let run = m.key.run;
        MetaFile {
            run_id: m.run_id,
            name: m.key.label.to_string(),
            dataset: run.dataset,
            model: run.model,
            seed: run.seed,
            anchor: run.anchor.to_string(),
            schedule: run.schedule.written(),
            vocab_size: run.vocab_size,
            model_vocab_size: m.model_vocab_size,
            tokens_seen: m.tokens_seen,
            step: m.step,
            learning_rate: m.learning_rate,
            train_loss: m.train_loss,
            eval_loss: m.eval_loss,
            wall_time_s: m.wall_time_s,
            lmeff_version: m.lmeff_version,
            seed_mode: m.seed_mode,
            data_seed: seeds.map(|s| s.data),
            init_seed: seeds.map(|s| s.init),
            encoding: m.encoding,
            tokenizer_recipe: m.tokenizer_recipe,
        }
    }
}

impl TryFrom<MetaFile> for CheckpointMeta {
    type Error = String;

    fn try_from(f: MetaFile) -> Result<CheckpointMeta, String> {
        let label = CheckpointLabel::parse(&f.name).ok_or_else(|| {
            format!(
                "`name` {:?} cannot name a results folder: it is not a checkpoint (init, \
                 milestone-<M>M, final)",
                f.name
            )
        })?;
        let anchor = match f.anchor.as_str() {
            "" => Anchor::Full,
            a => a.parse()?,
        };
        let run = RunKey {
            dataset: f.dataset,
            model: f.model,
            vocab_size: f.vocab_size,
            seed: f.seed,
            anchor,
            schedule: f.schedule.unwrap_or_default(),
        };
        Ok(CheckpointMeta {
            seed_mode: f.seed_mode,
            encoding: f.encoding,
            tokenizer_recipe: f.tokenizer_recipe,
            run_id: f.run_id,
            key: CheckpointKey { run, label },
            model_vocab_size: f.model_vocab_size,
            tokens_seen: f.tokens_seen,
            step: f.step,
            learning_rate: f.learning_rate,
            train_loss: f.train_loss,
            eval_loss: f.eval_loss,
            wall_time_s: f.wall_time_s,
            lmeff_version: f.lmeff_version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_keeps_its_file_form_and_refuses_what_names_no_checkpoint() {
        let text = r#"{"run_id":"ts_tiny_v1000_seed0_full_wsd","name":"milestone-0.05M","dataset":"ts","model":"tiny","seed":0,"anchor":"full","schedule":"wsd","vocab_size":1000,"model_vocab_size":812,"tokens_seen":50000,"step":10,"learning_rate":0.001,"train_loss":4.5,"eval_loss":null,"wall_time_s":1.5,"lmeff_version":"0.1.0"}"#;
        let meta: CheckpointMeta = serde_json::from_str(text).unwrap();
        assert_eq!(meta.key.label.label(), "0.05");
        assert_eq!(meta.key.run.schedule, ScheduleKind::Wsd);
        assert_eq!(serde_json::to_string(&meta).unwrap(), text);
        let cosine = text
            .replace(r#","schedule":"wsd""#, "")
            .replace("full_wsd", "full");
        let meta: CheckpointMeta = serde_json::from_str(&cosine).unwrap();
        assert_eq!(
            serde_json::to_string(&meta).unwrap(),
            cosine,
            "cosine writes no schedule"
        );
        let old = cosine.replace(r#""anchor":"full","#, "");
        let meta: CheckpointMeta = serde_json::from_str(&old).unwrap();
        assert_eq!(
            meta.key.run.anchor,
            Anchor::Full,
            "files before anchors: full runs"
        );
        let study = text.replace(
            r#""lmeff_version":"0.1.0"}"#,
            r#""lmeff_version":"0.1.0","seed_mode":"study","data_seed":42,"init_seed":0,"encoding":"study","tokenizer_recipe":"study"}"#,
        );
        let meta: CheckpointMeta = serde_json::from_str(&study).unwrap();
        assert_eq!(meta.seeds(), Some(Seeds { data: 42, init: 0 }));
        assert_eq!(meta.seed_mode, SeedMode::Study);
        assert_eq!(meta.encoding, Encoding::Study);
        assert_eq!(serde_json::to_string(&meta).unwrap(), study);
        let hostile = text.replace("milestone-0.05M", "milestone-../../x");
        let err = serde_json::from_str::<CheckpointMeta>(&hostile)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot name a results folder"), "{err}");
    }
}
