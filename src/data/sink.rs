//! Where a composite corpus's examples go, one source at a time (`data mix`, `data fetch hybrid`):
//! whitespace flattened to one line, examples outside the word bounds dropped (or cut, as an
//! option), exact duplicates removed, a seeded share sent to dev, each written as a `{"text": …}`
//! JSON line and counted against the source's word quota.

use fs_err::{File, OpenOptions};
use std::collections::HashSet;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::rng::mix64;

/// What happens to an example longer than the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LongExamples {
    /// Left out, as the study's `hybrid_dataset.py` does.
    #[default]
    Drop,
    /// Cut into pieces of at most the bound (pieces under the minimum are left out).
    Cut,
}

/// The examples a corpus keeps, and how it splits them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Admission {
    pub min_words: usize,
    pub max_words: usize,
    pub long: LongExamples,
    pub dev_fraction: f64,
    pub seed: u64,
}

impl Admission {
    /// The study's: 10–2000 words, longer ones dropped, 5% dev, seed 1337.
    pub fn study() -> Admission {
        Admission {
            min_words: 10,
            max_words: 2000,
            long: LongExamples::Drop,
            dev_fraction: 0.05,
            seed: 1337,
        }
    }
}

/// Exact-duplicate keys (the first 128 bits of the text's SHA-256).
pub type Seen = HashSet<u128>;

/// The key of a flattened example.
pub fn key(text: &str) -> u128 {
    let digest = Sha256::digest(text.as_bytes());
    u128::from_le_bytes(digest[..16].try_into().expect("16 bytes"))
}

/// What one source gave.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SourceCount {
    pub name: String,
    pub quota_words: u64,
    pub words: u64,
    pub train_examples: u64,
    pub dev_examples: u64,
    pub duplicates: u64,
    /// Examples (or pieces) outside the word bounds.
    pub out_of_bounds: u64,
}

impl SourceCount {
    pub fn full(&self) -> bool {
        self.words >= self.quota_words
    }

    /// Logs the count with `what` happened.
    pub fn log(&self, what: &str) {
        tracing::info!(
            source = self.name,
            words = self.words,
            train = self.train_examples,
            dev = self.dev_examples,
            duplicates = self.duplicates,
            out_of_bounds = self.out_of_bounds,
            "{what}"
        );
    }
}

/// One source's train and dev files being written.
pub struct Sink<'a> {
    train: BufWriter<File>,
    dev: BufWriter<File>,
    pub count: SourceCount,
    admission: &'a Admission,
    /// Distinguishes the sources' dev draws.
    source_index: u64,
}

impl<'a> Sink<'a> {
    /// Opens `train` and `dev` for appending (created when absent), continuing `count`.
    pub fn open(
        train: &Path,
        dev: &Path,
        count: SourceCount,
        admission: &'a Admission,
        source_index: u64,
    ) -> Result<Sink<'a>> {
        let open = |p: &Path| -> Result<BufWriter<File>> {
            Ok(BufWriter::new(
                OpenOptions::new().create(true).append(true).open(p)?,
            ))
        };
        Ok(Sink {
            train: open(train)?,
            dev: open(dev)?,
            count,
            admission,
            source_index,
        })
    }

    /// Offers one raw example; stops taking once the quota is filled.
    pub fn offer(&mut self, example: &str, seen: &mut Seen) -> Result<()> {
        let words: Vec<&str> = example.split_whitespace().collect();
        let a = self.admission;
        if words.len() > a.max_words && a.long == LongExamples::Drop {
            self.count.out_of_bounds += 1;
            return Ok(());
        }
        for piece in words.chunks(a.max_words) {
            if self.count.full() {
                return Ok(());
            }
            if piece.len() < a.min_words {
                self.count.out_of_bounds += 1;
                continue;
            }
            let text = piece.join(" ");
            if !seen.insert(key(&text)) {
                self.count.duplicates += 1;
                continue;
            }
            let index = self.count.train_examples + self.count.dev_examples;
            let draw = mix64(a.seed, self.source_index, index) as f64 / u64::MAX as f64;
            let line = serde_json::to_string(&serde_json::json!({ "text": text }))?;
            if draw < a.dev_fraction {
                writeln!(self.dev, "{line}")?;
                self.count.dev_examples += 1;
            } else {
                writeln!(self.train, "{line}")?;
                self.count.train_examples += 1;
            }
            self.count.words += piece.len() as u64;
        }
        Ok(())
    }

    /// Writes everything through to disk; returns the count.
    pub fn finish(mut self) -> Result<SourceCount> {
        for f in [&mut self.train, &mut self.dev] {
            f.flush()?;
            f.get_ref().sync_all()?;
        }
        Ok(self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_duplicates_and_the_quota() {
        let dir = tempfile::tempdir().unwrap();
        let (train, dev) = (dir.path().join("t.jsonl"), dir.path().join("d.jsonl"));
        let a = Admission {
            max_words: 20,
            ..Admission::study()
        };
        let count = SourceCount {
            quota_words: 45,
            ..Default::default()
        };
        let mut sink = Sink::open(&train, &dev, count, &a, 0).unwrap();
        let mut seen = Seen::new();
        let twelve = "one  two\tthree four five six seven eight nine ten eleven twelve";
        sink.offer("too short", &mut seen).unwrap();
        sink.offer(&"long ".repeat(30), &mut seen).unwrap();
        sink.offer(twelve, &mut seen).unwrap();
        sink.offer(&twelve.replace('\t', " "), &mut seen).unwrap();
        for i in 0..5 {
            sink.offer(&format!("{i} {twelve}"), &mut seen).unwrap();
        }
        let c = sink.finish().unwrap();
        assert_eq!((c.out_of_bounds, c.duplicates), (2, 1));
        assert_eq!(c.words, 12 + 13 + 13 + 13, "stops once 45 words are in");
        let lines =
            fs_err::read_to_string(&train).unwrap() + &fs_err::read_to_string(&dev).unwrap();
        assert!(lines.contains(r#"{"text":"one two three"#));
        // Cutting instead: a 30-word example gives a 20-word piece and a 10-word one.
        let a = Admission {
            long: LongExamples::Cut,
            ..a
        };
        let mut sink = Sink::open(
            &train,
            &dev,
            SourceCount {
                quota_words: 100,
                ..Default::default()
            },
            &a,
            0,
        )
        .unwrap();
        sink.offer(&"long ".repeat(30), &mut Seen::new()).unwrap();
        assert_eq!(sink.finish().unwrap().words, 30);
    }
}
