//! The sources of raw text and their own rules: how a file's lines become documents, and what each
//! source drops or undoes on a line before the study's common rules.

use std::path::Path;

use anyhow::{Context, Result};
use fs_err::File;
use serde::Serialize;

/// How far into a file to look for `<|endoftext|>` separators.
const SNIFF_BYTES: usize = 1 << 20;
/// TinyStories V2's document separator.
pub(super) const END_OF_TEXT: &str = "<|endoftext|>";

/// How a file's lines become documents, and which per-source rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Blank-line-separated paragraphs.
    Plain,
    /// Paragraphs between `<|endoftext|>` lines (TinyStories V2).
    EndOfText,
    /// CHILDES: `*SPK:\t` speaker codes dropped, one utterance per document.
    Childes,
    /// BNC spoken: one utterance per document.
    BncSpoken,
    /// Project Gutenberg: licence banners and `_italics_` marks dropped, paragraphs re-joined.
    Gutenberg,
    /// OpenSubtitles: credit lines and dialogue dashes dropped, one line per document.
    OpenSubtitles,
    /// Simple Wikipedia and WikiText: `= heading =` lines dropped, `@-@` joins undone.
    Wiki,
    /// Switchboard: `A.12:` speaker turns dropped, one turn per document.
    Switchboard,
    /// JSON lines with a `text` field, one document each.
    Jsonl,
}

impl Source {
    /// Picks the cleaner from the file name (BabyLM's names: `childes`, `bnc_spoken`, `gutenberg`,
    /// `open_subtitles`, `simple_wiki`, `switchboard`; WikiText's `wiki`), sniffing for
    /// `<|endoftext|>` otherwise.
    pub fn detect(path: &Path) -> Result<Source> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if name.ends_with(".jsonl") {
            return Ok(Source::Jsonl);
        }
        let by_name = [
            ("childes", Source::Childes),
            ("bnc", Source::BncSpoken),
            ("gutenberg", Source::Gutenberg),
            ("subtitles", Source::OpenSubtitles),
            ("switchboard", Source::Switchboard),
            ("wiki", Source::Wiki),
        ];
        if let Some((_, s)) = by_name.iter().find(|(key, _)| name.contains(key)) {
            return Ok(*s);
        }
        let mut head = vec![0u8; SNIFF_BYTES];
        let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let n = std::io::Read::read(&mut file, &mut head)?;
        let needle = END_OF_TEXT.as_bytes();
        Ok(if head[..n].windows(needle.len()).any(|w| w == needle) {
            Source::EndOfText
        } else {
            Source::Plain
        })
    }

    /// One utterance (line) per document, rather than blank-line-separated paragraphs.
    pub(super) fn line_per_document(self) -> bool {
        matches!(
            self,
            Source::Childes | Source::BncSpoken | Source::OpenSubtitles | Source::Switchboard
        )
    }

    /// The source's own rules on a raw line; `None` drops the line (and ends the document).
    pub(super) fn pre_line(self, line: &str) -> Option<String> {
        let t = line.trim();
        match self {
            Source::Childes => Some(strip_speaker(t, |code| {
                code.starts_with('*') && code[1..].chars().all(|c| c.is_ascii_alphanumeric())
            })),
            Source::Switchboard => Some(strip_speaker(t, |code| {
                let mut parts = code.splitn(2, '.');
                matches!(parts.next(), Some(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_uppercase()))
                    && parts
                        .next()
                        .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
            })),
            Source::OpenSubtitles => {
                let lower = t.to_lowercase();
                const CREDITS: [&str; 12] = [
                    "subtitles by",
                    "subtitle by",
                    "subtitled by",
                    "synced by",
                    "sync by",
                    "opensubtitles",
                    "translated by",
                    "captioning",
                    "captions by",
                    "ripped by",
                    "corrected by",
                    "www.",
                ];
                if CREDITS.iter().any(|c| lower.contains(c)) {
                    return None;
                }
                Some(t.trim_start_matches(['-', ' ']).to_owned())
            }
            Source::Gutenberg => {
                if t.starts_with("*** START OF") || t.starts_with("*** END OF") {
                    return None;
                }
                Some(t.replace('_', ""))
            }
            Source::Wiki => {
                if t.len() >= 2 && t.starts_with('=') && t.ends_with('=') {
                    return None;
                }
                Some(
                    t.replace(" @-@ ", "-")
                        .replace(" @,@ ", ",")
                        .replace(" @.@ ", "."),
                )
            }
            Source::Plain | Source::EndOfText | Source::BncSpoken | Source::Jsonl => {
                Some(t.to_owned())
            }
        }
    }
}

/// Drops a leading `CODE:` speaker label when `is_code(CODE)` holds.
fn strip_speaker(line: &str, is_code: impl Fn(&str) -> bool) -> String {
    match line.split_once(':') {
        Some((code, rest)) if !code.is_empty() && is_code(code) => rest.trim().to_owned(),
        _ => line.to_owned(),
    }
}
