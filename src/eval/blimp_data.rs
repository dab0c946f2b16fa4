//! The BLiMP minimal pairs: 67 paradigms of 1000 pairs, one `.jsonl` file each in `blimp_dir`.
//! Missing files, bad JSON, missing fields and paradigms with other than 1000 pairs are errors
//! naming the file and line.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::data::blimp_paradigms::BLIMP_PARADIGMS;

/// Pairs per paradigm in BLiMP.
pub const PAIRS_PER_PARADIGM: usize = 1000;

/// One minimal pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub paradigm: String,
    /// BLiMP's `pairID` ("0" … "999" in the files) as the integer it is.
    pub pair_id: i64,
    pub field: String,
    pub linguistics_term: String,
    pub good: String,
    pub bad: String,
}

#[derive(Deserialize)]
struct Line {
    sentence_good: String,
    sentence_bad: String,
    field: String,
    linguistics_term: String,
    #[serde(rename = "UID")]
    uid: String,
    #[serde(rename = "pairID")]
    pair_id: serde_json::Value,
}

/// The paradigms to evaluate: `selected` (validated against the 67 names) or all, in BLiMP order.
pub fn paradigms(selected: Option<&[String]>, blimp_dir: &Path) -> Result<Vec<String>> {
    match selected {
        None => Ok(BLIMP_PARADIGMS.iter().map(|p| p.to_string()).collect()),
        Some(names) => {
            let mut out = Vec::new();
            for n in names {
                if !BLIMP_PARADIGMS.contains(&n.as_str()) {
                    bail!(
                        "--paradigms: {n:?} is not a BLiMP paradigm (the 67 are named as the files {}/<paradigm>.jsonl, e.g. {})",
                        blimp_dir.display(),
                        BLIMP_PARADIGMS[0]
                    );
                }
                if !out.contains(n) {
                    out.push(n.clone());
                }
            }
            if out.is_empty() {
                bail!("--paradigms: no paradigm given");
            }
            Ok(out)
        }
    }
}

/// Reads and checks the pairs of `paradigms` from `dir`.
pub fn load(dir: &Path, paradigms: &[String]) -> Result<Vec<Pair>> {
    let mut pairs = Vec::with_capacity(paradigms.len() * PAIRS_PER_PARADIGM);
    for name in paradigms {
        let path = dir.join(format!("{name}.jsonl"));
        let text = fs_err::read_to_string(&path).with_context(|| {
            format!(
                "reading BLiMP paradigm {} (set blimp_dir, or run `lmeff data fetch blimp`)",
                path.display()
            )
        })?;
        let before = pairs.len();
        for (i, raw) in text.lines().enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            let at = || format!("{}:{}", path.display(), i + 1);
            let line: Line =
                serde_json::from_str(raw).with_context(|| format!("{}: not a BLiMP pair", at()))?;
            if line.uid != *name {
                bail!(
                    "{}: UID {:?} does not match the file's paradigm {name}",
                    at(),
                    line.uid
                );
            }
            if line.sentence_good.trim().is_empty() || line.sentence_bad.trim().is_empty() {
                bail!("{}: empty sentence", at());
            }
            let pair_id = match &line.pair_id {
                serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
                serde_json::Value::Number(n) => n.as_i64(),
                _ => None,
            };
            let Some(pair_id) = pair_id else {
                bail!("{}: pairID {} is not an integer", at(), line.pair_id);
            };
            pairs.push(Pair {
                paradigm: name.clone(),
                pair_id,
                field: line.field,
                linguistics_term: line.linguistics_term,
                good: line.sentence_good,
                bad: line.sentence_bad,
            });
        }
        let n = pairs.len() - before;
        if n != PAIRS_PER_PARADIGM {
            bail!(
                "{}: {n} pairs, expected {PAIRS_PER_PARADIGM}",
                path.display()
            );
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(uid: &str, id: usize) -> String {
        format!(
            r#"{{"sentence_good": "A cat sat.", "sentence_bad": "A sat cat.", "field": "syntax", "linguistics_term": "t", "UID": "{uid}", "pairID": "{id}"}}"#
        )
    }

    #[test]
    fn bad_files_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let name = "adjunct_island";
        let f = dir.path().join(format!("{name}.jsonl"));
        let good: Vec<String> = (0..1000).map(|i| line(name, i)).collect();
        fs_err::write(&f, good.join("\n")).unwrap();
        assert_eq!(load(dir.path(), &[name.into()]).unwrap().len(), 1000);

        let mut bad = good.clone();
        bad[6] = "{not json".into();
        fs_err::write(&f, bad.join("\n")).unwrap();
        let e = format!("{:#}", load(dir.path(), &[name.into()]).unwrap_err());
        assert!(
            e.contains("adjunct_island.jsonl:7") && e.contains("not a BLiMP pair"),
            "{e}"
        );

        let mut bad = good.clone();
        bad[2] = bad[2].replace(r#""field": "syntax", "#, "");
        fs_err::write(&f, bad.join("\n")).unwrap();
        let e = format!("{:#}", load(dir.path(), &[name.into()]).unwrap_err());
        assert!(
            e.contains(":3") && e.contains("missing field `field`"),
            "{e}"
        );

        fs_err::write(&f, good[..999].join("\n")).unwrap();
        let e = format!("{:#}", load(dir.path(), &[name.into()]).unwrap_err());
        assert!(e.contains("999 pairs, expected 1000"), "{e}");

        let e = format!(
            "{:#}",
            load(dir.path(), &["anaphor_gender_agreement".into()]).unwrap_err()
        );
        assert!(e.contains("anaphor_gender_agreement.jsonl"), "{e}");
        let err = paradigms(Some(&["nope".into()]), Path::new("/my/blimp")).unwrap_err();
        assert!(
            format!("{err}").contains("/my/blimp/<paradigm>.jsonl"),
            "{err}"
        );
        assert_eq!(paradigms(None, Path::new("b")).unwrap().len(), 67);
    }
}
