//! Model presets: one YAML file per size in `configs/models/` (`20m.yaml` → preset `20m`), holding
//! the architecture and the study's training defaults. A new size is a new file, not new code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// Architecture of a LLaMA-style decoder (Hugging Face `LlamaConfig` names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelShape {
    pub hidden_size: u32,
    pub intermediate_size: u32,
    pub num_attention_heads: u32,
    pub num_hidden_layers: u32,
    pub max_position_embeddings: u32,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub tie_word_embeddings: bool,
}

/// Learning-rate schedule families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    /// Linear warm-up, then cosine decay to zero at the run's last step.
    Cosine,
}

/// The study's training defaults for a size; configs.csv may override batch size and accumulation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingDefaults {
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Global sequences per micro-step (split over ranks).
    pub batch_size: u32,
    pub grad_accum: u32,
    pub lr_scheduler: LrSchedule,
    pub warmup_steps: u64,
    pub adam_beta1: f64,
    pub adam_beta2: f64,
    pub adam_epsilon: f64,
    pub max_grad_norm: f64,
    /// Evaluate the dev loss every this many optimizer steps.
    pub eval_every: u64,
}

/// A named model size: architecture plus training defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelPreset {
    /// The file stem, e.g. `20m`; used in configs.csv and in `llama-<name>` folders.
    #[serde(skip_deserializing)]
    pub name: String,
    pub model: ModelShape,
    pub training: TrainingDefaults,
}

impl ModelPreset {
    /// Reads and validates one preset file.
    pub fn load(path: &Path) -> Result<ModelPreset> {
        let text = fs_err::read_to_string(path)?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .with_context(|| format!("{}: preset file name is not UTF-8", path.display()))?;
        ModelPreset::parse(&text, name, &path.display().to_string())
    }

    /// A preset called `name` from its YAML `text` (`source` names it in errors).
    fn parse(text: &str, name: &str, source: &str) -> Result<ModelPreset> {
        let mut preset: ModelPreset = serde_yaml_ng::from_str(text)
            .with_context(|| format!("parsing model preset {source}"))?;
        preset.name = name.to_owned();
        preset
            .validate()
            .with_context(|| format!("invalid model preset {source}"))?;
        Ok(preset)
    }

    fn validate(&self) -> Result<()> {
        let m = &self.model;
        let t = &self.training;
        for (name, v) in [
            ("hidden_size", m.hidden_size),
            ("intermediate_size", m.intermediate_size),
            ("num_attention_heads", m.num_attention_heads),
            ("num_hidden_layers", m.num_hidden_layers),
            ("max_position_embeddings", m.max_position_embeddings),
            ("batch_size", t.batch_size),
            ("grad_accum", t.grad_accum),
        ] {
            if v == 0 {
                bail!("`{name}` must be positive");
            }
        }
        if !m.hidden_size.is_multiple_of(m.num_attention_heads) {
            bail!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                m.hidden_size,
                m.num_attention_heads
            );
        }
        if !(m.hidden_size / m.num_attention_heads).is_multiple_of(2) {
            bail!("the head dimension must be even for rotary embeddings");
        }
        let positive = |x: f64| x > 0.0;
        if !positive(t.learning_rate)
            || !positive(t.max_grad_norm)
            || t.weight_decay.is_nan()
            || t.weight_decay < 0.0
        {
            bail!("learning_rate and max_grad_norm must be positive, weight_decay non-negative");
        }
        if t.eval_every == 0 {
            bail!("`eval_every` must be positive");
        }
        Ok(())
    }

    /// Trainable parameters for a vocabulary of `vocab` tokens.
    pub fn num_parameters(&self, vocab: u32) -> u64 {
        let m = &self.model;
        let (h, i, v) = (
            m.hidden_size as u64,
            m.intermediate_size as u64,
            vocab as u64,
        );
        let per_layer = 4 * h * h + 3 * h * i + 2 * h;
        let head = if m.tie_word_embeddings { 0 } else { v * h };
        v * h + m.num_hidden_layers as u64 * per_layer + h + head
    }
}

/// Every preset of a models folder, by name.
#[derive(Debug, Clone)]
pub struct Presets {
    dir: PathBuf,
    by_name: BTreeMap<String, ModelPreset>,
}

/// The setting `models_dir`'s default, relative to the folder lmeff runs in.
pub const DEFAULT_MODELS_DIR: &str = "configs/models";

/// The presets built into lmeff, as (name, YAML): its own `configs/models/`.
pub const BUILTIN: [(&str, &str); 4] = [
    ("20m", include_str!("../../configs/models/20m.yaml")),
    ("60m", include_str!("../../configs/models/60m.yaml")),
    ("180m", include_str!("../../configs/models/180m.yaml")),
    ("tiny", include_str!("../../configs/models/tiny.yaml")),
];

impl Presets {
    /// The presets of `dir`; lmeff's built-in ones when `dir` is the default `configs/models`
    /// and the folder lmeff runs in has none (a folder named by a setting must exist).
    pub fn load(dir: &Path) -> Result<Presets> {
        if dir == Path::new(DEFAULT_MODELS_DIR) && !dir.exists() {
            return Ok(Presets::builtin());
        }
        Presets::load_dir(dir)
    }

    /// The presets built into lmeff.
    pub fn builtin() -> Presets {
        let by_name = BUILTIN
            .iter()
            .map(|(name, text)| {
                let p =
                    ModelPreset::parse(text, name, "<built-in>").expect("built-in presets parse");
                (p.name.clone(), p)
            })
            .collect();
        Presets {
            dir: PathBuf::from("<built-in presets>"),
            by_name,
        }
    }

    /// Loads every `*.yaml`/`*.yml` in `dir`; any invalid file is an error.
    pub fn load_dir(dir: &Path) -> Result<Presets> {
        let entries = fs_err::read_dir(dir)
            .with_context(|| format!("reading the model presets folder {}", dir.display()))?;
        let mut by_name = BTreeMap::new();
        for entry in entries {
            let path = entry
                .with_context(|| format!("listing {}", dir.display()))?
                .path();
            if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                let preset = ModelPreset::load(&path)?;
                by_name.insert(preset.name.clone(), preset);
            }
        }
        if by_name.is_empty() {
            bail!("no model presets (*.yaml) in {}", dir.display());
        }
        Ok(Presets {
            dir: dir.to_owned(),
            by_name,
        })
    }

    /// The preset called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&ModelPreset> {
        self.by_name.get(name)
    }

    /// Preset names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// The folder the presets came from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_presets_are_the_source_folder_s_and_stand_in_for_a_missing_default_folder() {
        let dir =
            Presets::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_MODELS_DIR))
                .unwrap();
        let builtin = Presets::builtin();
        assert_eq!(
            dir.names().collect::<Vec<_>>(),
            builtin.names().collect::<Vec<_>>()
        );
        for name in dir.names() {
            assert_eq!(dir.get(name), builtin.get(name), "{name}");
        }
        let err = format!(
            "{:#}",
            Presets::load(Path::new("no/such/models")).unwrap_err()
        );
        assert!(err.contains("no/such/models"), "{err}");
    }

    fn shipped() -> Presets {
        Presets::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/models")).unwrap()
    }

    #[test]
    fn shipped_presets_match_the_study() {
        let p = shipped();
        let m20 = p.get("20m").unwrap();
        assert_eq!(
            (
                m20.model.hidden_size,
                m20.model.intermediate_size,
                m20.model.num_attention_heads,
                m20.model.num_hidden_layers
            ),
            (384, 768, 6, 6)
        );
        assert_eq!(
            (m20.training.learning_rate, m20.training.batch_size),
            (5e-4, 64)
        );
        let m60 = p.get("60m").unwrap();
        assert_eq!(
            (m60.model.hidden_size, m60.model.num_hidden_layers),
            (512, 16)
        );
        assert_eq!((m60.training.batch_size, m60.training.grad_accum), (128, 2));
        let m180 = p.get("180m").unwrap();
        assert_eq!(
            (m180.model.hidden_size, m180.model.intermediate_size),
            (768, 1792)
        );
        assert_eq!(m180.training.weight_decay, 0.01);
        assert_eq!(m180.model.max_position_embeddings, 256);
        assert_eq!(m180.training.warmup_steps, 300);
    }

    #[test]
    fn parameter_counts_match_hf() {
        // sum(p.numel()) of transformers' LlamaForCausalLM(vocab 16000, untied) at each preset.
        let p = shipped();
        assert_eq!(p.get("20m").unwrap().num_parameters(16000), 21_140_352);
        assert_eq!(p.get("60m").unwrap().num_parameters(16000), 58_343_936);
        assert_eq!(p.get("180m").unwrap().num_parameters(16000), 180_327_168);
    }

    #[test]
    fn a_new_yaml_is_a_new_size_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = fs_err::read_to_string(shipped().dir().join("20m.yaml")).unwrap();
        fs_err::write(dir.path().join("40m.yaml"), &text).unwrap();
        let p = Presets::load_dir(dir.path()).unwrap();
        assert_eq!(p.names().collect::<Vec<_>>(), ["40m"]);

        fs_err::write(
            dir.path().join("bad.yaml"),
            text.replace("num_attention_heads: 6", "num_attention_heads: 5"),
        )
        .unwrap();
        let err = format!("{:#}", Presets::load_dir(dir.path()).unwrap_err());
        assert!(
            err.contains("bad.yaml") && err.contains("divisible"),
            "{err}"
        );
    }
}
