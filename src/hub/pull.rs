//! Pulling released checkpoints: the revisions of a repository (every checkpoint branch in token
//! order, or those named), each downloaded into the standard cache and checked to be a LLaMA
//! checkpoint lmeff can score before anything is computed.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::client::{BranchHead, Hub};
use super::names::{Branch, RepoId};
use crate::config::layout::checkpoint;

/// A checkpoint from the Hub: its snapshot folder in the cache and where it came from.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub dir: PathBuf,
    pub repo: RepoId,
    pub revision: String,
}

/// The branches of `repo`: checkpoint branches in (seed, run, tokens) order, then the others.
pub fn revisions(hub: &Hub, repo: &RepoId) -> Result<Vec<(BranchHead, Option<Branch>)>> {
    let mut all: Vec<(BranchHead, Option<Branch>)> = hub
        .branches(repo)?
        .into_iter()
        .map(|h| {
            let b = Branch::parse(&h.name);
            (h, b)
        })
        .collect();
    all.sort_by(|a, b| match (&a.1, &b.1) {
        (Some(x), Some(y)) => x
            .sort_key()
            .partial_cmp(&y.sort_key())
            .unwrap_or(std::cmp::Ordering::Equal),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.0.name.cmp(&b.0.name),
    });
    Ok(all)
}

/// Downloads `revisions` of `repo` (default: every checkpoint branch) and checks each.
pub fn pull(hub: &Hub, repo: &RepoId, revisions_wanted: Option<&[String]>) -> Result<Vec<Pulled>> {
    let wanted: Vec<String> = match revisions_wanted {
        Some(r) => r.to_vec(),
        None => {
            let found: Vec<String> = revisions(hub, repo)?
                .into_iter()
                .filter(|(_, b)| b.is_some())
                .map(|(h, _)| h.name)
                .collect();
            if found.is_empty() {
                bail!(
                    "{repo} has no checkpoint branches (seed-<S>[-tokens-<M>M]); name a revision with --revision"
                );
            }
            found
        }
    };
    let mut out = Vec::new();
    for revision in wanted {
        let dir = hub.download(repo, &revision)?;
        check_llama(&dir, repo, &revision)?;
        out.push(Pulled {
            dir,
            repo: repo.clone(),
            revision,
        });
    }
    Ok(out)
}

/// Refuses a snapshot that is not a LLaMA checkpoint in safetensors with a tokenizer.
fn check_llama(dir: &Path, repo: &RepoId, revision: &str) -> Result<()> {
    let mut files: Vec<String> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    for f in [
        checkpoint::CONFIG_FILE,
        checkpoint::MODEL_FILE,
        checkpoint::TOKENIZER_FILE,
    ] {
        if !files.iter().any(|x| x == f) {
            bail!(
                "{repo}@{revision} is not a checkpoint lmeff can score: it has no {f} (its files: {})",
                files.join(", ")
            );
        }
    }
    let config: serde_json::Value = checkpoint::read_json(&dir.join(checkpoint::CONFIG_FILE))?;
    match config.get("model_type").and_then(|t| t.as_str()) {
        Some("llama") => Ok(()),
        other => bail!(
            "{repo}@{revision} is not a LLaMA checkpoint: its config.json says model_type {}",
            other.map_or("(none)".to_owned(), |t| format!("`{t}`"))
        ),
    }
}
