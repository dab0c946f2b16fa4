//! What a fetch takes: sources whole or some of their files (`SOURCE[:FILE,…]`), expanded into
//! the files to download.

use std::str::FromStr;

use anyhow::{anyhow, bail, Result};

use super::sources::{FileSpec, Sources};
use crate::data::blimp_paradigms::BLIMP_PARADIGMS;

/// A source to fetch, whole or some of its files: `NAME` or `NAME:FILE[,FILE…]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub source: String,
    /// File names to fetch (empty: all of the source).
    pub files: Vec<String>,
}

impl FromStr for Pick {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (source, files) = match s.split_once(':') {
            Some((source, files)) => (source, files.split(',').map(str::to_owned).collect()),
            None => (s, vec![]),
        };
        let files: Vec<String> = files;
        if source.is_empty() || files.iter().any(String::is_empty) {
            return Err(format!("`{s}`: expected SOURCE or SOURCE:FILE[,FILE…]"));
        }
        Ok(Pick {
            source: source.to_owned(),
            files,
        })
    }
}

/// One file of a fetch: a source entry with its URL expanded.
#[derive(Debug, Clone)]
pub struct Wanted<'a> {
    pub source: &'a str,
    pub spec: &'a FileSpec,
    pub url: String,
    /// The name it is picked and mirrored by: `name`, else the URL's last segment.
    pub key: String,
}

/// The files `picks` name, in the order of the sources file; a file name no pick's source has
/// is an error listing the files it does have.
pub fn select<'a>(sources: &'a Sources, picks: &[Pick]) -> Result<Vec<Wanted<'a>>> {
    let mut out = Vec::new();
    for pick in picks {
        let (source, specs) = sources.get_key_value(&pick.source).ok_or_else(|| {
            anyhow!(
                "unknown source `{}` (known: {})",
                pick.source,
                sources.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        let mut all = Vec::new();
        for spec in specs {
            let urls: Vec<String> = if spec.each_paradigm {
                BLIMP_PARADIGMS
                    .iter()
                    .map(|p| spec.url.replace("{paradigm}", p))
                    .collect()
            } else {
                vec![spec.url.clone()]
            };
            for url in urls {
                let key = match &spec.name {
                    Some(n) => n.clone(),
                    None => url
                        .trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .filter(|n| !n.is_empty() && !n.contains(':'))
                        .ok_or_else(|| anyhow!("{url}: no file name in the URL; give `name`"))?
                        .to_owned(),
                };
                all.push(Wanted {
                    source,
                    spec,
                    url,
                    key,
                });
            }
        }
        for file in &pick.files {
            if !all.iter().any(|w| &w.key == file) {
                bail!(
                    "source `{source}` has no file `{file}` (its files: {})",
                    all.iter()
                        .map(|w| w.key.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        out.extend(
            all.into_iter()
                .filter(|w| pick.files.is_empty() || pick.files.contains(&w.key)),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn shipped() -> Sources {
        super::super::load_sources(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/sources.toml"),
        )
        .unwrap()
        .files
    }

    #[test]
    fn picks_name_a_source_and_maybe_some_files() {
        let pick: Pick = "tinystories:TinyStoriesV2-GPT4-valid.txt".parse().unwrap();
        assert_eq!(pick.files, ["TinyStoriesV2-GPT4-valid.txt"]);
        assert_eq!("blimp".parse::<Pick>().unwrap().files.len(), 0);
        assert!("babylm3:".parse::<Pick>().is_err());
        assert!(":x".parse::<Pick>().is_err());

        let s = shipped();
        let picks: Vec<Pick> = [
            "tinystories:TinyStoriesV2-GPT4-valid.txt",
            "babylm3:train_10M.zip",
            "blimp",
        ]
        .iter()
        .map(|p| p.parse().unwrap())
        .collect();
        let wanted = select(&s, &picks).unwrap();
        assert_eq!(wanted.len(), 1 + 1 + 67);
        assert_eq!(
            wanted[1].url,
            "https://osf.io/download/6819fd8d91a6c4b6d4159848/"
        );
        assert_eq!(wanted[2].key, "adjunct_island.jsonl");

        let err = select(&s, &["babylm3:train_1M.zip".parse().unwrap()]).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("no file `train_1M.zip`") && msg.contains("train_10M.zip"),
            "{msg}"
        );
        let err = select(&s, &["wiki".parse().unwrap()]).unwrap_err();
        assert!(format!("{err:#}").contains("unknown source `wiki`"));
    }
}
