//! `lmeff data mix`: a composite corpus (the study's `hybrid_3.7B`) drawn from local source folders
//! with given fractions of a word budget: examples of 10–2000 words (longer ones cut into pieces),
//! exact duplicates removed across all sources, a seeded 5% dev split, one example per line
//! (written as `{"text": …}` JSON lines so each example stays one document when cleaned).

use fs_err::File;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::layout::RAW_EXTENSIONS;
use super::tokens::mix64;
use crate::io::{write_json_atomic, Staged};

/// One source of the mix.
#[derive(Debug, Clone, Serialize)]
pub struct MixSource {
    pub name: String,
    pub dir: PathBuf,
    pub fraction: f64,
}

impl std::str::FromStr for MixSource {
    type Err = String;

    /// `name=DIR:FRACTION`, e.g. `wikipedia=/data/wiki:0.15`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, rest) = s.split_once('=').ok_or("expected NAME=DIR:FRACTION")?;
        let (dir, frac) = rest.rsplit_once(':').ok_or("expected NAME=DIR:FRACTION")?;
        let fraction: f64 = frac.parse().map_err(|_| format!("bad fraction `{frac}`"))?;
        if name.is_empty() || !(fraction > 0.0 && fraction <= 1.0) {
            return Err(format!("`{s}`: needs a name and a fraction in (0, 1]"));
        }
        Ok(MixSource {
            name: name.into(),
            dir: dir.into(),
            fraction,
        })
    }
}

/// Parameters of a mix (the study's defaults in [`MixSpec::study`]).
#[derive(Debug, Clone, Serialize)]
pub struct MixSpec {
    pub sources: Vec<MixSource>,
    pub words: u64,
    pub min_words: usize,
    pub max_words: usize,
    pub dev_fraction: f64,
    pub seed: u64,
}

impl MixSpec {
    /// The study's example bounds, split and seed around the given sources and budget.
    pub fn study(sources: Vec<MixSource>, words: u64) -> MixSpec {
        MixSpec {
            sources,
            words,
            min_words: 10,
            max_words: 2000,
            dev_fraction: 0.05,
            seed: 1337,
        }
    }
}

/// What a mix produced, per source (also written to `mix.json`).
#[derive(Debug, Clone, Serialize)]
pub struct MixReport {
    pub spec: MixSpec,
    pub per_source: Vec<SourceCount>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceCount {
    pub name: String,
    pub quota_words: u64,
    pub words: u64,
    pub train_examples: u64,
    pub dev_examples: u64,
    pub duplicates: u64,
}

/// Builds the dataset folder `dest` (`train/<source>.jsonl`, `dev/<source>.jsonl`, `mix.json`).
pub fn mix(spec: &MixSpec, dest: &Path) -> Result<MixReport> {
    let total: f64 = spec.sources.iter().map(|s| s.fraction).sum();
    if (total - 1.0).abs() > 1e-6 {
        bail!("source fractions sum to {total}, not 1");
    }
    let staged = Staged::new(dest)?;
    fs_err::create_dir_all(staged.path().join("train"))?;
    fs_err::create_dir_all(staged.path().join("dev"))?;
    let mut seen = HashSet::new();
    let mut per_source = Vec::new();
    for (si, source) in spec.sources.iter().enumerate() {
        let quota = (spec.words as f64 * source.fraction).round() as u64;
        let mut count = SourceCount {
            name: source.name.clone(),
            quota_words: quota,
            words: 0,
            train_examples: 0,
            dev_examples: 0,
            duplicates: 0,
        };
        let open = |split: &str| -> Result<BufWriter<File>> {
            Ok(BufWriter::new(File::create(
                staged
                    .path()
                    .join(split)
                    .join(format!("{}.jsonl", source.name)),
            )?))
        };
        let (mut train, mut dev) = (open("train")?, open("dev")?);
        let mut files = source_files(&source.dir)?;
        // Seeded file order: which files fill the quota does not depend on directory listing order.
        files.sort_by_key(|f| {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            mix64(spec.seed, si as u64, fnv1a(&name))
        });
        let mut index = 0u64;
        'files: for file in files {
            for example in examples(&file)? {
                let example = example?;
                let words: Vec<&str> = example.split_whitespace().collect();
                for piece in words.chunks(spec.max_words) {
                    if count.words >= quota {
                        break 'files;
                    }
                    if piece.len() < spec.min_words {
                        continue;
                    }
                    let text = piece.join(" ");
                    let digest = Sha256::digest(text.as_bytes());
                    let key = u128::from_le_bytes(digest[..16].try_into().expect("16 bytes"));
                    if !seen.insert(key) {
                        count.duplicates += 1;
                        continue;
                    }
                    let to_dev = (mix64(spec.seed, si as u64, index) as f64 / u64::MAX as f64)
                        < spec.dev_fraction;
                    index += 1;
                    let line = serde_json::to_string(&serde_json::json!({ "text": text }))?;
                    if to_dev {
                        writeln!(dev, "{line}")?;
                        count.dev_examples += 1;
                    } else {
                        writeln!(train, "{line}")?;
                        count.train_examples += 1;
                    }
                    count.words += piece.len() as u64;
                }
            }
        }
        train.flush()?;
        dev.flush()?;
        if count.words < quota {
            warn!(
                source = source.name,
                words = count.words,
                quota,
                "source ran out before its quota"
            );
        }
        info!(
            source = source.name,
            words = count.words,
            train = count.train_examples,
            dev = count.dev_examples,
            duplicates = count.duplicates,
            "mixed"
        );
        per_source.push(count);
    }
    let report = MixReport {
        spec: spec.clone(),
        per_source,
    };
    write_json_atomic(&staged.path().join("mix.json"), &report)?;
    staged.commit()?;
    Ok(report)
}

/// FNV-1a: a stable 64-bit hash (the standard library's is randomised per process).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn source_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in
        fs_err::read_dir(dir).with_context(|| format!("reading mix source {}", dir.display()))?
    {
        let path = entry?.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if path.is_file() && RAW_EXTENSIONS.contains(&ext) {
            files.push(path);
        }
    }
    if files.is_empty() {
        bail!("mix source {} holds no text files", dir.display());
    }
    Ok(files)
}

/// Examples of a file: its non-empty lines, or the `text` of each JSON line.
fn examples(path: &Path) -> Result<impl Iterator<Item = Result<String>>> {
    let jsonl = path.extension().is_some_and(|e| e == "jsonl");
    let reader =
        BufReader::new(File::open(path).with_context(|| format!("opening {}", path.display()))?);
    let path = path.to_owned();
    Ok(reader.lines().enumerate().filter_map(move |(i, line)| {
        let line = match line {
            Ok(l) => l,
            Err(e) => return Some(Err(anyhow::anyhow!("{}:{}: {e}", path.display(), i + 1))),
        };
        if line.trim().is_empty() {
            return None;
        }
        if !jsonl {
            return Some(Ok(line));
        }
        let value: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                return Some(Err(anyhow::anyhow!(
                    "{}:{}: invalid JSON: {e}",
                    path.display(),
                    i + 1
                )))
            }
        };
        Some(match value.get("text").and_then(|t| t.as_str()) {
            Some(t) => Ok(t.to_owned()),
            None => Err(anyhow::anyhow!(
                "{}:{}: JSON line has no string field `text`",
                path.display(),
                i + 1
            )),
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_source(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
        let d = dir.join(name);
        fs_err::create_dir_all(&d).unwrap();
        fs_err::write(d.join("a.txt"), lines.join("\n")).unwrap();
        d
    }

    #[test]
    fn budget_fractions_dedup_and_split() {
        let tmp = tempfile::tempdir().unwrap();
        let line = |tag: &str, i: usize| format!("{tag} example {i} {}", "word ".repeat(20));
        let mut a: Vec<String> = (0..400).map(|i| line("alpha", i)).collect();
        a.push(line("alpha", 3)); // an exact duplicate
        a.push("too short".into());
        let b: Vec<String> = (0..400).map(|i| line("beta", i)).collect();
        let sources = vec![
            MixSource {
                name: "a".into(),
                dir: write_source(tmp.path(), "a", &a),
                fraction: 0.25,
            },
            MixSource {
                name: "b".into(),
                dir: write_source(tmp.path(), "b", &b),
                fraction: 0.75,
            },
        ];
        let dest = tmp.path().join("mixed");
        let report = mix(&MixSpec::study(sources.clone(), 4000), &dest).unwrap();
        let (ra, rb) = (&report.per_source[0], &report.per_source[1]);
        assert_eq!((ra.quota_words, rb.quota_words), (1000, 3000));
        assert!(ra.words >= 1000 && ra.words < 1000 + 23, "{ra:?}");
        assert!(rb.words >= 3000 && rb.words < 3000 + 23, "{rb:?}");
        let lines = fs_err::read_to_string(dest.join("train/b.jsonl")).unwrap();
        assert_eq!(lines.lines().count() as u64, rb.train_examples);
        assert!(rb.dev_examples > 0 && rb.dev_examples < rb.train_examples / 5);
        // Same seed, same mix.
        let again = tmp.path().join("again");
        mix(&MixSpec::study(sources.clone(), 4000), &again).unwrap();
        assert_eq!(
            lines,
            fs_err::read_to_string(again.join("train/b.jsonl")).unwrap()
        );
        // Duplicates are dropped when the whole source is taken.
        let all = mix(&MixSpec::study(sources, 1_000_000), &tmp.path().join("all")).unwrap();
        assert_eq!(all.per_source[0].duplicates, 1);
        assert_eq!(
            all.per_source[0].train_examples + all.per_source[0].dev_examples,
            400
        );
    }

    #[test]
    fn fractions_must_sum_to_one() {
        let s: MixSource = "x=/nowhere:0.5".parse().unwrap();
        let err = mix(&MixSpec::study(vec![s], 10), Path::new("/tmp/never")).unwrap_err();
        assert!(err.to_string().contains("sum to 0.5"));
        assert!("bad".parse::<MixSource>().is_err());
    }
}
