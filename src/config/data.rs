//! The `[data]` section of the settings: which tokenizer recipe and which text encoding make a
//! dataset's token files — lmeff's (the defaults) or the study's, exactly — and the names their
//! files take, so that both can live side by side in one dataset folder.

use serde::{Deserialize, Serialize};

/// How text becomes the token ids a run trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Cleaned documents, each in `<s>…</s>`, encoded whole with the prefix space on and packed
    /// back to back.
    #[default]
    Lmeff,
    /// The study's `CustomDataset.process_file`: raw text in 1024-character chunks, each encoded
    /// as `GPT2TokenizerFast` does (prefix space off, no special tokens), TinyStories' chunks cut
    /// at the sequence length.
    Study,
}

/// How a dataset's BPE tokenizer is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenizerRecipe {
    /// On the cleaned train and dev text, the 256 byte symbols seeded as the initial alphabet.
    #[default]
    Lmeff,
    /// As the study trained it: on the raw `.train`, `.txt` and `.jsonl` files (BabyLM's `.dev`
    /// files left out), read line by line with their line ends, no initial alphabet.
    Study,
}

/// The data settings (`[data]` in `configs/lmeff.toml`, `LMEFF_DATA__<KEY>` in the environment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSettings {
    /// How `lmeff data tokenize` encodes text, and which token files runs read.
    pub encoding: Encoding,
    /// How `lmeff data tokenizer` trains tokenizers, and which tokenizer runs use.
    pub tokenizer_recipe: TokenizerRecipe,
}

impl DataSettings {
    /// Whether these are lmeff's defaults (files of the default names; nothing to record).
    pub fn is_default(&self) -> bool {
        *self == DataSettings::default()
    }

    /// The tokenizer file of vocabulary `vocab`: `tokenizer_<V>.json`, or `tokenizer_<V>-study.json`
    /// for the study's recipe.
    pub fn tokenizer_file_name(&self, vocab: u32) -> String {
        match self.tokenizer_recipe {
            TokenizerRecipe::Lmeff => format!("tokenizer_{vocab}.json"),
            TokenizerRecipe::Study => format!("tokenizer_{vocab}-study.json"),
        }
    }

    /// The token folder of vocabulary `vocab` under `tokens/`: `<V>` (lmeff's), `<V>-study` (the
    /// study's recipe and encoding), `<V>-study-encoding` or `<V>-study-tokenizer` (one of them).
    pub fn tokens_dir_name(&self, vocab: u32) -> String {
        let suffix = match (self.tokenizer_recipe, self.encoding) {
            (TokenizerRecipe::Lmeff, Encoding::Lmeff) => "",
            (TokenizerRecipe::Study, Encoding::Study) => "-study",
            (TokenizerRecipe::Lmeff, Encoding::Study) => "-study-encoding",
            (TokenizerRecipe::Study, Encoding::Lmeff) => "-study-tokenizer",
        };
        format!("{vocab}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_recipe_and_encoding_has_its_own_files() {
        let lmeff = DataSettings::default();
        let study = DataSettings {
            encoding: Encoding::Study,
            tokenizer_recipe: TokenizerRecipe::Study,
        };
        assert!(lmeff.is_default() && !study.is_default());
        assert_eq!(lmeff.tokenizer_file_name(16000), "tokenizer_16000.json");
        assert_eq!(
            study.tokenizer_file_name(16000),
            "tokenizer_16000-study.json"
        );
        assert_eq!(lmeff.tokens_dir_name(16000), "16000");
        assert_eq!(study.tokens_dir_name(16000), "16000-study");
        let mut names: Vec<String> = [Encoding::Lmeff, Encoding::Study]
            .into_iter()
            .flat_map(|encoding| {
                [TokenizerRecipe::Lmeff, TokenizerRecipe::Study]
                    .into_iter()
                    .map(move |tokenizer_recipe| DataSettings {
                        encoding,
                        tokenizer_recipe,
                    })
            })
            .map(|d| d.tokens_dir_name(8000))
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 4, "{names:?}");
    }

    #[test]
    fn settings_read_by_name() {
        let d: DataSettings =
            toml::from_str("encoding = \"study\"\ntokenizer_recipe = \"study\"").unwrap();
        assert_eq!(d.encoding, Encoding::Study);
        assert!(toml::from_str::<DataSettings>("encoding = \"gpt2\"").is_err());
        assert!(toml::from_str::<DataSettings>("encodings = \"study\"").is_err());
    }
}
