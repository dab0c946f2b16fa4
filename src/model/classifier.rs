//! `LlamaForSequenceClassification`: the decoder's final hidden state at each sequence's last real
//! token through `score` (a linear layer without bias, `[num_labels, hidden]`). Rows are padded on
//! the right; the causal mask keeps a token from seeing what comes after it, so the amount of
//! padding changes nothing. The decoder is [`Llama`] itself, the forward pass pre-training uses;
//! weights keep HF's names (`model.…`, `score.weight`), so a saved classifier loads in
//! transformers with no missing key.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};
use tch::nn::{self, Init};
use tch::{Device, Kind, Tensor};

use super::{weights, Llama, LlamaConfig};

/// The head's weight name.
pub const SCORE: &str = "score.weight";

/// A decoder with a classification head.
pub struct Classifier {
    pub llama: Llama,
    pub score: Tensor,
    pub num_labels: i64,
}

impl Classifier {
    /// The variables of a decoder with a fresh head in `vs`: `score` drawn normal(0,
    /// initializer_range) as transformers initialises a missing head (seed tch first).
    pub fn new(vs: &nn::VarStore, config: &LlamaConfig, num_labels: i64) -> Result<Classifier> {
        if num_labels < 2 {
            bail!("a classifier needs at least 2 labels, not {num_labels}");
        }
        let llama = Llama::new(vs, config)?;
        let score = (vs.root() / "score").var(
            "weight",
            &[num_labels, config.hidden_size as i64],
            Init::Randn {
                mean: 0.0,
                stdev: config.initializer_range,
            },
        );
        Ok(Classifier {
            llama,
            score,
            num_labels,
        })
    }

    /// A pretrained checkpoint folder with a fresh head of `num_labels` (drawn on the CPU after
    /// `tch::manual_seed(seed)`, [`weights::seeded`]); a folder that already has a `score.weight` of that shape keeps it.
    pub fn from_pretrained(
        dir: &Path,
        num_labels: i64,
        seed: i64,
        device: Device,
    ) -> Result<(Classifier, nn::VarStore)> {
        let config = LlamaConfig::load(&dir.join(crate::config::layout::checkpoint::CONFIG_FILE))?;
        let (vs, model) =
            weights::seeded(seed, device, |vs| Classifier::new(vs, &config, num_labels))?;
        let file = dir.join(crate::config::layout::checkpoint::MODEL_FILE);
        let mut stored = weights::load(&file)?;
        let head = stored.get(SCORE).map(|s| s.size());
        if head
            .as_ref()
            .is_some_and(|s| s != &[num_labels, config.hidden_size as i64])
        {
            bail!(
                "{}: its {SCORE} has shape {:?}, not [{num_labels}, {}]",
                file.display(),
                head.clone().unwrap_or_default(),
                config.hidden_size
            );
        }
        if head.is_none() {
            stored.insert(SCORE.into(), model.score.detach().to_device(Device::Cpu));
        }
        if !config.tie_word_embeddings && !stored.contains_key("lm_head.weight") {
            let lm = vs.variables()["lm_head.weight"]
                .detach()
                .to_device(Device::Cpu);
            stored.insert("lm_head.weight".into(), lm);
        }
        weights::copy_into(&vs, &stored, &file)?;
        Ok((model, vs))
    }

    /// Logits `[batch, num_labels]` (fp32) of right-padded `ids` `[batch, time]` whose last real
    /// tokens sit at `last` `[batch]`.
    pub fn forward(&self, ids: &Tensor, last: &Tensor) -> Tensor {
        let hidden = self.llama.hidden_at(ids, last);
        hidden
            .linear(&self.score.to_kind(hidden.kind()), None::<Tensor>)
            .to_kind(Kind::Float)
    }

    /// Saves the classifier of `vs` (pretrained from `from`) as a transformers
    /// `LlamaForSequenceClassification` folder `dir`: its weights but the unused LM head, the
    /// checkpoint's `config.json` with the architecture and `labels`, its tokenizer files.
    pub fn save(&self, vs: &nn::VarStore, from: &Path, dir: &Path, labels: &[&str]) -> Result<()> {
        use crate::config::layout::checkpoint::{
            read_json, CONFIG_FILE, MODEL_FILE, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE,
        };
        fs_err::create_dir_all(dir)?;
        weights::save(&Classifier::trainable(vs), &dir.join(MODEL_FILE))?;
        let mut config: serde_json::Value = read_json(&from.join(CONFIG_FILE))?;
        config["architectures"] = serde_json::json!(["LlamaForSequenceClassification"]);
        config["id2label"] = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (i.to_string(), serde_json::json!(l)))
            .collect();
        config["label2id"] = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.to_string(), serde_json::json!(i)))
            .collect();
        crate::io::write_json_atomic(&dir.join(CONFIG_FILE), &config)?;
        for f in [
            TOKENIZER_FILE,
            TOKENIZER_CONFIG_FILE,
            "special_tokens_map.json",
        ] {
            if from.join(f).is_file() {
                fs_err::copy(from.join(f), dir.join(f))?;
            }
        }
        Ok(())
    }

    /// The trainable weights by name: the decoder's and the head, not the unused LM head.
    pub fn trainable(vs: &nn::VarStore) -> BTreeMap<String, Tensor> {
        vs.variables()
            .into_iter()
            .filter(|(name, _)| name != "lm_head.weight")
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_real_token_decides_and_padding_changes_nothing() {
        let c = crate::model::llama::tiny_config(0.2);
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = Classifier::new(&vs, &c, 3).unwrap();
        let short = Tensor::from_slice(&[5i64, 9, 3]).view([1, 3]);
        let padded = Tensor::from_slice(&[5i64, 9, 3, 0, 0, 0]).view([1, 6]);
        let a = m.forward(&short, &Tensor::from_slice(&[2i64]));
        let b = m.forward(&padded, &Tensor::from_slice(&[2i64]));
        assert_eq!(a.size(), [1, 3]);
        let diff = (&a - &b).abs().max().double_value(&[]);
        assert!(diff < 1e-6, "{diff}");
        let other = m.forward(&padded, &Tensor::from_slice(&[1i64]));
        assert!((&a - other).abs().max().double_value(&[]) > 1e-4);
        assert!(!Classifier::trainable(&vs).contains_key("lm_head.weight"));
        assert!(Classifier::trainable(&vs).contains_key(SCORE));
    }
}
