//! Token files: cleaned text encoded once into flat little-endian `u16`/`u32` arrays
//! (`tokens/<V>/{train,dev}.bin`) with a JSON sidecar (`train.json`) recording what made them, and
//! [`TokenFile`], the memory-mapped reader the trainer draws its batches from.

use fs_err::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use memmap2::Mmap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

use super::encode::FastEncoder;
use super::text::{line_chunks, utf8};
use crate::config::Encoding;
use crate::io::{hex, write_atomic, write_json_atomic};

/// Element type of a token file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    U16,
    U32,
}

impl Dtype {
    /// `u16` when every id fits (V ≤ 65,536), else `u32`.
    pub fn for_vocab(vocab: u32) -> Dtype {
        if vocab <= 1 << 16 {
            Dtype::U16
        } else {
            Dtype::U32
        }
    }

    /// Bytes per token.
    pub fn width(self) -> usize {
        match self {
            Dtype::U16 => 2,
            Dtype::U32 => 4,
        }
    }

    /// `ids` as little-endian bytes of this width (ids must fit).
    pub fn to_le_bytes(self, ids: &[u32]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(ids.len() * self.width());
        match self {
            Dtype::U16 => ids
                .iter()
                .for_each(|&id| bytes.extend_from_slice(&(id as u16).to_le_bytes())),
            Dtype::U32 => ids
                .iter()
                .for_each(|&id| bytes.extend_from_slice(&id.to_le_bytes())),
        }
        bytes
    }
}

/// One input of a token file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFile {
    pub file: PathBuf,
    pub bytes: u64,
    pub sha256: String,
}

/// The sidecar `<split>.json` of a token file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenHeader {
    /// Always `lmeff-tokens-1`.
    pub format: String,
    pub dtype: Dtype,
    /// Number of tokens in the `.bin`.
    pub tokens: u64,
    pub vocab_size: u32,
    /// SHA-256 of the tokenizer JSON that encoded the file.
    pub tokenizer_sha256: String,
    pub sources: Vec<SourceFile>,
    pub lmeff_version: String,
    /// The encoder's revision (absent: before 2, whose word cache could outlive its tokenizer).
    #[serde(default)]
    pub encoder: u32,
    /// How the text was encoded (absent: lmeff's).
    #[serde(default, skip_serializing_if = "is_default")]
    pub encoding: Encoding,
    /// The study's encoding: the length TinyStories' chunks were cut at (absent: not cut).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_at: Option<u32>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

impl TokenHeader {
    /// The sidecar of `tokens` ids of vocabulary `vocab` made from `sources` by the tokenizer of
    /// sha256 `tokenizer_sha256` and `encoding` (cut at `truncated_at` tokens a piece), written
    /// beside `bin`.
    pub(crate) fn write(
        bin: &Path,
        (tokens, vocab_size): (u64, u32),
        tokenizer_sha256: &str,
        sources: Vec<SourceFile>,
        (encoding, truncated_at): (Encoding, Option<u32>),
    ) -> Result<TokenHeader> {
        let header = TokenHeader {
            format: FORMAT.into(),
            dtype: Dtype::for_vocab(vocab_size),
            tokens,
            vocab_size,
            tokenizer_sha256: tokenizer_sha256.to_owned(),
            sources,
            lmeff_version: env!("CARGO_PKG_VERSION").into(),
            encoder: ENCODER,
            encoding,
            truncated_at,
        };
        write_json_atomic(&header_path(bin), &header)?;
        Ok(header)
    }
}

/// The revision [`encode_files`] writes.
pub const ENCODER: u32 = 2;

const FORMAT: &str = "lmeff-tokens-1";
/// Bytes of text per parallel encoding task.
const CHUNK_BYTES: usize = 256 << 10;
/// Chunks encoded before their ids are written (bounds memory to about 32 MB of text).
const GROUP_CHUNKS: usize = 128;

/// The sidecar path of a `.bin` token file.
pub fn header_path(bin: &Path) -> PathBuf {
    bin.with_extension("json")
}

/// Encodes `files` (cleaned, one document per line) into `bin` plus its sidecar in one pass: each
/// file is memory-mapped, cut at line ends into chunks that are encoded in parallel and written in
/// order (a bounded group at a time), while its SHA-256 is computed alongside. `on_bytes` reports
/// progress.
pub fn encode_files(
    tokenizer: &Tokenizer,
    tokenizer_sha256: &str,
    files: &[PathBuf],
    bin: &Path,
    mut on_bytes: impl FnMut(u64),
) -> Result<TokenHeader> {
    let vocab = tokenizer.get_vocab_size(true) as u32;
    let dtype = Dtype::for_vocab(vocab);
    let mut tokens = 0u64;
    let mut sources = Vec::with_capacity(files.len());
    let encoder = FastEncoder::new(tokenizer)?;
    write_atomic(bin, |out| {
        for path in files {
            let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            // SAFETY: the cleaned files are lmeff's own outputs, not modified while we read them.
            let map = unsafe { Mmap::map(&file) }
                .with_context(|| format!("mapping {}", path.display()))?;
            let text = utf8(&map, path)?;
            let (sha, written) = std::thread::scope(|scope| {
                let sha = scope.spawn(|| hex(&Sha256::digest(text.as_bytes())));
                let written = (|| -> Result<u64> {
                    let mut written = 0u64;
                    let chunks = line_chunks(text, CHUNK_BYTES);
                    for group in chunks.chunks(GROUP_CHUNKS) {
                        let encoded: Vec<(Vec<u8>, u64)> = group
                            .par_iter()
                            .map(|chunk| {
                                let mut ids = Vec::with_capacity(chunk.len() / 3);
                                for line in chunk.lines().filter(|l| !l.is_empty()) {
                                    encoder.encode_into(line, &mut ids)?;
                                }
                                Ok((dtype.to_le_bytes(&ids), ids.len() as u64))
                            })
                            .collect::<Result<_>>()?;
                        for ((bytes, n), chunk) in encoded.iter().zip(group) {
                            out.write_all(bytes)?;
                            written += n;
                            on_bytes(chunk.len() as u64);
                        }
                    }
                    Ok(written)
                })();
                (sha.join().expect("hashing thread"), written)
            });
            tokens += written?;
            sources.push(SourceFile {
                file: path.file_name().map(PathBuf::from).unwrap_or_default(),
                bytes: map.len() as u64,
                sha256: sha,
            });
        }
        Ok(())
    })?;
    TokenHeader::write(
        bin,
        (tokens, vocab),
        tokenizer_sha256,
        sources,
        (Encoding::Lmeff, None),
    )
}

/// A memory-mapped token file, checked against its sidecar.
pub struct TokenFile {
    path: PathBuf,
    header: TokenHeader,
    map: Mmap,
}

impl TokenFile {
    /// Opens `bin`; its size must match the sidecar, and when `tokenizer_sha256` is given the file
    /// must have been encoded by that tokenizer.
    pub fn open(bin: &Path, tokenizer_sha256: Option<&str>) -> Result<TokenFile> {
        let hp = header_path(bin);
        let header: TokenHeader = serde_json::from_slice(
            &fs_err::read(&hp).with_context(|| format!("reading token header {}", hp.display()))?,
        )
        .with_context(|| format!("parsing token header {}", hp.display()))?;
        if header.format != FORMAT {
            bail!(
                "{}: unknown token file format `{}`",
                hp.display(),
                header.format
            );
        }
        let file = File::open(bin).with_context(|| format!("opening {}", bin.display()))?;
        let size = file.metadata()?.len();
        let expected = header.tokens * header.dtype.width() as u64;
        if size != expected {
            bail!(
                "{}: {size} bytes, but its header says {} {:?} tokens ({expected} bytes); re-run `lmeff data tokenize`",
                bin.display(), header.tokens, header.dtype
            );
        }
        if let Some(want) = tokenizer_sha256 {
            if want != header.tokenizer_sha256 {
                bail!(
                    "{}: encoded by tokenizer sha256 {}, but the tokenizer asked for has sha256 {want}; re-run `lmeff data tokenize`",
                    bin.display(), header.tokenizer_sha256
                );
            }
        }
        if header.encoder < ENCODER {
            let at = hp.display();
            tracing::warn!("{at}: from an encoder before revision {ENCODER}: if several vocabulary sizes were prepared in one `lmeff data prepare`, all but the first hold wrong ids; re-run it");
        }
        // SAFETY: token files are written once (atomic rename) and only read afterwards.
        let map =
            unsafe { Mmap::map(&file) }.with_context(|| format!("mapping {}", bin.display()))?;
        Ok(TokenFile {
            path: bin.to_owned(),
            header,
            map,
        })
    }

    /// Checks that every id is below the header's vocabulary size (a file of the right size can
    /// still hold damaged ids, which would index past the embedding). One parallel pass.
    pub fn check_ids(&self) -> Result<()> {
        use rayon::prelude::*;
        let vocab = self.header.vocab_size;
        let width = self.header.dtype.width();
        let chunk = (1 << 22) * width;
        let bad = self.map[..]
            .par_chunks(chunk)
            .enumerate()
            .find_map_first(|(c, bytes)| {
                let id = |b: &[u8]| match width {
                    2 => u16::from_le_bytes([b[0], b[1]]) as u32,
                    _ => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                };
                bytes
                    .chunks_exact(width)
                    .position(|b| id(b) >= vocab)
                    .map(|i| (c * chunk / width + i) as u64)
            });
        if let Some(i) = bad {
            bail!(
                "{}: token {i} has id {}, outside the vocabulary of {vocab}: the file is damaged; re-run `lmeff data tokenize`",
                self.path.display(),
                self.get(i)
            );
        }
        Ok(())
    }

    /// The sidecar.
    pub fn header(&self) -> &TokenHeader {
        &self.header
    }

    /// The `.bin` path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of tokens.
    pub fn len(&self) -> u64 {
        self.header.tokens
    }

    /// True when the file holds no tokens.
    pub fn is_empty(&self) -> bool {
        self.header.tokens == 0
    }

    /// The token at `i`.
    pub fn get(&self, i: u64) -> u32 {
        let i = i as usize;
        match self.header.dtype {
            Dtype::U16 => u16::from_le_bytes([self.map[2 * i], self.map[2 * i + 1]]) as u32,
            Dtype::U32 => {
                u32::from_le_bytes(self.map[4 * i..4 * i + 4].try_into().expect("4 bytes"))
            }
        }
    }

    /// Appends `len` tokens starting at `start` to `out`, widened to i64 (libtorch's index type).
    pub fn window_into(&self, start: u64, len: usize, out: &mut Vec<i64>) {
        assert!(
            start + len as u64 <= self.len(),
            "window past the end of {}",
            self.path.display()
        );
        out.extend((start..start + len as u64).map(|i| self.get(i) as i64));
    }
}

/// A token file of `tokens` (vocabulary 1000, tokenizer sha `abc`) in `dir`, for tests.
#[cfg(test)]
pub(crate) fn fake_token_file(dir: &Path, tokens: &[u16]) -> PathBuf {
    let bin = dir.join("train.bin");
    let bytes: Vec<u8> = tokens.iter().flat_map(|t| t.to_le_bytes()).collect();
    crate::io::write_bytes_atomic(&bin, &bytes).unwrap();
    let header = TokenHeader {
        format: FORMAT.into(),
        dtype: Dtype::U16,
        tokens: tokens.len() as u64,
        vocab_size: 1000,
        tokenizer_sha256: "abc".into(),
        sources: vec![],
        lmeff_version: "test".into(),
        encoder: ENCODER,
        encoding: Encoding::Lmeff,
        truncated_at: None,
    };
    write_json_atomic(&header_path(&bin), &header).unwrap();
    bin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_deterministic_and_shardable() {
        let dir = tempfile::tempdir().unwrap();
        let toks: Vec<u16> = (0..500).collect();
        let tf = TokenFile::open(&fake_token_file(dir.path(), &toks), Some("abc")).unwrap();
        let a = tf.random_windows(7, 3, 0, 4, 9).unwrap();
        assert_eq!(a, tf.random_windows(7, 3, 0, 4, 9).unwrap());
        assert_ne!(a, tf.random_windows(7, 4, 0, 4, 9).unwrap());
        // Two ranks reading rows 0-1 and 2-3 read the same global batch.
        let mut shards = tf.random_windows(7, 3, 0, 2, 9).unwrap();
        shards.extend(tf.random_windows(7, 3, 2, 2, 9).unwrap());
        assert_eq!(a, shards);
        // Windows are contiguous runs of the file.
        for w in a.chunks(9) {
            assert!(w.windows(2).all(|p| p[1] == p[0] + 1), "{w:?}");
        }
    }

    #[test]
    fn sequential_windows_cover_each_target_once() {
        let dir = tempfile::tempdir().unwrap();
        let tf = TokenFile::open(
            &fake_token_file(dir.path(), &(0..10).collect::<Vec<_>>()),
            None,
        )
        .unwrap();
        assert_eq!(tf.sequential_starts(4).collect::<Vec<_>>(), [0, 3, 6]);
        assert_eq!(tf.get(9), 9);
    }

    #[test]
    fn mismatched_size_or_tokenizer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_token_file(dir.path(), &[1, 2, 3, 4]);
        let err = TokenFile::open(&bin, Some("other"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("sha256 other"), "{err}");
        fs_err::write(&bin, [0u8; 7]).unwrap();
        let err = TokenFile::open(&bin, None).err().unwrap().to_string();
        assert!(err.contains("7 bytes") && err.contains("4"), "{err}");
    }
}
