//! BPE tokenizer training with the study's recipe (HF `tokenizers`): NFKC normalizer, ByteLevel
//! pre-tokenizer (`add_prefix_space=true`), ByteLevel decoder and post-processor
//! (`trim_offsets=true`), special tokens `<pad>` `<s>` `</s>` as ids 0, 1, 2, `min_frequency=2`.
//! lmeff's recipe ([`TokenizerRecipe::Lmeff`]) trains on the cleaned documents with all 256 byte
//! symbols in the initial alphabet; the study's ([`TokenizerRecipe::Study`]) on raw files read as
//! Python reads text, line by line with their line ends as `Tokenizer.train(files)` reads them, with
//! no initial alphabet.
//! The saved JSON loads in Python's `tokenizers`.

use fs_err::File;
use std::path::{Path, PathBuf};

use ahash::AHashMap;
use compact_str::CompactString;
use memmap2::Mmap;
use rayon::prelude::*;

use anyhow::{anyhow, bail, Context, Result};
use tokenizers::models::bpe::{BpeTrainer, BpeTrainerBuilder, BPE};
use tokenizers::normalizers::unicode::NFKC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{
    AddedToken, DecoderWrapper, ModelWrapper, NormalizedString, Normalizer, NormalizerWrapper,
    PostProcessorWrapper, PreTokenizerWrapper, Tokenizer, TokenizerBuilder,
};

use super::encode::ByteLevelWords;
use super::text::{line_chunks, universal_newlines, utf8, BOS, EOS, SPECIAL_TOKENS};
use crate::config::TokenizerRecipe;
use crate::io::write_bytes_atomic;

/// The smallest vocabulary: the specials plus the 256 byte symbols (defined with the study's
/// vocabulary, which checks configs.csv against it).
pub use crate::config::MIN_VOCAB;
const _: () = assert!(SPECIAL_TOKENS.len() as u32 + 256 == MIN_VOCAB);

/// Checks a requested vocabulary size.
pub fn check_vocab(vocab: u64) -> Result<u32> {
    if vocab < MIN_VOCAB as u64 {
        bail!("vocab size {vocab} is smaller than the {} special tokens plus 256 byte symbols ({MIN_VOCAB})", SPECIAL_TOKENS.len());
    }
    u32::try_from(vocab).map_err(|_| anyhow!("vocab size {vocab} does not fit in u32 token ids"))
}

/// Counts the pre-tokenized words of cleaned `files` for BPE training, exactly as
/// `Tokenizer::train` would (each line without its document markers, trimmed, NFKC-normalized,
/// ByteLevel pre-tokenized), but in parallel over chunks of memory-mapped files.
fn count_words(files: &[PathBuf]) -> Result<AHashMap<CompactString, u64>> {
    let words = ByteLevelWords::default();
    let nfkc = NFKC;
    let mut total: AHashMap<CompactString, u64> = AHashMap::new();
    for path in files {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: the cleaned files are lmeff's own outputs, not modified while we read them.
        let map =
            unsafe { Mmap::map(&file) }.with_context(|| format!("mapping {}", path.display()))?;
        let text = utf8(&map, path)?;
        let counts = line_chunks(text, 256 << 10)
            .par_iter()
            .map(|chunk| -> Result<AHashMap<CompactString, u64>> {
                let mut counts = AHashMap::new();
                let mut mapped = String::new();
                for line in chunk.lines() {
                    let line = line
                        .strip_prefix(BOS)
                        .and_then(|l| l.strip_suffix(EOS))
                        .unwrap_or(line)
                        .trim();
                    if line.is_empty() {
                        continue;
                    }
                    let mut normalized = NormalizedString::from(line);
                    if !line.is_ascii() {
                        nfkc.normalize(&mut normalized)
                            .map_err(|e| anyhow!("{}: normalizing: {e}", path.display()))?;
                    }
                    if normalized.get().is_empty() {
                        continue;
                    }
                    words.for_each(normalized.get(), |word| {
                        words.map_into(word, &mut mapped);
                        match counts.get_mut(mapped.as_str()) {
                            Some(n) => *n += 1,
                            None => {
                                counts.insert(CompactString::from(mapped.as_str()), 1);
                            }
                        }
                    });
                }
                Ok(counts)
            })
            .try_reduce(AHashMap::new, |mut a, b| {
                let (big, small) = if a.len() >= b.len() {
                    (&mut a, b)
                } else {
                    (&mut { b }, a)
                };
                for (k, v) in small {
                    *big.entry(k).or_default() += v;
                }
                Ok(std::mem::take(big))
            })?;
        for (k, v) in counts {
            *total.entry(k).or_default() += v;
        }
    }
    Ok(total)
}

/// A tokenizer of the study's recipe with an empty BPE model, and the BPE trainer for `vocab`.
type Untrained = tokenizers::TokenizerImpl<
    ModelWrapper,
    NormalizerWrapper,
    PreTokenizerWrapper,
    PostProcessorWrapper,
    DecoderWrapper,
>;

fn recipe(vocab: u32, recipe: TokenizerRecipe) -> Result<(Untrained, BpeTrainer)> {
    let builder = TokenizerBuilder::new()
        .with_model(BPE::default().into())
        .with_normalizer(Some(NFKC.into()))
        .with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(true).into()))
        .with_post_processor(Some(ByteLevel::default().trim_offsets(true).into()))
        .with_decoder(Some(ByteLevel::default().into()))
        .build()
        .map_err(|e| anyhow!("building the tokenizer: {e}"))?;
    let trainer = BpeTrainerBuilder::new()
        .show_progress(false)
        .vocab_size(vocab as usize)
        .min_frequency(2)
        .special_tokens(
            SPECIAL_TOKENS
                .iter()
                .map(|t| AddedToken::from(*t, true))
                .collect(),
        );
    let trainer = match recipe {
        TokenizerRecipe::Lmeff => {
            trainer.initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        }
        TokenizerRecipe::Study => trainer,
    };
    Ok((builder, trainer.build()))
}

/// Trains a BPE tokenizer of `vocab` tokens on `files` by `how` and writes it atomically to `dest`.
pub fn train_tokenizer(
    files: &[PathBuf],
    vocab: u32,
    how: TokenizerRecipe,
    dest: &Path,
) -> Result<Tokenizer> {
    check_vocab(vocab as u64)?;
    for f in files {
        File::open(f).with_context(|| format!("opening {}", f.display()))?;
    }
    let (mut builder, trainer) = recipe(vocab, how)?;
    let tokenizer: Tokenizer = match how {
        TokenizerRecipe::Lmeff => {
            let counts = count_words(files)?;
            let mut bpe = BPE::default();
            let specials = trainer
                .do_train(&counts, &mut bpe)
                .map_err(|e| anyhow!("training the tokenizer: {e}"))?;
            builder.with_model(bpe);
            builder.add_special_tokens(&specials);
            builder.into()
        }
        TokenizerRecipe::Study => {
            // What the study ran: its cleaning copied each file through Python's text mode
            // (universal newlines), then `Tokenizer.train(files, trainer)` read every line of
            // every copy, its line end kept.
            let mut trainer: tokenizers::models::TrainerWrapper = trainer.into();
            let texts = files
                .iter()
                .map(|f| {
                    let bytes = fs_err::read(f)?;
                    Ok(universal_newlines(utf8(&bytes, f)?).into_owned())
                })
                .collect::<Result<Vec<String>>>()?;
            let lines = texts.iter().flat_map(|t| t.split_inclusive('\n'));
            builder
                .train(&mut trainer, lines)
                .map_err(|e| anyhow!("training the tokenizer: {e}"))?;
            builder.into()
        }
    };
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

    /// Training the reference way: `Tokenizer::train` over the lines without their markers.
    fn reference(files: &[PathBuf], vocab: u32) -> String {
        use std::io::{BufRead, BufReader};
        let (mut builder, trainer) = recipe(vocab, TokenizerRecipe::Lmeff).unwrap();
        let mut trainer: tokenizers::models::TrainerWrapper = trainer.into();
        let lines = files.iter().flat_map(|p| {
            BufReader::new(File::open(p).unwrap())
                .lines()
                .map(|l| {
                    let l = l.unwrap();
                    l.strip_prefix(BOS)
                        .and_then(|x| x.strip_suffix(EOS))
                        .unwrap_or(&l)
                        .trim()
                        .to_owned()
                })
                .collect::<Vec<_>>()
        });
        builder.train(&mut trainer, lines).unwrap();
        Tokenizer::from(builder).to_string(false).unwrap()
    }

    #[test]
    fn parallel_word_counts_train_the_reference_tokenizer() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = vec![dir.path().join("a.txt")];
        let text: String = (0..400)
            .map(|i| format!("<s>The cat's {i} naïve ﬁsh  sat, on the mat!\tYes  </s>\n\n<s></s>\n  lone\u{3000}line {}\n", i % 7))
            .collect();
        fs_err::write(&files[0], text).unwrap();
        let shared = std::env::var_os("LMEFF_SHARED_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
        if let Ok(dir) = fs_err::read_dir(shared.join("corpora/tinystories/dev")) {
            files.extend(dir.map(|e| e.unwrap().path()));
        }
        for vocab in [300, 2000] {
            let ours = train_tokenizer(
                &files,
                vocab,
                TokenizerRecipe::Lmeff,
                &dir.path().join("t.json"),
            )
            .unwrap();
            assert_eq!(
                ours.to_string(false).unwrap(),
                reference(&files, vocab),
                "vocab {vocab}"
            );
        }
    }

    #[test]
    fn trains_with_specials_first() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.txt");
        let text: String = (0..200)
            .map(|i| format!("<s> The cat number {i} sat on the mat. </s>\n"))
            .collect();
        fs_err::write(&f, text).unwrap();
        let dest = dir.path().join("tok.json");
        let tok = train_tokenizer(&[f], 300, TokenizerRecipe::Lmeff, &dest).unwrap();
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
