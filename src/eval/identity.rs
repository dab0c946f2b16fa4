//! What a checkpoint is, and so where its results go: from lmeff's `milestone_meta.json`, from
//! the study's (`tokens_seen`, `global_step`, `milestone`, `dataset`, `model_config`, `seed`,
//! `tokenizer_vocab_size`), and for a checkpoint from the Hub from its repository name and
//! revision (`{dataset}-{model}-tok{V}`, `seed-{S}-tokens-{M}M`), `config.json` filling in the
//! vocabulary. A Hub checkpoint whose names say nothing goes to `blimp/hub/<owner>/<name>/<revision>`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::config::layout::checkpoint;
use crate::config::layout::meta::CheckpointMeta;
use crate::config::layout::ResultLayout;
use crate::config::{Anchor, CheckpointLabel, SeedMode};
use crate::hub::pull::Pulled;
use crate::hub::Branch;
use crate::results::blimp::ResultKey;

/// A checkpoint to evaluate: a folder, pulled from the Hub or not.
#[derive(Debug, Clone)]
pub struct Target {
    pub dir: PathBuf,
    pub hub: Option<Pulled>,
}

impl From<PathBuf> for Target {
    fn from(dir: PathBuf) -> Target {
        Target { dir, hub: None }
    }
}

/// The study's `milestone_meta.json`.
#[derive(Debug, Clone, Deserialize)]
struct StudyMeta {
    tokens_seen: Option<u64>,
    /// `25M`.
    milestone: Option<String>,
    dataset: Option<String>,
    /// `20m`.
    model_config: Option<String>,
    seed: Option<u64>,
    tokenizer_vocab_size: Option<u32>,
}

/// Either schema of `milestone_meta.json`: lmeff's (it records `lmeff_version`; read strictly)
/// or the study's.
enum AnyMeta {
    Lmeff(CheckpointMeta),
    Study(StudyMeta),
}

impl AnyMeta {
    fn read(path: &Path) -> Result<AnyMeta> {
        let v: serde_json::Value = checkpoint::read_json(path)?;
        let parsed = match v.get("lmeff_version") {
            Some(_) => serde_json::from_value(v).map(AnyMeta::Lmeff),
            None => serde_json::from_value(v).map(AnyMeta::Study),
        };
        parsed.with_context(|| format!("parsing {}", path.display()))
    }
}

/// The result key of `target` with weights `sha`.
pub fn identity(target: &Target, sha: String) -> Result<ResultKey> {
    let dir = &target.dir;
    let meta: Option<AnyMeta> = match dir.join(checkpoint::META_FILE) {
        p if p.is_file() => Some(AnyMeta::read(&p)?),
        _ => None,
    };
    let folder = dir
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let mut key = ResultKey {
        dataset: None,
        model_size: None,
        vocab_size: None,
        seed: None,
        anchor: None,
        schedule: None,
        seed_mode: None,
        milestone: CheckpointLabel::label_of(&folder),
        tokens_seen: None,
        checkpoint: dir.clone(),
        checkpoint_sha256: sha,
    };
    if let Some(hub) = &target.hub {
        key.checkpoint = PathBuf::from(format!("hf://{}@{}", hub.repo, hub.revision));
        key.milestone = hub.revision.clone();
        if let Some((dataset, model, vocab, schedule)) = hub.repo.identity() {
            (key.dataset, key.model_size, key.vocab_size) =
                (Some(dataset), Some(model), Some(vocab));
            key.schedule = schedule;
        }
        if let Some(b) = Branch::parse(&hub.revision) {
            key.seed = Some(b.seed);
            key.anchor = Some(b.budget.map_or(Anchor::Full, Anchor::Budget));
            key.milestone = b.checkpoint.label();
        }
        key.vocab_size = key.vocab_size.or(config_vocab(dir));
    }
    let had_meta = meta.is_some();
    match meta {
        Some(AnyMeta::Lmeff(m)) => {
            let run = &m.key.run;
            key.dataset = Some(run.dataset.clone());
            key.model_size = Some(run.model.clone());
            key.vocab_size = Some(run.vocab_size);
            key.seed = Some(run.seed);
            key.anchor = Some(run.anchor);
            key.schedule = run.schedule.written();
            key.seed_mode = (m.seed_mode != SeedMode::Both).then_some(m.seed_mode);
            key.tokens_seen = Some(m.tokens_seen);
            key.milestone = m.key.label.label();
        }
        Some(AnyMeta::Study(m)) => {
            key.dataset = m.dataset.or(key.dataset);
            key.model_size = m.model_config.map(|s| s.to_lowercase()).or(key.model_size);
            key.vocab_size = m.tokenizer_vocab_size.or(key.vocab_size);
            key.seed = m.seed.or(key.seed);
            key.anchor = key.anchor.or(Some(Anchor::Full));
            key.tokens_seen = m.tokens_seen;
            let from_branch = target
                .hub
                .as_ref()
                .is_some_and(|h| Branch::parse(&h.revision).is_some());
            if let Some(ms) = m.milestone.filter(|_| !from_branch) {
                key.milestone = CheckpointLabel::label_of(&format!("milestone-{ms}"));
            }
        }
        None => {}
    }
    check_names(&key, dir, target, had_meta)?;
    Ok(key)
}

/// Refuses names that would not be one folder of the results layout: read from a checkpoint's
/// metadata or from the Hub, they are checked as names from flags are (`../x` or an absolute
/// path would put results outside the results folder).
fn check_names(key: &ResultKey, dir: &Path, target: &Target, had_meta: bool) -> Result<()> {
    // The milestone of a plain folder is its own name, which the user chose; anchors and
    // schedules are typed, so always folder names.
    let outside = had_meta || target.hub.is_some();
    let fields = [
        ("dataset", key.dataset.as_deref()),
        ("model size", key.model_size.as_deref()),
        (
            "milestone",
            Some(key.milestone.as_str()).filter(|_| outside),
        ),
    ];
    for (field, value) in fields {
        let Some(v) = value.filter(|v| !crate::config::is_folder_name(v)) else {
            continue;
        };
        let from = match &target.hub {
            Some(h) => format!("{}@{}", h.repo, h.revision),
            None => dir.display().to_string(),
        };
        bail!(
            "{from}: its {field} {v:?} (from {} or its name) cannot name a results folder: names \
             are letters, digits, `_`, `-` and `.`, not starting with `.`; nothing was evaluated",
            checkpoint::META_FILE
        );
    }
    Ok(())
}

/// `vocab_size` of the folder's `config.json`.
fn config_vocab(dir: &Path) -> Option<u32> {
    let config: serde_json::Value =
        checkpoint::read_json(&dir.join(checkpoint::CONFIG_FILE)).ok()?;
    config.get("vocab_size")?.as_u64().map(|v| v as u32)
}

/// Where a Hub checkpoint's results go when its names say nothing of the study's layout.
pub fn hub_fallback_dir(results: &Path, hub: &Pulled) -> PathBuf {
    ResultLayout::at(results).hub_fallback(&hub.repo.owner, &hub.repo.name, &hub.revision)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::RepoId;

    fn pulled(dir: &Path, repo: &str, revision: &str) -> Target {
        Target {
            dir: dir.to_owned(),
            hub: Some(Pulled {
                dir: dir.to_owned(),
                repo: RepoId::parse(repo).unwrap(),
                revision: revision.into(),
            }),
        }
    }

    #[test]
    fn the_study_schema_and_hub_names_give_the_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("0123abcd");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(
            dir.join("config.json"),
            r#"{"vocab_size": 8000, "model_type": "llama"}"#,
        )
        .unwrap();
        let key = identity(
            &pulled(&dir, "lab/babylm3-20m-tok8000", "seed-2-tokens-25M"),
            "s".into(),
        )
        .unwrap();
        let results = Path::new("/r");
        assert_eq!(
            key.results_dir(results).unwrap(),
            results.join("blimp/babylm3/20m/seed-2/tok-8000/25")
        );
        assert_eq!(
            key.checkpoint,
            PathBuf::from("hf://lab/babylm3-20m-tok8000@seed-2-tokens-25M")
        );

        std::fs::write(
            dir.join(checkpoint::META_FILE),
            r#"{"tokens_seen": 50000000, "global_step": 97, "milestone": "50M", "dataset": "tinystories",
                "model_config": "60M", "seed": 1, "tokenizer_vocab_size": 16000}"#,
        )
        .unwrap();
        let local = identity(&Target::from(dir.clone()), "s".into()).unwrap();
        assert_eq!(
            local.results_dir(results).unwrap(),
            results.join("blimp/tinystories/60m/seed-1/tok-16000/50")
        );
        assert_eq!(local.tokens_seen, Some(50_000_000));

        let final_ = identity(&pulled(&dir, "x/some-model", "seed-1"), "s".into()).unwrap();
        assert_eq!(final_.milestone, "final");
        let other = identity(
            &pulled(&tmp.path().join("none"), "x/some-model", "main"),
            "s".into(),
        )
        .unwrap();
        assert_eq!(other.results_dir(results), None);
        assert_eq!(other.milestone, "main");
    }
}
