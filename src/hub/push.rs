//! Publishing a run's checkpoints: each checkpoint folder goes to its branch of the study's
//! repository ([`super::names`]); `main` is initialised with the first checkpoint pushed, as the
//! study did. What has been pushed is recorded in the run folder (`hub_push.json`: branch, commit
//! and the weights' sha256), so a push repeats nothing, and `lmeff status` can say what is not
//! yet on the Hub.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::client::Hub;
use super::names::{Branch, RepoId};
use crate::config::layout::checkpoint::{self, run_checkpoints};
use crate::config::layout::meta::{read_meta, CheckpointMeta};
use crate::config::CheckpointLabel;
use crate::io::{sha256_file, write_json_atomic};

/// The record of what has been pushed, in the run folder.
pub const PUSHED_FILE: &str = "hub_push.json";

/// One checkpoint folder and where it goes.
#[derive(Debug, Clone)]
pub struct PushItem {
    pub dir: PathBuf,
    pub repo: RepoId,
    pub branch: Branch,
    pub weights_sha256: String,
    /// Already on the Hub with these weights (by the run's record).
    pub pushed: bool,
}

/// A pushed checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushedEntry {
    pub repo: String,
    pub branch: String,
    pub commit: Option<String>,
    pub weights_sha256: String,
}

/// `hub_push.json`: checkpoint folder name → what was pushed.
pub type Pushed = BTreeMap<String, PushedEntry>;

pub fn read_pushed(run: &Path) -> Result<Pushed> {
    let path = run.join(PUSHED_FILE);
    if !path.is_file() {
        return Ok(Pushed::new());
    }
    checkpoint::read_json(&path)
}

fn folder(dir: &Path) -> String {
    dir.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// The weights' sha256: from `checksums.json` when the folder has one, else hashed.
fn weights_sha256(dir: &Path) -> Result<String> {
    let sums = dir.join(checkpoint::CHECKSUMS_FILE);
    if sums.is_file() {
        let sums: BTreeMap<String, String> = checkpoint::read_json(&sums)?;
        if let Some(s) = sums.get(checkpoint::MODEL_FILE) {
            return Ok(s.clone());
        }
    }
    sha256_file(&dir.join(checkpoint::MODEL_FILE))
}

/// The item of one finished checkpoint folder written by lmeff.
pub fn item(dir: &Path, namespace: &str, pushed: &Pushed) -> Result<PushItem> {
    checkpoint::check_files(dir)?;
    let meta: CheckpointMeta = read_meta(dir)?.with_context(|| {
        format!(
            "{}: no lmeff {}; only lmeff's checkpoints know their repository and branch",
            dir.display(),
            checkpoint::META_FILE
        )
    })?;
    let sha = weights_sha256(dir)?;
    let repo = RepoId::of(namespace, &meta)?;
    let branch = Branch::of(&meta)
        .with_context(|| format!("{}", dir.join(checkpoint::META_FILE).display()))?;
    let done = pushed.get(&folder(dir)).is_some_and(|p| {
        p.weights_sha256 == sha && p.repo == repo.to_string() && p.branch == branch.to_string()
    });
    Ok(PushItem {
        dir: dir.to_owned(),
        repo,
        branch,
        weights_sha256: sha,
        pushed: done,
    })
}

/// Every finished checkpoint of `run` and where it goes.
pub fn plan(run: &Path, namespace: &str) -> Result<Vec<PushItem>> {
    let pushed = read_pushed(run)?;
    let mut items = Vec::new();
    for c in run_checkpoints(run)? {
        if checkpoint::is_checkpoint(&c.dir) {
            items.push(item(&c.dir, namespace, &pushed)?);
        }
    }
    Ok(items)
}

/// The finished checkpoints of `run` that its record does not show on the Hub.
pub fn unpushed(run: &Path) -> Result<Vec<String>> {
    let pushed = read_pushed(run)?;
    let mut out = Vec::new();
    for c in run_checkpoints(run)? {
        if !checkpoint::is_checkpoint(&c.dir) {
            continue;
        }
        let done = pushed
            .get(&folder(&c.dir))
            .is_some_and(|p| weights_sha256(&c.dir).is_ok_and(|s| s == p.weights_sha256));
        if !done {
            out.push(folder(&c.dir));
        }
    }
    Ok(out)
}

/// Pushes one checkpoint: creates the repository (private unless `public`), initialises `main`
/// with it when `main` holds no model yet, creates its branch and commits its files there; then
/// records it in the run folder `run`.
pub fn push(hub: &Hub, run: &Path, item: &PushItem, public: bool) -> Result<PushedEntry> {
    let (repo, branch) = (&item.repo, item.branch.to_string());
    if !checkpoint::is_checkpoint(&item.dir) {
        bail!("{}: the checkpoint is gone", item.dir.display());
    }
    // A damaged checkpoint is never published (nor recorded as pushed).
    checkpoint::verify(&item.dir).with_context(|| {
        format!(
            "{}: refusing to push a checkpoint that fails its {}",
            item.dir.display(),
            checkpoint::CHECKSUMS_FILE
        )
    })?;
    if weights_sha256(&item.dir)? != item.weights_sha256 {
        bail!(
            "{}: the weights changed since the push was planned",
            item.dir.display()
        );
    }
    hub.ensure_repo(repo, public)?;
    let heads = hub.branches(repo)?;
    if !hub.has_file(repo, "main", checkpoint::CONFIG_FILE)? {
        hub.upload(
            repo,
            &item.dir,
            "main",
            &format!("Initialize repository with {branch}"),
        )?;
    }
    if !heads.iter().any(|h| h.name == branch) {
        hub.create_branch(repo, &branch)?;
    }
    let what = match item.branch.checkpoint {
        CheckpointLabel::Milestone(m) => format!("Milestone at {m}M tokens"),
        other => format!("{} checkpoint", other),
    };
    let commit = hub.upload(repo, &item.dir, &branch, &what)?;
    let entry = PushedEntry {
        repo: repo.to_string(),
        branch,
        commit,
        weights_sha256: item.weights_sha256.clone(),
    };
    let mut pushed = read_pushed(run)?;
    pushed.insert(folder(&item.dir), entry.clone());
    write_json_atomic(&run.join(PUSHED_FILE), &pushed)?;
    Ok(entry)
}
