//! `config.json` of a checkpoint: a Hugging Face `LlamaConfig`, so `transformers` loads lmeff's
//! checkpoints with `LlamaForCausalLM.from_pretrained`, and lmeff reads HF Llama checkpoints back.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::ModelShape;

/// The fields of HF's `LlamaConfig` that define the network (unknown fields are ignored on read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    pub architectures: Vec<String>,
    pub model_type: String,
    pub vocab_size: u32,
    pub hidden_size: u32,
    pub intermediate_size: u32,
    pub num_hidden_layers: u32,
    pub num_attention_heads: u32,
    pub num_key_value_heads: u32,
    pub max_position_embeddings: u32,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default = "silu")]
    pub hidden_act: String,
    #[serde(default = "std_init")]
    pub initializer_range: f64,
    #[serde(default)]
    pub attention_bias: bool,
    #[serde(default)]
    pub mlp_bias: bool,
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    #[serde(default)]
    pub eos_token_id: Option<u32>,
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    #[serde(default = "float32")]
    pub torch_dtype: String,
    #[serde(default)]
    pub use_cache: bool,
}

fn silu() -> String {
    "silu".into()
}
fn std_init() -> f64 {
    0.02
}
fn float32() -> String {
    "float32".into()
}

impl LlamaConfig {
    /// The config of a preset's architecture with `vocab` tokens (`<pad>`, `<s>`, `</s>` = 0, 1, 2).
    pub fn from_shape(shape: &ModelShape, vocab: u32) -> LlamaConfig {
        LlamaConfig {
            architectures: vec!["LlamaForCausalLM".into()],
            model_type: "llama".into(),
            vocab_size: vocab,
            hidden_size: shape.hidden_size,
            intermediate_size: shape.intermediate_size,
            num_hidden_layers: shape.num_hidden_layers,
            num_attention_heads: shape.num_attention_heads,
            num_key_value_heads: shape.num_attention_heads,
            max_position_embeddings: shape.max_position_embeddings,
            rms_norm_eps: shape.rms_norm_eps,
            rope_theta: shape.rope_theta,
            tie_word_embeddings: shape.tie_word_embeddings,
            hidden_act: silu(),
            initializer_range: std_init(),
            attention_bias: false,
            mlp_bias: false,
            bos_token_id: Some(1),
            eos_token_id: Some(2),
            pad_token_id: Some(0),
            torch_dtype: float32(),
            use_cache: true,
        }
    }

    /// Per-head width.
    pub fn head_dim(&self) -> i64 {
        (self.hidden_size / self.num_attention_heads) as i64
    }

    /// Reads and checks a `config.json` (a Llama this implementation can run).
    pub fn load(path: &Path) -> Result<LlamaConfig> {
        let text = fs_err::read_to_string(path)?;
        let cfg: LlamaConfig = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a Llama config.json", path.display()))?;
        if cfg.model_type != "llama" {
            bail!(
                "{}: model_type {:?} is not \"llama\"",
                path.display(),
                cfg.model_type
            );
        }
        if cfg.hidden_act != "silu" || cfg.attention_bias || cfg.mlp_bias {
            bail!(
                "{}: only silu MLPs without biases are supported",
                path.display()
            );
        }
        if cfg.num_key_value_heads != cfg.num_attention_heads {
            bail!(
                "{}: grouped-query attention is not supported",
                path.display()
            );
        }
        if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
        {
            bail!(
                "{}: hidden_size is not a multiple of num_attention_heads",
                path.display()
            );
        }
        Ok(cfg)
    }
}
