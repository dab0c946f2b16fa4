//! The study's names on the Hub: one repository per (dataset, model, tokenizer vocabulary),
//! `{namespace}/{dataset}-{model}-tok{V}`, and one branch per checkpoint: `seed-{S}-tokens-{M}M`
//! for a milestone and `seed-{S}` for the final weights. lmeff adds what the study did not
//! publish: `seed-{S}-init`, budget runs (`seed-{S}-budget-{B}M[-tokens-{M}M]`) and `-wsd`
//! repositories for warmup–stable–decay runs. Names are read back the same way, so a pulled
//! checkpoint knows what it is without any other file.

use std::fmt;

use anyhow::{bail, Result};

use crate::config::layout::meta::CheckpointMeta;
use crate::config::CheckpointLabel;
use crate::config::{schedule_suffix, Anchor, Millions, ScheduleKind};

/// `owner/name` of a model repository.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RepoId {
    pub owner: String,
    pub name: String,
}

impl RepoId {
    /// Reads `owner/name`.
    pub fn parse(text: &str) -> Result<RepoId> {
        let valid = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        match text.split_once('/') {
            Some((owner, name)) if valid(owner) && valid(name) => Ok(RepoId {
                owner: owner.into(),
                name: name.into(),
            }),
            _ => bail!(
                "`{text}` is not a Hub model repository: expected owner/name (letters, digits, -, _, .)"
            ),
        }
    }

    /// The study's repository of a checkpoint: `{namespace}/{dataset}-{model}-tok{V}[-wsd]`.
    pub fn of(namespace: &str, meta: &CheckpointMeta) -> Result<RepoId> {
        let run = &meta.key.run;
        RepoId::parse(&format!(
            "{namespace}/{}-{}-tok{}{}",
            run.dataset,
            run.model,
            run.vocab_size,
            schedule_suffix(run.schedule, "-")
        ))
    }

    /// What the study's name says: (dataset, model, vocab size, schedule), when it is one.
    pub fn identity(&self) -> Option<(String, String, u32, Option<ScheduleKind>)> {
        let (stem, schedule) = match self.name.strip_suffix("-wsd") {
            Some(stem) => (stem, Some(ScheduleKind::Wsd)),
            None => (self.name.as_str(), None),
        };
        let (rest, vocab) = stem.rsplit_once("-tok")?;
        let vocab: u32 = vocab.parse().ok()?;
        let (dataset, model) = rest.rsplit_once('-')?;
        (!dataset.is_empty() && model.ends_with('m'))
            .then(|| (dataset.to_owned(), model.to_owned(), vocab, schedule))
    }
}

impl fmt::Display for RepoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// A checkpoint's branch: its seed, its run's budget (`None`: the full run) and which checkpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Branch {
    pub seed: u64,
    pub budget: Option<Millions>,
    pub checkpoint: CheckpointLabel,
}

impl Branch {
    /// The branch of a checkpoint described by its `milestone_meta.json`.
    pub fn of(meta: &CheckpointMeta) -> Result<Branch> {
        Ok(Branch {
            seed: meta.key.run.seed,
            budget: match meta.key.run.anchor {
                Anchor::Full => None,
                Anchor::Budget(m) => Some(m),
            },
            checkpoint: meta.key.label,
        })
    }

    /// Reads a branch name; `None` for any other revision (`main`, a tag, a commit).
    pub fn parse(revision: &str) -> Option<Branch> {
        let rest = revision.strip_prefix("seed-")?;
        let (seed, mut rest) = rest.split_once('-').unwrap_or((rest, ""));
        let seed: u64 = seed.parse().ok()?;
        let mut budget = None;
        if let Some(r) = rest.strip_prefix("budget-") {
            let (b, tail) = r.split_once('M')?;
            budget = Some(millions(b)?);
            rest = match tail {
                "" => "",
                t => t.strip_prefix('-')?,
            };
        }
        let checkpoint = match rest {
            "" => CheckpointLabel::Final,
            "init" => CheckpointLabel::Init,
            _ => CheckpointLabel::Milestone(millions(
                rest.strip_prefix("tokens-")?.strip_suffix('M')?,
            )?),
        };
        Some(Branch {
            seed,
            budget,
            checkpoint,
        })
    }

    /// Order for listings: seed, full run before budgets, checkpoints in token order.
    pub fn sort_key(&self) -> (u64, f64, f64) {
        let at = match self.checkpoint {
            CheckpointLabel::Init => -1.0,
            CheckpointLabel::Milestone(m) => m.get(),
            CheckpointLabel::Final => f64::INFINITY,
        };
        (self.seed, self.budget.map_or(-1.0, |b| b.get()), at)
    }
}

fn millions(text: &str) -> Option<Millions> {
    text.parse::<f64>().ok().and_then(|m| Millions::new(m).ok())
}

impl fmt::Display for Branch {
    /// The branch name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed-{}", self.seed)?;
        if let Some(b) = self.budget {
            write!(f, "-budget-{b}M")?;
        }
        match self.checkpoint {
            CheckpointLabel::Init => f.write_str("-init"),
            CheckpointLabel::Milestone(m) => write!(f, "-tokens-{m}M"),
            CheckpointLabel::Final => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(x: f64) -> Millions {
        Millions::new(x).unwrap()
    }

    #[test]
    fn branches_read_back_as_written() {
        for (b, name) in [
            (
                (0, None, CheckpointLabel::Milestone(m(25.0))),
                "seed-0-tokens-25M",
            ),
            ((3, None, CheckpointLabel::Final), "seed-3"),
            ((1, None, CheckpointLabel::Init), "seed-1-init"),
            (
                (2, Some(m(0.05)), CheckpointLabel::Final),
                "seed-2-budget-0.05M",
            ),
            (
                (2, Some(m(100.0)), CheckpointLabel::Milestone(m(25.0))),
                "seed-2-budget-100M-tokens-25M",
            ),
        ] {
            let branch = Branch {
                seed: b.0,
                budget: b.1,
                checkpoint: b.2,
            };
            assert_eq!(branch.to_string(), name);
            assert_eq!(Branch::parse(name), Some(branch), "{name}");
        }
        for other in [
            "main",
            "seed-x",
            "seed-1-tokens-25",
            "seed-1-budget-M",
            "tokens-25M",
            "seed-1-foo",
        ] {
            assert_eq!(Branch::parse(other), None, "{other}");
        }
    }

    #[test]
    fn repository_names_carry_the_identity() {
        let r = RepoId::parse("someone/babylm3-20m-tok8000").unwrap();
        assert_eq!(
            r.identity(),
            Some(("babylm3".into(), "20m".into(), 8000, None))
        );
        let w = RepoId::parse("lab/web-mix-180m-tok50257-wsd").unwrap();
        assert_eq!(
            w.identity(),
            Some((
                "web-mix".into(),
                "180m".into(),
                50257,
                Some(ScheduleKind::Wsd)
            ))
        );
        assert_eq!(
            RepoId::parse("openai-community/gpt2").unwrap().identity(),
            None
        );
        for bad in ["gpt2", "a/b/c", "/x", "a b/c"] {
            assert!(RepoId::parse(bad).is_err(), "{bad}");
        }
    }
}
