//! Where a checkpoint's results go, the study's layout under `results_dir`:
//!
//! ```text
//! blimp/<dataset>/<size>/seed-<S>/tok-<V>[-wsd]/[budget-<M>M/]<milestone>/   BLiMP
//! glue/<dataset>/<size>/seed-<S>/tok-<V>[-wsd]/[budget-<M>M/]<milestone>/    GLUE
//! blimp/hub/<owner>/<repository>/<revision>/    a Hub checkpoint whose names say nothing of it
//! ```
//!
//! and the reverse: a BLiMP result's identity read back from the folders above its file (how the
//! study's lm-eval tree is collected).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};

use crate::config::identity::{schedule_suffix, RunKey};
use crate::config::train::ScheduleKind;
use crate::config::units::Anchor;

/// The results folder of a study.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultLayout {
    root: PathBuf,
}

/// A checkpoint's place in the layout: its run and its milestone folder (`25`, `final`, or a
/// revision's label).
#[derive(Debug, Clone, PartialEq)]
pub struct ResultPlace {
    pub run: RunKey,
    pub milestone: String,
}

impl ResultLayout {
    pub fn at(results: &Path) -> ResultLayout {
        ResultLayout {
            root: results.to_owned(),
        }
    }

    /// The BLiMP folder of `place`.
    pub fn blimp(&self, place: &ResultPlace) -> PathBuf {
        self.root.join("blimp").join(Self::tail(place))
    }

    /// The GLUE folder of `place`.
    pub fn glue(&self, place: &ResultPlace) -> PathBuf {
        self.root.join("glue").join(Self::tail(place))
    }

    /// Where a Hub checkpoint's BLiMP results go when its names say nothing of the layout.
    pub fn hub_fallback(&self, owner: &str, repository: &str, revision: &str) -> PathBuf {
        self.root
            .join("blimp")
            .join("hub")
            .join(owner)
            .join(repository)
            .join(revision)
    }

    fn tail(place: &ResultPlace) -> PathBuf {
        let run = &place.run;
        let wsd = schedule_suffix(run.schedule, "-");
        let dir = PathBuf::from(&run.dataset)
            .join(&run.model)
            .join(format!("seed-{}", run.seed))
            .join(format!("tok-{}{wsd}", run.vocab_size));
        let dir = match run.anchor {
            Anchor::Full => dir,
            Anchor::Budget(m) => dir.join(format!("budget-{m}M")),
        };
        dir.join(&place.milestone)
    }

    /// The place of the BLiMP result file `path`, read from the folders above it (the nearest
    /// `blimp/` and what follows it).
    pub fn parse_blimp(path: &Path) -> Result<ResultPlace> {
        let parts: Vec<String> = path
            .parent()
            .map(|p| p.iter().map(|c| c.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let blimp = parts
            .iter()
            .rposition(|p| p == "blimp")
            .ok_or_else(|| anyhow!("not under a `blimp/` folder"))?;
        let rest = &parts[blimp + 1..];
        let [dataset, model, seed, tok, tail @ ..] = rest else {
            bail!("expected blimp/<dataset>/<size>/seed-<S>/tok-<V>/<milestone>/");
        };
        let seed: u64 = seed
            .strip_prefix("seed-")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("{seed:?} is not seed-<S>"))?;
        let (tok, schedule) = match tok.strip_suffix("-wsd") {
            Some(t) => (t, ScheduleKind::Wsd),
            None => (tok.as_str(), ScheduleKind::Cosine),
        };
        let vocab_size: u32 = tok
            .strip_prefix("tok-")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("{tok:?} is not tok-<V>"))?;
        let (anchor, milestone) = match tail {
            [m] => (Anchor::Full, m),
            [b, m] if b.starts_with("budget-") => {
                let a = b.trim_start_matches("budget-");
                (a.parse().map_err(|e: String| anyhow!("{b:?}: {e}"))?, m)
            }
            _ => bail!("expected <milestone>/ or budget-<M>M/<milestone>/ after tok-<V>/"),
        };
        Ok(ResultPlace {
            run: RunKey {
                dataset: dataset.clone(),
                model: model.clone(),
                vocab_size,
                seed,
                anchor,
                schedule,
            },
            milestone: milestone.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_round_trip_through_their_folders() {
        let layout = ResultLayout::at(Path::new("res"));
        for (anchor, schedule, rel) in [
            ("full", ScheduleKind::Cosine, "ts/20m/seed-2/tok-8000/final"),
            (
                "25M",
                ScheduleKind::Wsd,
                "ts/20m/seed-2/tok-8000-wsd/budget-25M/final",
            ),
        ] {
            let place = ResultPlace {
                run: RunKey {
                    dataset: "ts".into(),
                    model: "20m".into(),
                    vocab_size: 8000,
                    seed: 2,
                    anchor: anchor.parse().unwrap(),
                    schedule,
                },
                milestone: "final".into(),
            };
            let dir = layout.blimp(&place);
            assert_eq!(dir, Path::new("res/blimp").join(rel));
            assert_eq!(layout.glue(&place), Path::new("res/glue").join(rel));
            let file = dir.join("blimp_results.json");
            assert_eq!(ResultLayout::parse_blimp(&file).unwrap(), place);
        }
        for (bad, says) in [
            (
                "x/ts/20m/seed-2/tok-8000/final/r.json",
                "not under a `blimp/`",
            ),
            (
                "blimp/ts/20m/seed-x/tok-8000/final/r.json",
                "is not seed-<S>",
            ),
            (
                "blimp/ts/20m/seed-1/tok-8000/budget-x/final/r.json",
                "\"budget-x\"",
            ),
            (
                "blimp/ts/20m/seed-1/tok-8000/a/b/r.json",
                "expected <milestone>/",
            ),
        ] {
            let err = ResultLayout::parse_blimp(Path::new(bad))
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
        assert_eq!(
            layout.hub_fallback("org", "repo", "main"),
            Path::new("res/blimp/hub/org/repo/main")
        );
    }
}
