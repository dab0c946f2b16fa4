//! A checkpoint made ready for BLiMP scoring or GLUE fine-tuning, the same way for both: its files
//! there, its weights and tokenizer hashed and checked against `checksums.json`, what it is (its
//! [`identity`](super::identity::identity)), how its tokenizer encodes text, and a destination for
//! its results checked before anything is computed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::identity::{identity, Target};
use crate::config::layout::checkpoint::{
    check_files, prefix_space, verify_model_files, MODEL_FILE, TOKENIZER_FILE,
};
use crate::io::sha256_file;
use crate::results::blimp::ResultKey;

/// A checkpoint whose files are there and intact.
pub struct Ready<'a> {
    pub target: &'a Target,
    pub id: ResultKey,
    pub weights_sha256: String,
    pub tokenizer_sha256: String,
    /// Whether its tokenizer encodes with the ByteLevel prefix space, as transformers loads it.
    pub prefix_space: bool,
}

impl<'a> Ready<'a> {
    /// Checks `target`'s files, hashes its weights and tokenizer (once: the checksum check reuses
    /// the digests), verifies them, and reads its identity and prefix space.
    pub fn new(target: &'a Target) -> Result<Ready<'a>> {
        let ck = &target.dir;
        check_files(ck)?;
        let weights_sha256 = sha256_file(&ck.join(MODEL_FILE))?;
        let tokenizer_sha256 = sha256_file(&ck.join(TOKENIZER_FILE))?;
        let known = [
            (MODEL_FILE, weights_sha256.as_str()),
            (TOKENIZER_FILE, tokenizer_sha256.as_str()),
        ];
        verify_model_files(ck, &known).context("refusing a damaged checkpoint")?;
        Ok(Ready {
            target,
            id: identity(target, weights_sha256.clone())?,
            prefix_space: prefix_space(ck)?,
            weights_sha256,
            tokenizer_sha256,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.target.dir
    }

    /// `<tokenizer sha256> prefix space <bool>`: checkpoints that encode text alike share one
    /// encoding of the data.
    pub fn encoding(&self) -> String {
        format!(
            "{} prefix space {}",
            self.tokenizer_sha256, self.prefix_space
        )
    }
}

/// Where results go: `out` itself, or its sub-folder `name` when `out` holds several
/// checkpoints' results; else `layout`, the results layout's folder (`missing` follows the
/// checkpoint's path in the error when its identity gives none).
pub fn destination(
    ck: &Path,
    out: Option<&Path>,
    name: Option<&str>,
    layout: Option<PathBuf>,
    missing: &str,
) -> Result<PathBuf> {
    match (out, name) {
        (Some(out), Some(name)) => Ok(out.join(name)),
        (Some(out), None) => Ok(out.to_owned()),
        (None, _) => layout.with_context(|| format!("{}{missing}", ck.display())),
    }
}
