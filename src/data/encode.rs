//! Fast encoding for the study's byte-level BPE tokenizers, bit-identical to `Tokenizer::encode`
//! (a unit test and the Python cross-check on every sample corpus prove it) but without building
//! an `Encoding` and its offset alignments per line: split on the special tokens, NFKC only where
//! the text is not ASCII (NFKC leaves ASCII unchanged), the prefix space, GPT-2's pre-tokenizer
//! pattern (its `\s+(?!\S)` look-ahead done by hand), then one BPE run per distinct word,
//! remembered in a per-thread cache.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{anyhow, Result};
use regex::Regex;
use tokenizers::{Model, NormalizedString, Normalizer, Tokenizer};

use super::text::SPECIAL_TOKENS;

/// Each encoder's cache tag: a tokenizer's address is no identity (a dropped tokenizer's place
/// is reused by the next one, whose words would then be read from the old one's cache).
static NEXT_KEY: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    /// Word → ids, per thread, tagged with the encoder it belongs to.
    static WORDS_CACHE: RefCell<(usize, HashMap<String, Vec<u32>>)> = RefCell::new((0, HashMap::new()));
}

/// Encodes lines of cleaned text with a tokenizer of the study's recipe.
pub struct FastEncoder<'a> {
    tokenizer: &'a Tokenizer,
    specials: Vec<(&'static str, u32)>,
    key: usize,
    words: ByteLevelWords,
}

/// The ByteLevel pre-tokenizer (with `add_prefix_space`) of the study's tokenizers, done directly:
/// GPT-2's word split and the byte → printable-char mapping.
pub struct ByteLevelWords {
    re: Regex,
    byte_chars: [char; 256],
    /// Whether a space is put before text that does not start with one (lmeff's tokenizers).
    prefix_space: bool,
}

impl Default for ByteLevelWords {
    fn default() -> Self {
        ByteLevelWords::new(true)
    }
}

impl ByteLevelWords {
    pub fn new(prefix_space: bool) -> ByteLevelWords {
        let mut byte_chars = ['\0'; 256];
        for (b, c) in byte_level_chars() {
            byte_chars[b as usize] = c;
        }
        ByteLevelWords {
            re: Regex::new(WORDS).expect("valid pattern"),
            byte_chars,
            prefix_space,
        }
    }
}

impl ByteLevelWords {
    /// Calls `each` with every pre-token of normalized `text`, the prefix space added as the
    /// pre-tokenizer does (raw text; [`ByteLevelWords::map_into`] gives its byte-level form).
    pub fn for_each(&self, text: &str, mut each: impl FnMut(&str)) {
        let prefixed;
        let text = if text.starts_with(' ') || !self.prefix_space {
            text
        } else {
            prefixed = format!(" {text}");
            &prefixed
        };
        self.split(text).for_each(&mut each);
    }

    /// Writes the byte-level form of `word` (`Ġthe` for ` the`) into `mapped`.
    pub fn map_into(&self, word: &str, mapped: &mut String) {
        mapped.clear();
        mapped.extend(word.bytes().map(|b| self.byte_chars[b as usize]));
    }

    /// GPT-2 pre-tokenization: the pattern's matches, where a whitespace run followed by a
    /// non-space gives its last character to the next word (`\s+(?!\S)`).
    pub fn split<'t>(&self, text: &'t str) -> impl Iterator<Item = &'t str> + use<'t, '_> {
        let mut pos = 0;
        std::iter::from_fn(move || {
            let m = self.re.find_at(text, pos)?;
            let (start, mut end) = (m.start(), m.end());
            let word = m.as_str();
            if end < text.len() && word.chars().all(char::is_whitespace) {
                let last = word.char_indices().last().map_or(0, |(i, _)| i);
                if last > 0 {
                    end = start + last;
                }
            }
            pos = end;
            Some(&text[start..end])
        })
    }
}

/// GPT-2's pattern without its look-ahead alternative `\s+(?!\S)` (see [`FastEncoder::split`]).
const WORDS: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+";

impl<'a> FastEncoder<'a> {
    /// Wraps a tokenizer of lmeff's recipe (the prefix space on); it must know the special tokens.
    pub fn new(tokenizer: &'a Tokenizer) -> Result<FastEncoder<'a>> {
        FastEncoder::with_prefix_space(tokenizer, true)
    }

    /// Wraps a tokenizer, the prefix space on or off (as transformers loads a checkpoint's).
    pub fn with_prefix_space(
        tokenizer: &'a Tokenizer,
        prefix_space: bool,
    ) -> Result<FastEncoder<'a>> {
        let specials = SPECIAL_TOKENS
            .iter()
            .map(|t| {
                tokenizer
                    .token_to_id(t)
                    .map(|id| (*t, id))
                    .ok_or_else(|| anyhow!("tokenizer has no special token {t}"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(FastEncoder {
            tokenizer,
            specials,
            key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
            words: ByteLevelWords::new(prefix_space),
        })
    }

    /// Appends the ids of `text` to `out`.
    pub fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        let mut rest = text;
        while !rest.is_empty() {
            let next = self
                .specials
                .iter()
                .filter_map(|&(tok, id)| rest.find(tok).map(|at| (at, tok, id)))
                .min_by_key(|&(at, tok, _)| (at, std::cmp::Reverse(tok.len())));
            match next {
                Some((at, tok, id)) => {
                    self.encode_piece(&rest[..at], out)?;
                    out.push(id);
                    rest = &rest[at + tok.len()..];
                }
                None => {
                    self.encode_piece(rest, out)?;
                    rest = "";
                }
            }
        }
        Ok(())
    }

    fn encode_piece(&self, piece: &str, out: &mut Vec<u32>) -> Result<()> {
        if piece.is_empty() {
            return Ok(());
        }
        let mut normalized = NormalizedString::from(piece);
        if !piece.is_ascii() {
            if let Some(n) = self.tokenizer.get_normalizer() {
                n.normalize(&mut normalized)
                    .map_err(|e| anyhow!("normalizing: {e}"))?;
            }
        }
        let model = self.tokenizer.get_model();
        WORDS_CACHE.with(|cell| {
            let mut cache = cell.borrow_mut();
            if cache.0 != self.key {
                *cache = (self.key, HashMap::new());
            }
            let mut mapped = String::new();
            let mut result = Ok(());
            self.words.for_each(normalized.get(), |word| {
                if result.is_err() {
                    return;
                }
                if let Some(ids) = cache.1.get(word) {
                    out.extend_from_slice(ids);
                    return;
                }
                self.words.map_into(word, &mut mapped);
                match model.tokenize(&mapped) {
                    Ok(toks) => {
                        let ids: Vec<u32> = toks.iter().map(|t| t.id).collect();
                        out.extend_from_slice(&ids);
                        if cache.1.len() < 1_000_000 {
                            cache.1.insert(word.to_owned(), ids);
                        }
                    }
                    Err(e) => result = Err(anyhow!("BPE on {word:?}: {e}")),
                }
            });
            result
        })
    }
}

/// The byte → printable-char table of byte-level BPE (GPT-2's `bytes_to_unicode`).
fn byte_level_chars() -> impl Iterator<Item = (u8, char)> {
    let printable =
        |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let mut shift = 0;
    (0u32..256).map(move |b| {
        let c = if printable(b) {
            b
        } else {
            shift += 1;
            255 + shift
        };
        (b as u8, char::from_u32(c).expect("valid char"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tokenizer::train_tokenizer;

    #[test]
    fn byte_table_is_byte_levels() {
        let ours: std::collections::HashSet<char> = byte_level_chars().map(|(_, c)| c).collect();
        let theirs: std::collections::HashSet<char> =
            tokenizers::pre_tokenizers::byte_level::ByteLevel::alphabet()
                .into_iter()
                .collect();
        assert_eq!(ours, theirs);
        assert_eq!(byte_level_chars().nth(32).unwrap().1, 'Ġ');
    }

    #[test]
    fn equals_the_reference_encoder() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.txt");
        let text: String = (0..300)
            .map(|i| format!("<s>The cat's {i} naïve ﬁsh  sat, on the mat!\tYes.</s>\n"))
            .collect();
        fs_err::write(&f, &text).unwrap();
        let tok = train_tokenizer(
            &[f],
            400,
            crate::config::TokenizerRecipe::Lmeff,
            &dir.path().join("t.json"),
        )
        .unwrap();
        let fast = FastEncoder::new(&tok).unwrap();
        for line in text.lines().take(20).chain([
            "  two  spaces ",
            "<pad><s></s>",
            "x</s><s>y",
            "Ünïcödé ２",
            "tab\t\tthen   three\n",
            "it's they'll I'M 42x 3.14 --> ¡hola!",
            "trailing   ",
        ]) {
            let want = tok.encode(line, false).unwrap().get_ids().to_vec();
            let mut got = Vec::new();
            fast.encode_into(line, &mut got).unwrap();
            assert_eq!(got, want, "{line:?}");
        }
    }

    /// Two vocabularies, one after the other, from the same place in memory (as `lmeff data
    /// prepare` encodes every vocabulary size in one process): each encodes with its own merges.
    #[test]
    fn a_tokenizer_in_a_reused_place_does_not_read_the_last_ones_cache() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.txt");
        let text: String = (0..300)
            .map(|i| format!("the cat sat on the mat {i} times, then the dog sat there too\n"))
            .collect();
        fs_err::write(&f, &text).unwrap();
        let line = "the cat sat on the mat, then the dog sat there";
        let mut slot = None;
        let mut seen = Vec::new();
        for vocab in [270, 330] {
            let dest = dir.path().join(format!("{vocab}.json"));
            let tok = slot.insert(
                train_tokenizer(
                    std::slice::from_ref(&f),
                    vocab,
                    crate::config::TokenizerRecipe::Lmeff,
                    &dest,
                )
                .unwrap(),
            );
            let mut got = Vec::new();
            FastEncoder::new(tok)
                .unwrap()
                .encode_into(line, &mut got)
                .unwrap();
            assert_eq!(got, tok.encode(line, false).unwrap().get_ids(), "{vocab}");
            seen.push(got);
        }
        assert_ne!(
            seen[0], seen[1],
            "the two vocabularies split the line differently"
        );
    }
}
