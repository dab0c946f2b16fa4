//! `lmeff data mix`: a composite corpus (the study's `hybrid_3.7B`) drawn from local source folders
//! with given fractions of a word budget, admitted as [`super::sink`] does (10–2000 words, longer
//! ones dropped or cut, exact duplicates removed within each source or across all, a seeded 5% dev
//! split, one `{"text": …}` JSON line per example so each stays one document when cleaned).

use fs_err::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tracing::warn;

use super::layout::RAW_EXTENSIONS;
use super::sink::{Admission, Seen, Sink, SourceCount};
use crate::io::{write_json_atomic, Staged};
use crate::rng::{fnv1a, mix64};

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
    pub admission: Admission,
    /// Remove an example also when another source gave it.
    pub dedup_across_sources: bool,
}

impl MixSpec {
    /// The study's example bounds, split and seed around the given sources and budget.
    pub fn study(sources: Vec<MixSource>, words: u64) -> MixSpec {
        MixSpec {
            sources,
            words,
            admission: Admission::study(),
            dedup_across_sources: false,
        }
    }
}

/// What a mix produced, per source (also written to `mix.json`).
#[derive(Debug, Clone, Serialize)]
pub struct MixReport {
    pub spec: MixSpec,
    pub per_source: Vec<SourceCount>,
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
    let mut seen = Seen::new();
    let mut per_source = Vec::new();
    for (si, source) in spec.sources.iter().enumerate() {
        if !spec.dedup_across_sources {
            seen.clear();
        }
        let file = |split: &str| {
            staged
                .path()
                .join(split)
                .join(format!("{}.jsonl", source.name))
        };
        let count = SourceCount {
            name: source.name.clone(),
            quota_words: (spec.words as f64 * source.fraction).round() as u64,
            ..Default::default()
        };
        let seed = spec.admission.seed;
        let mut sink = Sink::open(
            &file("train"),
            &file("dev"),
            count,
            &spec.admission,
            si as u64,
        )?;
        let mut files = source_files(&source.dir)?;
        // Seeded file order: which files fill the quota does not depend on directory listing order.
        files.sort_by_key(|f| {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            mix64(seed, si as u64, fnv1a(&name))
        });
        'files: for file in files {
            for example in examples(&file)? {
                sink.offer(&example?, &mut seen)?;
                if sink.count.full() {
                    break 'files;
                }
            }
        }
        let count = sink.finish()?;
        if !count.full() {
            warn!(
                source = source.name,
                words = count.words,
                quota = count.quota_words,
                "source ran out before its quota"
            );
        }
        count.log("mixed");
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
