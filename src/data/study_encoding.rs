//! The study's text encoding, exactly (`data.encoding = "study"`), as its
//! `CustomDataset.process_file` made its training ids: each raw file read whole as Python reads text
//! (UTF-8, universal newlines), cut into 1024-character pieces, each piece encoded on its own as
//! `GPT2TokenizerFast` encodes it — the ByteLevel pre-tokenizer's prefix space off, no special
//! tokens added — TinyStories' pieces cut at the sequence length, the ids appended file after file.
//! Words split at piece edges, and the tokens the cut drops, are the study's, and stay so here.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use tokenizers::{PreTokenizerWrapper, Tokenizer};

use super::text::{universal_newlines, utf8};
use super::tokens::{Dtype, SourceFile, TokenHeader};
use crate::config::Encoding;
use crate::io::{hex, write_atomic};

/// Characters (Unicode scalar values, as Python counts them) per encoded piece.
pub const CHUNK_CHARS: usize = 1024;
/// The sequence length the study cut TinyStories' pieces at (`truncation=True,
/// max_length=seq_length`; 256 in every preset of the study).
pub const STUDY_SEQ_LEN: u32 = 256;
/// Pieces encoded in parallel before their ids are written.
const GROUP: usize = 4096;

/// Whether the study cut `dataset`'s pieces at the sequence length: its TinyStories datasets.
pub fn truncates(dataset: &str) -> bool {
    dataset.to_ascii_lowercase().contains("tinystories")
}

/// Encodes text as the study did, with `tokenizer` seen through `GPT2TokenizerFast`.
pub struct StudyEncoder {
    tokenizer: Tokenizer,
    truncate: Option<usize>,
}

impl StudyEncoder {
    /// `tokenizer` with its ByteLevel pre-tokenizer's prefix space turned off (what
    /// `GPT2TokenizerFast(add_prefix_space=False)` does to a tokenizer file), each piece's ids cut at
    /// `truncate` when given.
    pub fn new(tokenizer: &Tokenizer, truncate: Option<u32>) -> StudyEncoder {
        let mut tokenizer = tokenizer.clone();
        if let Some(PreTokenizerWrapper::ByteLevel(level)) = tokenizer.get_pre_tokenizer() {
            let mut level = *level;
            level.add_prefix_space = false;
            tokenizer.with_pre_tokenizer(Some(PreTokenizerWrapper::ByteLevel(level)));
        }
        StudyEncoder {
            tokenizer,
            truncate: truncate.map(|n| n as usize),
        }
    }

    /// The ids of one piece.
    pub fn encode_piece(&self, piece: &str) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode(piece, false)
            .map_err(|e| anyhow!("encoding: {e}"))?;
        let ids = encoding.get_ids();
        let keep = self.truncate.map_or(ids.len(), |n| n.min(ids.len()));
        Ok(ids[..keep].to_vec())
    }
}

/// `text` in pieces of `CHUNK_CHARS` characters (the last one shorter).
pub fn pieces(text: &str) -> Vec<&str> {
    let mut cuts: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .step_by(CHUNK_CHARS)
        .collect();
    cuts.push(text.len());
    cuts.windows(2).map(|w| &text[w[0]..w[1]]).collect()
}

/// Encodes the raw `files` (in this order) into `bin` plus its sidecar, as the study did.
pub fn encode_study_files(
    encoder: &StudyEncoder,
    tokenizer_sha256: &str,
    files: &[PathBuf],
    bin: &Path,
    mut on_bytes: impl FnMut(u64),
) -> Result<TokenHeader> {
    let vocab = encoder.tokenizer.get_vocab_size(true) as u32;
    let dtype = Dtype::for_vocab(vocab);
    let mut tokens = 0u64;
    let mut sources = Vec::with_capacity(files.len());
    write_atomic(bin, |out| {
        for path in files {
            let bytes = fs_err::read(path)?;
            let text = universal_newlines(utf8(&bytes, path)?);
            for group in pieces(&text).chunks(GROUP) {
                let ids = group
                    .par_iter()
                    .map(|piece| encoder.encode_piece(piece))
                    .collect::<Result<Vec<_>>>()
                    .with_context(|| format!("{}", path.display()))?;
                for ids in ids {
                    out.write_all(&dtype.to_le_bytes(&ids))?;
                    tokens += ids.len() as u64;
                }
                on_bytes(group.iter().map(|p| p.len() as u64).sum());
            }
            sources.push(SourceFile {
                file: path.file_name().map(PathBuf::from).unwrap_or_default(),
                bytes: bytes.len() as u64,
                sha256: hex(&Sha256::digest(&bytes)),
            });
        }
        Ok(())
    })?;
    TokenHeader::write(
        bin,
        (tokens, vocab),
        tokenizer_sha256,
        sources,
        (Encoding::Study, encoder.truncate.map(|n| n as u32)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_1024_characters_not_bytes() {
        let text: String = "é".repeat(1500) + "ab";
        let p = pieces(&text);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].chars().count(), 1024);
        assert_eq!(p[1].chars().count(), 478);
        assert_eq!(p.concat(), text);
        assert!(pieces("").is_empty());
        assert_eq!(pieces("abc"), ["abc"]);
    }

    #[test]
    fn only_tinystories_is_cut() {
        assert!(truncates("tinystories") && truncates("TinyStories_10M"));
        assert!(!truncates("babylm3") && !truncates("hybrid_3.7B"));
    }
}
