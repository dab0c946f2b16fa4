//! A checkpoint's files from the Hub into the standard cache, in the layout Python's
//! `huggingface_hub` reads and writes (`models--<owner>--<name>/` with `blobs/<etag>`,
//! `snapshots/<commit>/<file>` linking to its blob, and `refs/<revision>` holding the commit), so
//! either reuses what the other downloaded. Only the files scoring reads are fetched. Every name
//! that comes from the server — the commit id, each file's ETag — is checked before it becomes a
//! path, a revision before it names a ref, and a file whose ETag is its sha256 (large files) is
//! checked against it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;

use super::credentials::Credentials;
use super::names::RepoId;
use crate::config::layout::checkpoint;
use crate::data::fetch::http;

/// The files of a checkpoint that scoring reads (the first three it needs).
pub const FILES: [&str; 7] = [
    checkpoint::CONFIG_FILE,
    checkpoint::MODEL_FILE,
    checkpoint::TOKENIZER_FILE,
    checkpoint::TOKENIZER_CONFIG_FILE,
    checkpoint::META_FILE,
    checkpoint::CHECKSUMS_FILE,
    "special_tokens_map.json",
];

/// The cache: `HF_HUB_CACHE`, else `$HF_HOME/hub` ([`crate::data::hub::hf_home`]).
pub fn cache_dir() -> PathBuf {
    match std::env::var("HF_HUB_CACHE").ok().filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => crate::data::hub::hf_home().join("hub"),
    }
}

/// Whether `s` is a full commit id (40 hex digits).
pub fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Refuses a revision that cannot name a ref file in the cache: empty, absolute, with an empty,
/// `.` or `..` part, a backslash or a control character.
pub fn check_revision(revision: &str) -> Result<()> {
    let bad = revision.is_empty()
        || revision.starts_with('/')
        || revision.contains('\\')
        || revision.chars().any(char::is_control)
        || revision
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..");
    match bad {
        true => bail!("revision {revision:?} is not a branch, tag or commit name"),
        false => Ok(()),
    }
}

#[derive(Deserialize)]
struct RevisionInfo {
    sha: Option<String>,
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(Deserialize)]
struct Sibling {
    rfilename: String,
}

/// A connection for downloads: the endpoint, the token (sent to the endpoint only) and the cache.
pub struct Downloader<'a> {
    creds: &'a Credentials,
    cache: PathBuf,
    /// Follows redirects, the token only to the same host.
    agent: ureq::Agent,
    /// Follows none, to read a large file's headers before its redirect to storage.
    head: ureq::Agent,
    retry_delay: Duration,
}

impl<'a> Downloader<'a> {
    pub fn new(creds: &'a Credentials) -> Downloader<'a> {
        Downloader {
            creds,
            cache: cache_dir(),
            agent: http::agent(),
            head: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(15))
                .timeout_read(Duration::from_secs(120))
                .redirects(0)
                .build(),
            retry_delay: Duration::from_secs(1),
        }
    }

    fn auth(&self) -> Option<String> {
        self.creds
            .token
            .as_ref()
            .map(|t| format!("Bearer {}", t.secret()))
    }

    fn get(&self, agent: &ureq::Agent, method: &str, url: &str) -> ureq::Request {
        let req = agent.request(method, url);
        match self.auth() {
            Some(a) => req.set("Authorization", &a),
            None => req,
        }
    }

    /// The snapshot folder of `repo` at `revision`, downloading the files it lacks; with
    /// `offline`, from the cache alone.
    pub fn snapshot(&self, repo: &RepoId, revision: &str, offline: bool) -> Result<PathBuf> {
        check_revision(revision)?;
        let folder = self
            .cache
            .join(format!("models--{}--{}", repo.owner, repo.name));
        if offline {
            return self.cached(&folder, repo, revision);
        }
        let info = self.revision_info(repo, revision)?;
        let commit = info.sha.unwrap_or_default();
        if !is_commit(&commit) {
            bail!(
                "{}: the Hub answered commit id {commit:?} for {repo}@{revision}, which is not one \
                 (40 hex digits); nothing was downloaded",
                self.creds.endpoint
            );
        }
        let snapshot = folder.join("snapshots").join(&commit);
        for file in FILES {
            if info.siblings.iter().any(|s| s.rfilename == file) {
                self.file(&folder, &snapshot, repo, revision, &commit, file)?;
            }
        }
        if !snapshot.is_dir() {
            bail!(
                "{repo}@{revision} has none of the files of a checkpoint ({})",
                FILES[..3].join(", ")
            );
        }
        if revision != commit {
            let r = folder.join("refs").join(revision);
            crate::io::write_bytes_atomic(&r, commit.as_bytes())?;
        }
        Ok(snapshot)
    }

    /// The snapshot the cache holds for `revision`, without a request.
    fn cached(&self, folder: &Path, repo: &RepoId, revision: &str) -> Result<PathBuf> {
        let commit = match is_commit(revision) {
            true => revision.to_owned(),
            false => std::fs::read_to_string(folder.join("refs").join(revision))
                .map(|c| c.trim().to_owned())
                .unwrap_or_default(),
        };
        let snapshot = folder.join("snapshots").join(&commit);
        if !is_commit(&commit) || !snapshot.join(checkpoint::MODEL_FILE).is_file() {
            bail!(
                "HF_HUB_OFFLINE is set and the cache ({}) holds no {repo}@{revision}",
                self.cache.display()
            );
        }
        Ok(snapshot)
    }

    /// `api/models/<repo>/revision/<revision>`: the commit and the files there.
    fn revision_info(&self, repo: &RepoId, revision: &str) -> Result<RevisionInfo> {
        let url = format!(
            "{}/api/models/{repo}/revision/{}",
            self.creds.endpoint,
            revision.replace('/', "%2F")
        );
        let mut tries = 0;
        loop {
            tries += 1;
            match self.get(&self.agent, "GET", &url).call() {
                Ok(resp) => {
                    return serde_json::from_reader(resp.into_reader()).with_context(|| {
                        format!("{repo}@{revision}: the Hub's answer is not a revision")
                    })
                }
                Err(ureq::Error::Status(code, resp)) if code < 500 && code != 429 => {
                    return Err(self.refused(code, &resp, repo, revision))
                }
                Err(e) if tries < 4 => {
                    tracing::warn!("{repo}@{revision}: {e} (try {tries} of 4)");
                    std::thread::sleep(self.retry_delay * (1 << (tries - 1)));
                }
                Err(e) => bail!("asking {} for {repo}@{revision}: {e}", self.creds.endpoint),
            }
        }
    }

    /// An error answer as the user can act on it.
    fn refused(
        &self,
        code: u16,
        resp: &ureq::Response,
        repo: &RepoId,
        revision: &str,
    ) -> anyhow::Error {
        let at = &self.creds.endpoint;
        let token = match self.creds.token {
            Some(_) => "the token (HF_TOKEN) cannot read it",
            None => "no token is set (HF_TOKEN, in the environment or a .env file)",
        };
        match (code, resp.header("X-Error-Code")) {
            (404, Some("RevisionNotFound")) => anyhow!(
                "downloading {repo}@{revision}: {repo} has no revision `{revision}` \
                 (`lmeff hub revisions {repo}` lists its branches)"
            ),
            (401 | 404, _) => anyhow!(
                "downloading {repo}@{revision}: {repo} does not exist on {at}, or it is private \
                 and {token}"
            ),
            (403, _) => anyhow!("downloading {repo}@{revision}: {at} refused: {token}"),
            _ => anyhow!("downloading {repo}@{revision}: HTTP {code} from {at}"),
        }
    }

    /// One file into the cache: its blob (named by its checked ETag, verified against it when it
    /// is a sha256) and its link in the snapshot.
    fn file(
        &self,
        folder: &Path,
        snapshot: &Path,
        repo: &RepoId,
        revision: &str,
        commit: &str,
        file: &str,
    ) -> Result<()> {
        let link = snapshot.join(file);
        if link.is_file() {
            return Ok(());
        }
        let url = format!("{}/{repo}/resolve/{commit}/{file}", self.creds.endpoint);
        let what = format!("{repo}@{revision}: {file}");
        let resp = match self.get(&self.head, "HEAD", &url).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, _)) => bail!("{what}: HTTP {code} from {url}"),
            Err(e) => bail!("{what}: {e}"),
        };
        let etag = resp
            .header("X-Linked-Etag")
            .or_else(|| resp.header("ETag"))
            .map(|e| e.trim_start_matches("W/").trim_matches('"').to_owned())
            .unwrap_or_default();
        let hex = etag.bytes().all(|b| b.is_ascii_hexdigit());
        if !(hex && (etag.len() == 40 || etag.len() == 64)) {
            bail!("{what}: the Hub's ETag {etag:?} is not a file hash; nothing was written");
        }
        if let Some(c) = resp.header("X-Repo-Commit").filter(|c| *c != commit) {
            bail!("{what}: the Hub answered for commit {c:?}, not {commit}");
        }
        let blob = folder.join("blobs").join(&etag);
        if !blob.is_file() {
            fs_err::create_dir_all(folder.join("blobs"))?;
            let part = folder.join("blobs").join(format!("{etag}.incomplete"));
            http::download(
                &self.agent,
                &url,
                &part,
                self.retry_delay,
                self.auth().as_deref(),
            )
            .with_context(|| what.clone())?;
            if etag.len() == 64 && crate::io::sha256_file(&part)? != etag.to_ascii_lowercase() {
                fs_err::remove_file(&part)?;
                bail!("{what}: the download does not match its sha256 {etag}; nothing was kept");
            }
            fs_err::rename(&part, &blob)?;
        }
        fs_err::create_dir_all(snapshot)?;
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(Path::new("../../blobs").join(&etag), &link)
            .with_context(|| format!("linking {}", link.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_server_are_checked() {
        assert!(is_commit(&"a1".repeat(20)));
        assert!(!is_commit("../../../../victim"));
        assert!(!is_commit(&"g".repeat(40)));
        for ok in ["main", "seed-0-tokens-25M", "refs/pr/1", &"ab".repeat(20)] {
            assert!(check_revision(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/etc", "a/../b", "..", "a//b", "a\\b", "a\0b"] {
            assert!(check_revision(bad).is_err(), "{bad:?}");
        }
    }
}
