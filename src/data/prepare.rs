//! The data steps in order — clean, train tokenizers, tokenize — each callable alone
//! (`lmeff data clean|tokenizer|tokenize`) or together (`lmeff data prepare`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use tracing::info;

use super::clean::{clean_split, CleanOptions, CleanStats};
use super::layout::{DatasetDir, Split};
use super::study_encoding::{encode_study_files, truncates, StudyEncoder, STUDY_SEQ_LEN};
use super::tokenizer::{check_vocab, load_tokenizer, train_tokenizer};
use super::tokens::{encode_files, TokenHeader};
use crate::config::{Encoding, TokenizerRecipe};
use crate::io::{sha256_file, Staged};
use crate::progress::byte_bar;

/// Cleans both splits.
pub fn clean(ds: &DatasetDir, opts: CleanOptions) -> Result<Vec<CleanStats>> {
    let mut all = Vec::new();
    for split in Split::ALL {
        let start = Instant::now();
        let stats = clean_split(ds, split, opts)?;
        let (docs, bytes) = stats
            .iter()
            .fold((0, 0), |(d, b), s| (d + s.documents, b + s.bytes_out));
        info!(
            dataset = ds.name(),
            %split,
            files = stats.len(),
            documents = docs,
            bytes,
            secs = format!("{:.2}", start.elapsed().as_secs_f64()),
            "cleaned into {}",
            ds.clean_dir(split).display()
        );
        all.extend(stats);
    }
    Ok(all)
}

/// Trains one tokenizer per vocabulary size by the dataset's recipe: lmeff's on the cleaned train +
/// dev text, the study's on the raw files it read.
pub fn train_tokenizers(ds: &DatasetDir, vocab_sizes: &[u32]) -> Result<Vec<PathBuf>> {
    let recipe = ds.data().tokenizer_recipe;
    let files = match recipe {
        TokenizerRecipe::Lmeff => {
            let mut files = ds.clean_files(Split::Train)?;
            files.extend(ds.clean_files(Split::Dev)?);
            files
        }
        TokenizerRecipe::Study => ds.study_tokenizer_files()?,
    };
    let mut out = Vec::new();
    for &vocab in vocab_sizes {
        check_vocab(vocab as u64)?;
        let dest = ds.tokenizer_path(vocab);
        let start = Instant::now();
        train_tokenizer(&files, vocab, recipe, &dest)
            .with_context(|| format!("dataset {}: tokenizer of {vocab}", ds.name()))?;
        info!(
            dataset = ds.name(),
            vocab,
            secs = format!("{:.2}", start.elapsed().as_secs_f64()),
            "trained {}",
            dest.display()
        );
        out.push(dest);
    }
    Ok(out)
}

/// Encodes both splits with the tokenizer of `vocab` into `tokens/<vocab>/` (the study's encoding:
/// the raw files into `tokens/<vocab>-study…/`), replaced as a whole.
pub fn tokenize(ds: &DatasetDir, vocab: u32) -> Result<Vec<TokenHeader>> {
    let tok_path = ds.tokenizer_path(vocab);
    let tokenizer = load_tokenizer(&tok_path).with_context(|| {
        format!(
            "dataset {}: run `lmeff data tokenizer --vocab-sizes {vocab}` first",
            ds.name()
        )
    })?;
    let sha = sha256_file(&tok_path)?;
    let staged = Staged::new(&ds.tokens_dir(vocab))?;
    let mut headers = Vec::new();
    let study = (ds.data().encoding == Encoding::Study)
        .then(|| StudyEncoder::new(&tokenizer, truncates(ds.name()).then_some(STUDY_SEQ_LEN)));
    for split in Split::ALL {
        let files = match ds.data().encoding {
            Encoding::Lmeff => ds.clean_files(split)?,
            Encoding::Study => ds.raw_files(split)?,
        };
        let total: u64 = files
            .iter()
            .map(|f| f.metadata().map(|m| m.len()).unwrap_or(0))
            .sum();
        let bar = byte_bar(total, &format!("tokenize {} {split}", ds.name()));
        let start = Instant::now();
        let bin = staged.path().join(format!("{}.bin", split.name()));
        let header = match &study {
            None => encode_files(&tokenizer, &sha, &files, &bin, |n| bar.inc(n))?,
            Some(study) => encode_study_files(study, &sha, &files, &bin, |n| bar.inc(n))?,
        };
        bar.finish_and_clear();
        let secs = start.elapsed().as_secs_f64();
        info!(
            dataset = ds.name(),
            vocab,
            %split,
            tokens = header.tokens,
            bytes = total,
            secs = format!("{secs:.3}"),
            mb_per_s = format!("{:.1}", total as f64 / 1e6 / secs.max(1e-9)),
            "encoded {}",
            ds.token_file(vocab, split).display()
        );
        headers.push(header);
    }
    staged.commit()?;
    Ok(headers)
}

/// Clean (which the study's encoding and recipe do not read), then a tokenizer and token files for
/// each vocabulary size.
pub fn prepare(ds: &DatasetDir, vocab_sizes: &[u32], opts: CleanOptions) -> Result<()> {
    clean(ds, opts)?;
    train_tokenizers(ds, vocab_sizes)?;
    for &vocab in vocab_sizes {
        tokenize(ds, vocab)?;
    }
    Ok(())
}
