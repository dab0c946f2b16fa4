//! BPE tokenizer training with the study's recipe (HF `tokenizers`): NFKC normalizer, ByteLevel
//! pre-tokenizer (`add_prefix_space=true`), ByteLevel decoder and post-processor
//! (`trim_offsets=true`), special tokens `<pad>` `<s>` `</s>` as ids 0, 1, 2, `min_frequency=2`,
//! all 256 byte symbols in the initial alphabet. The saved JSON loads in Python's `tokenizers`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::normalizers::unicode::NFKC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{
    AddedToken, DecoderWrapper, ModelWrapper, NormalizerWrapper, PostProcessorWrapper,
    PreTokenizerWrapper, Tokenizer, TokenizerBuilder,
};

use super::clean::{BOS, EOS};
use crate::io::write_bytes_atomic;

/// Special tokens in id order.
pub const SPECIAL_TOKENS: [&str; 3] = ["<pad>", BOS, EOS];
/// The smallest vocabulary: the specials plus the 256 byte symbols.
pub const MIN_VOCAB: u32 = SPECIAL_TOKENS.len() as u32 + 256;

/// Checks a requested vocabulary size.
pub fn check_vocab(vocab: u64) -> Result<u32> {
    if vocab < MIN_VOCAB as u64 {
        bail!("vocab size {vocab} is smaller than the {} special tokens plus 256 byte symbols ({MIN_VOCAB})", SPECIAL_TOKENS.len());
    }
    u32::try_from(vocab).map_err(|_| anyhow!("vocab size {vocab} does not fit in u32 token ids"))
}

/// Reads cleaned lines for training, without the document markers (they are special tokens).
fn training_lines(files: Vec<PathBuf>) -> impl Iterator<Item = String> + Send {
    files.into_iter().flat_map(|path| {
        let reader = File::open(&path)
            .map(|f| BufReader::with_capacity(1 << 20, f))
            .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
        reader.lines().map_while(|l| l.ok()).map(|line| {
            line.strip_prefix(BOS)
                .and_then(|l| l.strip_suffix(EOS))
                .unwrap_or(&line)
                .trim()
                .to_owned()
        })
    })
}

/// Trains a BPE tokenizer of `vocab` tokens on `files` and writes it atomically to `dest`.
pub fn train_tokenizer(files: &[PathBuf], vocab: u32, dest: &Path) -> Result<Tokenizer> {
    check_vocab(vocab as u64)?;
    for f in files {
        File::open(f).with_context(|| format!("opening {}", f.display()))?;
    }
    let mut builder = TokenizerBuilder::<
        ModelWrapper,
        NormalizerWrapper,
        PreTokenizerWrapper,
        PostProcessorWrapper,
        DecoderWrapper,
    >::new()
    .with_model(BPE::default().into())
    .with_normalizer(Some(NFKC.into()))
    .with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(true).into()))
    .with_post_processor(Some(ByteLevel::default().trim_offsets(true).into()))
    .with_decoder(Some(ByteLevel::default().into()))
    .build()
    .map_err(|e| anyhow!("building the tokenizer: {e}"))?;
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .show_progress(false)
        .vocab_size(vocab as usize)
        .min_frequency(2)
        .special_tokens(
            SPECIAL_TOKENS
                .iter()
                .map(|t| AddedToken::from(*t, true))
                .collect(),
        )
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    builder
        .train(&mut trainer, training_lines(files.to_vec()))
        .map_err(|e| anyhow!("training the tokenizer: {e}"))?;
    let tokenizer: Tokenizer = builder.into();
    for (id, tok) in SPECIAL_TOKENS.iter().enumerate() {
        if tokenizer.token_to_id(tok) != Some(id as u32) {
            bail!(
                "trained tokenizer has {tok} at {:?}, expected id {id}",
                tokenizer.token_to_id(tok)
            );
        }
    }
    let got = tokenizer.get_vocab_size(true);
    if got < vocab as usize {
        tracing::warn!(
            "{}: the corpus supports only {got} tokens at min_frequency 2 (asked for {vocab})",
            dest.display()
        );
    }
    let json = tokenizer
        .to_string(false)
        .map_err(|e| anyhow!("serialising the tokenizer: {e}"))?;
    write_bytes_atomic(dest, json.as_bytes())?;
    Ok(tokenizer)
}

/// Loads a tokenizer JSON.
pub fn load_tokenizer(path: &Path) -> Result<Tokenizer> {
    Tokenizer::from_file(path).map_err(|e| anyhow!("loading tokenizer {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocab_bounds() {
        assert!(check_vocab(100).is_err());
        assert!(check_vocab(5_000_000_000).is_err());
        assert_eq!(check_vocab(8000).unwrap(), 8000);
    }

    #[test]
    fn trains_with_specials_first() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.txt");
        let text: String = (0..200)
            .map(|i| format!("<s> The cat number {i} sat on the mat. </s>\n"))
            .collect();
        std::fs::write(&f, text).unwrap();
        let dest = dir.path().join("tok.json");
        let tok = train_tokenizer(&[f], 300, &dest).unwrap();
        let size = tok.get_vocab_size(true);
        assert!(size > MIN_VOCAB as usize && size <= 300, "{size}");
        let enc = tok.encode("<s> The cat sat. </s>", false).unwrap();
        assert_eq!(enc.get_ids().first(), Some(&1));
        assert_eq!(enc.get_ids().last(), Some(&2));
        let again = load_tokenizer(&dest).unwrap();
        assert_eq!(
            again.encode("The mat", false).unwrap().get_ids(),
            tok.encode("The mat", false).unwrap().get_ids()
        );
    }
}
