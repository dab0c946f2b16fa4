//! The checkpoint folder, defined once: its names ([`CheckpointLabel`]: `init`, `milestone-<M>M`,
//! `final`), its files (a Hugging Face model folder: `model.safetensors`, `config.json`,
//! `tokenizer.json`, `tokenizer_config.json`, plus `milestone_meta.json` and `checksums.json`), its
//! metadata, its checksums and how its tokenizer encodes. The trainer writes the weights
//! (`model::checkpoint`); everything else reads checkpoints through here, without libtorch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use fs_err as fs;
use serde::de::DeserializeOwned;

use crate::config::identity::CheckpointLabel;
use crate::io::{sha256_file, write_json_atomic};

/// The weights (safetensors, HF tensor names).
pub const MODEL_FILE: &str = "model.safetensors";
/// HF `LlamaConfig`.
pub const CONFIG_FILE: &str = "config.json";
/// The tokenizer the run trained with.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// How transformers sets the tokenizer up (here: whether it adds the prefix space).
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";
/// What a checkpoint is: `super::meta::CheckpointMeta`.
pub const META_FILE: &str = "milestone_meta.json";
/// sha256 of every other file.
pub const CHECKSUMS_FILE: &str = "checksums.json";

/// A checkpoint folder of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub name: CheckpointLabel,
    pub dir: PathBuf,
}

/// Whether `dir` holds a finished checkpoint (its weights are in place).
pub fn is_checkpoint(dir: &Path) -> bool {
    dir.join(MODEL_FILE).is_file()
}

/// The checkpoints of a run folder: `init/` (when `--init-only` wrote it), `milestone-<M>M/` in
/// token order, then `final/`.
pub fn run_checkpoints(run: &Path) -> Result<Vec<Checkpoint>> {
    let mut out: Vec<(f64, Checkpoint)> = Vec::new();
    for e in fs::read_dir(run)? {
        let dir = e?.path();
        let folder = dir.file_name().unwrap_or_default().to_string_lossy();
        match CheckpointLabel::parse(&folder) {
            Some(name @ CheckpointLabel::Milestone(m)) => {
                out.push((m.get(), Checkpoint { name, dir }))
            }
            Some(name @ CheckpointLabel::Init) if is_checkpoint(&dir) => {
                out.push((0.0, Checkpoint { name, dir }))
            }
            _ => {}
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<Checkpoint> = out.into_iter().map(|(_, c)| c).collect();
    if run.join("final").is_dir() {
        out.push(Checkpoint {
            name: CheckpointLabel::Final,
            dir: run.join("final"),
        });
    }
    if out.is_empty() {
        bail!(
            "{}: no init/, milestone-*/ or final/ checkpoint in this run folder",
            run.display()
        );
    }
    Ok(out)
}

/// Checks that `dir` has the files a model needs (weights, config, tokenizer).
pub fn check_files(dir: &Path) -> Result<()> {
    for f in [MODEL_FILE, TOKENIZER_FILE, CONFIG_FILE] {
        if !dir.join(f).is_file() {
            bail!(
                "{}: not a checkpoint folder ({f} is missing)",
                dir.display()
            );
        }
    }
    Ok(())
}

/// Writes `sha256` of every file in `dir` (but itself) to `checksums.json`.
pub fn write_checksums(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut sums = BTreeMap::new();
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name != CHECKSUMS_FILE && path.is_file() {
            sums.insert(name, sha256_file(&path)?);
        }
    }
    write_json_atomic(&dir.join(CHECKSUMS_FILE), &sums)?;
    Ok(sums)
}

/// Checks every file listed in `dir/checksums.json`.
pub fn verify(dir: &Path) -> Result<()> {
    verify_some(dir, |_| true, &[])
}

/// Checks the files a model is loaded from (weights, config, tokenizer) against
/// `dir/checksums.json` when the folder has one (folders from elsewhere may not). `known` holds
/// digests the caller has already computed, as (file name, sha256), so no file is hashed twice.
pub fn verify_model_files(dir: &Path, known: &[(&str, &str)]) -> Result<()> {
    if !dir.join(CHECKSUMS_FILE).is_file() {
        return Ok(());
    }
    verify_some(
        dir,
        |name| {
            [
                MODEL_FILE,
                CONFIG_FILE,
                TOKENIZER_FILE,
                TOKENIZER_CONFIG_FILE,
            ]
            .contains(&name)
        },
        known,
    )
}

fn verify_some(dir: &Path, wanted: impl Fn(&str) -> bool, known: &[(&str, &str)]) -> Result<()> {
    let sums: BTreeMap<String, String> = read_json(&dir.join(CHECKSUMS_FILE))?;
    for (name, want) in sums.iter().filter(|(name, _)| wanted(name)) {
        let path = dir.join(name);
        let got = match known.iter().find(|k| k.0 == name) {
            Some(k) => k.1.to_owned(),
            None => sha256_file(&path).with_context(|| format!("{} is missing", path.display()))?,
        };
        if &got != want {
            bail!(
                "{}: checksum mismatch (the file is truncated or altered)",
                path.display()
            );
        }
    }
    Ok(())
}

pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Whether `AutoTokenizer.from_pretrained` of the folder `dir` encodes text with the ByteLevel
/// prefix space (transformers 4.5x, checked against it in the tests): as `add_prefix_space` of
/// `tokenizer_config.json` says when it says; else off for `GPT2TokenizerFast` and
/// `PreTrainedTokenizerFast`, which turn it off (the study's released checkpoints: `<s>` +
/// sentence scored without the space); else, for the Llama classes or no class named, as
/// `tokenizer.json`'s pre-tokenizer has it.
pub fn prefix_space(dir: &Path) -> Result<bool> {
    let config_path = dir.join(TOKENIZER_CONFIG_FILE);
    let config: serde_json::Value = if config_path.is_file() {
        read_json(&config_path)?
    } else {
        serde_json::Value::Null
    };
    if let Some(v) = config.get("add_prefix_space").filter(|v| !v.is_null()) {
        return v.as_bool().ok_or_else(|| {
            anyhow::anyhow!(
                "{}: `add_prefix_space` is not true or false",
                config_path.display()
            )
        });
    }
    match config.get("tokenizer_class").and_then(|c| c.as_str()) {
        Some("GPT2TokenizerFast" | "GPT2Tokenizer" | "PreTrainedTokenizerFast") => Ok(false),
        None | Some("LlamaTokenizerFast" | "LlamaTokenizer") => {
            let tokenizer: serde_json::Value = read_json(&dir.join(TOKENIZER_FILE))?;
            let pre = &tokenizer["pre_tokenizer"];
            let byte_level = std::iter::once(pre)
                .chain(pre["pretokenizers"].as_array().into_iter().flatten())
                .find(|p| p["type"] == "ByteLevel");
            Ok(byte_level.is_some_and(|p| p["add_prefix_space"] == true))
        }
        Some(other) => bail!(
            "{}: lmeff does not know how transformers' {other} sets the prefix space; say it with `add_prefix_space` in that file",
            config_path.display()
        ),
    }
}

/// `tokenizer_config.json` and `special_tokens_map.json`, so `AutoTokenizer`/
/// `PreTrainedTokenizerFast.from_pretrained` encode exactly as lmeff trained: transformers turns
/// the ByteLevel prefix space off unless `add_prefix_space` says otherwise.
pub fn write_tokenizer_config(dir: &Path, max_positions: u32) -> Result<()> {
    let specials =
        serde_json::json!({"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"});
    let mut cfg = specials.clone();
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast".into();
    cfg["add_prefix_space"] = true.into();
    cfg["model_max_length"] = max_positions.into();
    cfg["clean_up_tokenization_spaces"] = false.into();
    write_json_atomic(&dir.join(TOKENIZER_CONFIG_FILE), &cfg)?;
    write_json_atomic(&dir.join("special_tokens_map.json"), &specials)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_space_follows_transformers() {
        let dir = tempfile::tempdir().unwrap();
        let tokenizer = |on: bool| {
            serde_json::json!({"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": on}})
                .to_string()
        };
        let cases = [
            (
                Some(r#"{"tokenizer_class": "GPT2TokenizerFast"}"#),
                true,
                Ok(false),
            ),
            (
                Some(r#"{"tokenizer_class": "PreTrainedTokenizerFast"}"#),
                true,
                Ok(false),
            ),
            (
                Some(r#"{"tokenizer_class": "GPT2TokenizerFast", "add_prefix_space": true}"#),
                false,
                Ok(true),
            ),
            (Some(r#"{"add_prefix_space": false}"#), true, Ok(false)),
            (
                Some(r#"{"tokenizer_class": "LlamaTokenizerFast"}"#),
                true,
                Ok(true),
            ),
            (Some(r#"{"bos_token": "<s>"}"#), false, Ok(false)),
            (None, true, Ok(true)),
            (
                Some(r#"{"tokenizer_class": "T5TokenizerFast"}"#),
                true,
                Err("T5TokenizerFast"),
            ),
            (
                Some(r#"{"add_prefix_space": "yes"}"#),
                true,
                Err("not true or false"),
            ),
        ];
        for (config, own, want) in cases {
            fs::write(dir.path().join(TOKENIZER_FILE), tokenizer(own)).unwrap();
            let path = dir.path().join(TOKENIZER_CONFIG_FILE);
            match config {
                Some(c) => fs::write(&path, c).unwrap(),
                None => {
                    let _ = fs::remove_file(&path);
                }
            }
            match (prefix_space(dir.path()), want) {
                (Ok(got), Ok(w)) => assert_eq!(got, w, "{config:?} {own}"),
                (Err(e), Err(w)) => assert!(format!("{e:#}").contains(w), "{e:#}"),
                (got, w) => panic!("{config:?}: {got:?}, expected {w:?}"),
            }
        }
    }
}
