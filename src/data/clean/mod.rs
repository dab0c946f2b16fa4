//! Cleaning raw text with the study's rules, streaming and in parallel over files.
//!
//! Every line: tabs and no-break spaces become spaces, runs of spaces collapse, the space before
//! `.,;!?` goes, ends are trimmed. Documents — blank-line-separated blocks, or the blocks between
//! TinyStories' `<|endoftext|>` lines, or one utterance for the dialogue sources — are written one
//! per line as `<s>…</s>` (no space before `</s>`: the byte-level tokenizer would spend a token
//! on it). BabyLM sources get their own cleaner, chosen by file name.

use fs_err::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde::Serialize;

use super::layout::{DatasetDir, Split};
use super::text::{BOS, EOS};
use crate::io::{write_atomic, Staged};

mod source;

pub use source::Source;
use source::END_OF_TEXT;

/// A document longer than this is cut into several (bounded memory on files without breaks).
const MAX_DOC_BYTES: usize = 1 << 20;
/// The study's line rules: tabs/NBSP → space, collapse spaces, no space before `.,;!?`, trim.
pub fn normalize_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        let c = if matches!(c, '\t' | '\u{a0}' | '\u{202f}' | '\u{2007}') {
            ' '
        } else {
            c
        };
        match c {
            ' ' if out.is_empty() || out.ends_with(' ') => {}
            '.' | ',' | ';' | '!' | '?' if out.ends_with(' ') => {
                out.pop();
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

/// Counts for one cleaned file.
#[derive(Debug, Clone, Serialize)]
pub struct CleanStats {
    pub file: PathBuf,
    pub source: Source,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub documents: u64,
}

/// Options of the clean step.
#[derive(Debug, Clone, Copy, Default)]
pub struct CleanOptions {
    /// Replace invalid UTF-8 with U+FFFD instead of failing.
    pub lossy: bool,
}

/// Accumulates a document's text and writes it as one `<s>…</s>` line.
struct DocWriter<W: Write> {
    out: W,
    doc: String,
    documents: u64,
    bytes: u64,
}

impl<W: Write> DocWriter<W> {
    fn push(&mut self, text: &str) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        if !self.doc.is_empty() {
            self.doc.push(' ');
        }
        self.doc.push_str(text);
        if self.doc.len() >= MAX_DOC_BYTES {
            self.end()?;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<()> {
        if !self.doc.is_empty() {
            writeln!(self.out, "{BOS}{}{EOS}", self.doc)?;
            self.bytes += (BOS.len() + self.doc.len() + EOS.len() + 1) as u64;
            self.documents += 1;
            self.doc.clear();
        }
        Ok(())
    }
}

/// Cleans one file into `dest`.
pub fn clean_file(src: &Path, dest: &Path, opts: CleanOptions) -> Result<CleanStats> {
    let source = Source::detect(src)?;
    let file = File::open(src).with_context(|| format!("opening {}", src.display()))?;
    let bytes_in = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut stats = None;
    write_atomic(dest, |w| {
        let mut docs = DocWriter {
            out: w,
            doc: String::new(),
            documents: 0,
            bytes: 0,
        };
        let mut raw = Vec::new();
        let (mut offset, mut line_no) = (0u64, 0u64);
        loop {
            raw.clear();
            let n = reader
                .read_until(b'\n', &mut raw)
                .with_context(|| format!("reading {}", src.display()))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            let text = match std::str::from_utf8(&raw) {
                Ok(t) => std::borrow::Cow::Borrowed(t),
                Err(_) if opts.lossy => String::from_utf8_lossy(&raw),
                Err(e) => bail!(
                    "{}: invalid UTF-8 at byte offset {} (line {line_no}); fix the file or pass --lossy",
                    src.display(),
                    offset + e.valid_up_to() as u64
                ),
            };
            offset += n as u64;
            let text = text.trim_end_matches(['\n', '\r']);
            if source == Source::Jsonl {
                if text.trim().is_empty() {
                    continue;
                }
                let value: serde_json::Value = serde_json::from_str(text)
                    .with_context(|| format!("{}:{line_no}: invalid JSON", src.display()))?;
                let Some(body) = value.get("text").and_then(|t| t.as_str()) else {
                    bail!(
                        "{}:{line_no}: JSON line has no string field `text`",
                        src.display()
                    );
                };
                for l in body.lines() {
                    docs.push(&normalize_line(l))?;
                }
                docs.end()?;
                continue;
            }
            if source == Source::EndOfText && text.trim() == END_OF_TEXT {
                docs.end()?;
                continue;
            }
            if text.trim().is_empty() {
                if source != Source::EndOfText {
                    docs.end()?;
                }
                continue;
            }
            match source.pre_line(text) {
                None => docs.end()?,
                Some(line) => {
                    docs.push(&normalize_line(&line))?;
                    if source.line_per_document() {
                        docs.end()?;
                    }
                }
            }
        }
        docs.end()?;
        stats = Some((docs.documents, docs.bytes));
        Ok(())
    })?;
    let (documents, bytes_out) = stats.expect("set on success");
    Ok(CleanStats {
        file: src.to_owned(),
        source,
        bytes_in,
        bytes_out,
        documents,
    })
}

/// The cleaned name of a raw file (`*.jsonl` becomes `*.txt`).
fn clean_name(src: &Path) -> PathBuf {
    let name = PathBuf::from(src.file_name().expect("a file"));
    if name.extension().is_some_and(|e| e == "jsonl") {
        name.with_extension("txt")
    } else {
        name
    }
}

/// Cleans every raw file of `split` into `<split>_clean/`, replaced as a whole only on success.
pub fn clean_split(ds: &DatasetDir, split: Split, opts: CleanOptions) -> Result<Vec<CleanStats>> {
    let files = ds.raw_files(split)?;
    let staged = Staged::new(&ds.clean_dir(split))?;
    let stats = files
        .par_iter()
        .map(|f| clean_file(f, &staged.path().join(clean_name(f)), opts))
        .collect::<Result<Vec<_>>>()?;
    if stats.iter().all(|s| s.documents == 0) {
        bail!("{}: cleaning left no text", ds.raw_dir(split).display());
    }
    staged.commit()?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_rules() {
        assert_eq!(normalize_line("  Hello ,\tworld  !  "), "Hello, world!");
        assert_eq!(normalize_line("a\u{a0}\u{a0}b ."), "a b.");
        assert_eq!(normalize_line("What ?!"), "What?!");
        assert_eq!(normalize_line(""), "");
    }

    fn clean(name: &str, text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join(name);
        fs_err::write(&src, text).unwrap();
        let dest = dir.path().join("out.txt");
        clean_file(&src, &dest, CleanOptions::default()).unwrap();
        fs_err::read_to_string(dest).unwrap()
    }

    #[test]
    fn paragraphs_become_documents() {
        let out = clean("a.txt", "One  day ,\na girl .\n\nThe end !\n");
        assert_eq!(out, "<s>One day, a girl.</s>\n<s>The end!</s>\n");
    }

    #[test]
    fn end_of_text_separates_stories() {
        let out = clean(
            "ts.txt",
            "Para one.\n\nPara two.\n<|endoftext|>\nStory two.\n",
        );
        assert_eq!(out, "<s>Para one. Para two.</s>\n<s>Story two.</s>\n");
    }

    #[test]
    fn babylm_sources() {
        assert_eq!(
            clean("childes.train", "*MOT:\tWhat's that .\n*CHI:\tYyy.\n"),
            "<s>What's that.</s>\n<s>Yyy.</s>\n"
        );
        assert_eq!(
            clean("switchboard.dev", "A.1: Uh, do you ?\nB.2: Yeah.\n"),
            "<s>Uh, do you?</s>\n<s>Yeah.</s>\n"
        );
        assert_eq!(
            clean(
                "open_subtitles.train",
                "- Hi there.\nSubtitles by ExampleTeam\n- Bye.\n"
            ),
            "<s>Hi there.</s>\n<s>Bye.</s>\n"
        );
        assert_eq!(
            clean(
                "simple_wiki.train",
                "= = Career = =\nHe won a 2 @-@ 1 game .\n"
            ),
            "<s>He won a 2-1 game.</s>\n"
        );
        assert_eq!(
            clean("gutenberg.train", "It was _very_\nlong.\n\nNext.\n"),
            "<s>It was very long.</s>\n<s>Next.</s>\n"
        );
    }

    #[test]
    fn jsonl_needs_text() {
        assert_eq!(
            clean("x.jsonl", "{\"text\": \"A b .\"}\n{\"text\": \"C\"}\n"),
            "<s>A b.</s>\n<s>C</s>\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("bad.jsonl");
        fs_err::write(&src, "{\"text\": \"ok\"}\n{\"body\": \"no\"}\n").unwrap();
        let err = clean_file(&src, &dir.path().join("o"), CleanOptions::default()).unwrap_err();
        assert!(format!("{err:#}").contains("bad.jsonl:2"), "{err:#}");
        assert!(!dir.path().join("o").exists());
    }

    #[test]
    fn invalid_utf8_names_the_offset_unless_lossy() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("bad.txt");
        fs_err::write(&src, b"fine line\nbad \xff byte\n").unwrap();
        let dest = dir.path().join("o.txt");
        let err = format!(
            "{:#}",
            clean_file(&src, &dest, CleanOptions::default()).unwrap_err()
        );
        assert!(
            err.contains("byte offset 14") && err.contains("line 2"),
            "{err}"
        );
        assert!(!dest.exists());
        clean_file(&src, &dest, CleanOptions { lossy: true }).unwrap();
        assert!(fs_err::read_to_string(&dest)
            .unwrap()
            .contains("bad \u{fffd} byte"));
    }
}
