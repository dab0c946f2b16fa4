//! The Hub calls lmeff makes, through the `hf-hub` crate: repository and branch creation, folder
//! uploads and branch listings; checkpoint downloads go through [`super::download`].
//! Every failure says which repository and revision it concerns, and never carries the token.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Result};
use hf_hub::repository::RepoTypeModel;
use hf_hub::{HFClient, HFClientSync, HFError, HFRepositorySync};

use super::credentials::Credentials;
use super::names::RepoId;

/// A branch and the commit it points to.
#[derive(Debug, Clone, PartialEq)]
pub struct BranchHead {
    pub name: String,
    pub commit: String,
}

/// A connection to one Hub endpoint.
pub struct Hub {
    client: HFClientSync,
    creds: Credentials,
}

impl Hub {
    pub fn connect(creds: Credentials) -> Result<Hub> {
        let mut builder = HFClient::builder()
            .endpoint(creds.endpoint.clone())
            .retry_max_attempts(3)
            .retry_base_delay(Duration::from_millis(500));
        if let Some(t) = &creds.token {
            builder = builder.token(t.secret());
        }
        let client = builder
            .build_sync()
            .map_err(|e| anyhow!("the Hub client: {}", creds.scrub(&e.to_string())))?;
        Ok(Hub { client, creds })
    }

    pub fn endpoint(&self) -> &str {
        &self.creds.endpoint
    }

    fn repo(&self, repo: &RepoId) -> HFRepositorySync<RepoTypeModel> {
        self.client.model(repo.owner.clone(), repo.name.clone())
    }

    /// `HF_NAMESPACE`, else the token's owner.
    pub fn namespace(&self) -> Result<String> {
        if let Some(ns) = &self.creds.namespace {
            return Ok(ns.clone());
        }
        if self.creds.token.is_none() {
            return Err(anyhow!(
                "no Hub token: set HF_TOKEN (in the environment or a .env file) to publish, and \
                 HF_NAMESPACE to publish under an organisation"
            ));
        }
        let user = self
            .client
            .whoami()
            .send()
            .map_err(|e| self.explain(e, "asking the Hub who the token belongs to", None))?;
        Ok(user.username)
    }

    /// Creates `repo` when it does not exist (private unless `public`).
    pub fn ensure_repo(&self, repo: &RepoId, public: bool) -> Result<()> {
        self.client
            .create_repository()
            .repo_id(&repo.to_string())
            .repo_type(RepoTypeModel)
            .private(!public)
            .exist_ok(true)
            .send()
            .map_err(|e| self.explain(e, &format!("creating the repository {repo}"), Some(repo)))?;
        Ok(())
    }

    /// The branches of `repo`.
    pub fn branches(&self, repo: &RepoId) -> Result<Vec<BranchHead>> {
        let refs =
            self.repo(repo).list_refs().send().map_err(|e| {
                self.explain(e, &format!("listing the branches of {repo}"), Some(repo))
            })?;
        Ok(refs
            .branches
            .into_iter()
            .map(|b| BranchHead {
                name: b.name,
                commit: b.target_commit,
            })
            .collect())
    }

    /// Whether `repo` at `revision` has `file`.
    pub fn has_file(&self, repo: &RepoId, revision: &str, file: &str) -> Result<bool> {
        self.repo(repo)
            .file_exists()
            .filename(file)
            .revision(revision)
            .send()
            .map_err(|e| {
                self.explain(
                    e,
                    &format!("looking for {file} in {repo}@{revision}"),
                    Some(repo),
                )
            })
    }

    /// Creates `branch` from `main`.
    pub fn create_branch(&self, repo: &RepoId, branch: &str) -> Result<()> {
        self.repo(repo)
            .create_branch()
            .branch(branch)
            .send()
            .map_err(|e| {
                self.explain(
                    e,
                    &format!("creating branch {branch} of {repo}"),
                    Some(repo),
                )
            })
    }

    /// Commits every file of `dir` to `branch`; returns the commit id when the Hub says it. Large
    /// files go through LFS ([`super::upload`]), or through Xet by `hf-hub` when the Hub offers it.
    pub fn upload(
        &self,
        repo: &RepoId,
        dir: &std::path::Path,
        branch: &str,
        message: &str,
    ) -> Result<Option<String>> {
        let agent = crate::data::fetch::http::agent();
        let up = super::upload::Upload {
            agent: &agent,
            endpoint: &self.creds.endpoint,
            auth: self
                .creds
                .token
                .as_ref()
                .map(|t| format!("Bearer {}", t.secret())),
            repo,
            branch,
        };
        let files = super::upload::files_of(dir)?;
        match up.commit(&files, message) {
            Ok(super::upload::Committed::Done(commit)) => return Ok(commit),
            Ok(super::upload::Committed::UseXet) => {}
            Err(e) => return Err(anyhow!(self.creds.scrub(&format!("{e:#}")))),
        }
        let info = self
            .repo(repo)
            .upload_folder()
            .folder_path(dir.to_path_buf())
            .revision(branch.to_owned())
            .commit_message(message.to_owned())
            .send()
            .map_err(|e| {
                self.explain(
                    e,
                    &format!("uploading {} to {repo}@{branch}", dir.display()),
                    Some(repo),
                )
            })?;
        Ok(info.commit_oid)
    }

    /// The snapshot folder of `repo` at `revision` in the cache, downloading the files scoring
    /// reads that it lacks (from the cache alone with `HF_HUB_OFFLINE`).
    pub fn download(&self, repo: &RepoId, revision: &str) -> Result<PathBuf> {
        let offline = std::env::var("HF_HUB_OFFLINE")
            .is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
        super::download::Downloader::new(&self.creds)
            .snapshot(repo, revision, offline)
            .map_err(|e| anyhow!(self.creds.scrub(&format!("{e:#}"))))
    }

    /// A failure as the user can act on it, without the token.
    fn explain(&self, e: HFError, doing: &str, repo: Option<&RepoId>) -> anyhow::Error {
        let at = &self.creds.endpoint;
        let token = if self.creds.token.is_some() {
            "the token (HF_TOKEN) cannot read it"
        } else {
            "no token is set (HF_TOKEN, in the environment or a .env file)"
        };
        let repo = repo.map_or("the repository".to_owned(), |r| r.to_string());
        let why = match (&e, error_code(&e)) {
            (HFError::RepoNotFound { .. }, _) | (_, Some("RepoNotFound")) => {
                format!("{repo} does not exist on {at}, or it is private and {token}")
            }
            (HFError::RevisionNotFound { revision, .. }, _) => format!(
                "{repo} has no revision `{revision}` (`lmeff hub revisions {repo}` lists its branches)"
            ),
            (HFError::AuthRequired { .. } | HFError::Forbidden { .. }, _) => {
                format!("{at} refused: {repo} is private or the action needs a token, and {token}")
            }
            (HFError::LocalEntryNotFound { path }, _) => {
                format!("HF_HUB_OFFLINE is set and the cache holds no {path}")
            }
            _ => self.creds.scrub(&e.to_string()),
        };
        anyhow!("{doing}: {why}")
    }
}

/// The Hub's `X-Error-Code` of a failed response.
fn error_code(e: &HFError) -> Option<&str> {
    let context = match e {
        HFError::Http { context }
        | HFError::AuthRequired { context }
        | HFError::Forbidden { context } => Some(context),
        HFError::RepoNotFound { context, .. }
        | HFError::RevisionNotFound { context, .. }
        | HFError::EntryNotFound { context, .. } => context.as_ref(),
        _ => None,
    };
    context?.error_code.as_deref()
}
