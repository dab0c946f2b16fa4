//! Dataset files on the Hugging Face Hub: listing a repository's files at a revision (the Hub's
//! `api/datasets/<repo>/tree/<revision>/<path>?recursive=true`, following its `Link` pages) and
//! the URL each downloads from (`datasets/<repo>/resolve/<revision>/<path>`). `HF_ENDPOINT`
//! replaces `https://huggingface.co`; the token (`HF_TOKEN`, else the one `huggingface-cli login`
//! saved, found as `huggingface_hub` finds it) is sent to that endpoint only and never shown.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;

/// The Hub's address: `HF_ENDPOINT`, else `https://huggingface.co`.
pub fn endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "https://huggingface.co".into())
        .trim_end_matches('/')
        .to_owned()
}

/// `HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`, as
/// `huggingface_hub` has it.
pub fn hf_home() -> PathBuf {
    hf_home_of(&env_var)
}

/// Where `huggingface-cli login` saves the token: `HF_TOKEN_PATH`, else `$HF_HOME/token`.
pub fn token_path() -> PathBuf {
    token_path_of(&env_var)
}

/// The token `huggingface-cli login` saved, when there is one.
pub fn saved_token() -> Option<String> {
    let saved = std::fs::read_to_string(token_path()).ok()?;
    Some(saved.trim().to_owned()).filter(|t| !t.is_empty())
}

/// `HF_TOKEN`, else the saved token.
pub fn token() -> Option<String> {
    env_var("HF_TOKEN").or_else(saved_token)
}

fn env_var(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

fn hf_home_of(var: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(home) = var("HF_HOME") {
        return PathBuf::from(home);
    }
    let cache = var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(var("HOME").unwrap_or_default()).join(".cache"));
    cache.join("huggingface")
}

fn token_path_of(var: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    match var("HF_TOKEN_PATH") {
        Some(p) => PathBuf::from(p),
        None => hf_home_of(var).join("token"),
    }
}

/// A dataset repository at a revision.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetRepo {
    pub endpoint: String,
    /// `owner/name` (or a legacy `name`).
    pub repo: String,
    /// A branch, tag or ref such as `refs/convert/parquet`.
    pub revision: String,
}

/// One file of a listing.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HubFile {
    pub path: String,
    #[serde(default)]
    pub size: u64,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    #[serde(default)]
    size: u64,
}

/// A revision or a listing's folder as `huggingface_hub` puts it in a URL path
/// (`quote(s, safe="")`: `refs/convert/parquet` → `refs%2Fconvert%2Fparquet`).
fn encoded(s: &str) -> String {
    s.bytes()
        .map(
            |b| match b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                true => (b as char).to_string(),
                false => format!("%{b:02X}"),
            },
        )
        .collect()
}

impl DatasetRepo {
    /// The URL `path` downloads from.
    pub fn resolve(&self, path: &str) -> String {
        format!(
            "{}/datasets/{}/resolve/{}/{path}",
            self.endpoint,
            self.repo,
            encoded(&self.revision)
        )
    }

    /// The first page of the listing of `dir` (every file below it).
    fn tree_url(&self, dir: &str) -> String {
        let dir = dir.trim_matches('/');
        let path = match dir.is_empty() {
            true => String::new(),
            false => format!("/{}", encoded(dir)),
        };
        format!(
            "{}/api/datasets/{}/tree/{}{path}?recursive=true",
            self.endpoint,
            self.repo,
            encoded(&self.revision)
        )
    }

    /// `HF_TOKEN` as the `Authorization` value for `url`, when it is set and `url` is on this
    /// endpoint: the token never goes to another host a listing or a redirect names.
    pub fn auth_for(&self, url: &str) -> Option<String> {
        bearer_for(&self.endpoint, url, token().as_deref())
    }

    /// `req` (to `url`) with the token when [`auth_for`](Self::auth_for) gives it.
    fn authorized(&self, req: ureq::Request, url: &str) -> ureq::Request {
        match self.auth_for(url) {
            Some(auth) => req.set("Authorization", &auth),
            None => req,
        }
    }

    /// Every file under `dir` (recursively), sorted by path. The pages a `Link` header chains
    /// are followed at most [`MAX_PAGES`] deep, and a page named twice is an error (a cycle).
    pub fn list(&self, agent: &ureq::Agent, dir: &str) -> Result<Vec<HubFile>> {
        let mut url = Some(self.tree_url(dir));
        let mut files = Vec::new();
        let mut visited = std::collections::HashSet::new();
        while let Some(u) = url.take() {
            if !visited.insert(u.clone()) {
                bail!(
                    "listing {} at {}: its pages lead back to {u} (a cycle of `Link: rel=\"next\"` \
                     headers); the listing was stopped after {} pages",
                    self.repo,
                    self.revision,
                    visited.len() - 1
                );
            }
            if visited.len() > MAX_PAGES {
                bail!(
                    "listing {} at {}: more than {MAX_PAGES} pages; the listing was stopped",
                    self.repo,
                    self.revision
                );
            }
            let resp = self
                .authorized(agent.get(&u), &u)
                .call()
                .map_err(|e| match e {
                    ureq::Error::Status(code, r) => anyhow!(
                        "listing {} at {} ({u}): HTTP {code} {}",
                        self.repo,
                        self.revision,
                        r.status_text()
                    ),
                    ureq::Error::Transport(t) => anyhow!("listing {} ({u}): {t}", self.repo),
                })?;
            url = resp
                .header("Link")
                .and_then(next_page)
                .map(|next| match next {
                    n if n.starts_with('/') => format!("{}{n}", self.endpoint),
                    n => n,
                });
            let entries: Vec<Entry> = serde_json::from_reader(resp.into_reader())
                .with_context(|| format!("listing {} ({u}): not a file list", self.repo))?;
            files.extend(
                entries
                    .into_iter()
                    .filter(|e| e.kind == "file")
                    .map(|e| HubFile {
                        path: e.path,
                        size: e.size,
                    }),
            );
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// The files matching `pattern` (`*` within a folder, `**` across folders), listed under the
    /// pattern's folder before its first wildcard. None matching is an error naming the pattern.
    pub fn matching(&self, agent: &ureq::Agent, pattern: &str) -> Result<Vec<HubFile>> {
        let glob = glob::Pattern::new(pattern)
            .with_context(|| format!("file pattern `{pattern}` of {}", self.repo))?;
        let fixed: Vec<&str> = pattern
            .split('/')
            .take_while(|seg| !seg.contains(['*', '?', '[']))
            .collect();
        let dir = fixed[..fixed.len().min(pattern.split('/').count() - 1)].join("/");
        let options = glob::MatchOptions {
            require_literal_separator: true,
            ..Default::default()
        };
        let files: Vec<HubFile> = self
            .list(agent, &dir)?
            .into_iter()
            .filter(|f| glob.matches_with(&f.path, options))
            .collect();
        if files.is_empty() {
            bail!(
                "{} at {}: no file matches `{pattern}`",
                self.repo,
                self.revision
            );
        }
        Ok(files)
    }
}

/// `token` as a bearer `Authorization` value for `url`, when `url` is on `endpoint`.
fn bearer_for(endpoint: &str, url: &str, token: Option<&str>) -> Option<String> {
    let on_endpoint = url == endpoint || url.starts_with(&format!("{endpoint}/"));
    let token = token.filter(|_| on_endpoint)?;
    Some(format!("Bearer {token}"))
}

/// The most pages a listing follows.
pub const MAX_PAGES: usize = 10_000;

/// The `rel="next"` URL of a `Link` header.
fn next_page(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_pages() {
        let r = DatasetRepo {
            endpoint: "http://hub".into(),
            repo: "allenai/c4".into(),
            revision: "refs/convert/parquet".into(),
        };
        assert_eq!(
            r.resolve("en/train/0000.parquet"),
            "http://hub/datasets/allenai/c4/resolve/refs%2Fconvert%2Fparquet/en/train/0000.parquet"
        );
        let wiki = DatasetRepo {
            endpoint: "http://hub".into(),
            repo: "legacy-datasets/wikipedia".into(),
            revision: "main".into(),
        };
        assert_eq!(
            wiki.tree_url("data/20220301.en/"),
            "http://hub/api/datasets/legacy-datasets/wikipedia/tree/main/data%2F20220301.en?recursive=true"
        );
        assert_eq!(
            r.tree_url(""),
            "http://hub/api/datasets/allenai/c4/tree/refs%2Fconvert%2Fparquet?recursive=true"
        );
        let link = r#"<https://huggingface.co/api/datasets/x/tree/main?cursor=abc>; rel="next""#;
        assert_eq!(
            next_page(link).as_deref(),
            Some("https://huggingface.co/api/datasets/x/tree/main?cursor=abc")
        );
        assert_eq!(next_page(r#"<http://a>; rel="prev""#), None);
    }

    /// The saved token is where `huggingface_hub` looks for it.
    #[test]
    fn the_saved_token_is_found_as_huggingface_hub_finds_it() {
        fn with<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| v.to_string())
            }
        }
        let home = [("HOME", "/home/u")];
        assert_eq!(
            token_path_of(&with(&home)),
            PathBuf::from("/home/u/.cache/huggingface/token")
        );
        let xdg = [("HOME", "/home/u"), ("XDG_CACHE_HOME", "/x")];
        assert_eq!(
            token_path_of(&with(&xdg)),
            PathBuf::from("/x/huggingface/token")
        );
        let hf = [("XDG_CACHE_HOME", "/x"), ("HF_HOME", "/h")];
        assert_eq!(token_path_of(&with(&hf)), PathBuf::from("/h/token"));
        let path = [("HF_HOME", "/h"), ("HF_TOKEN_PATH", "/t/tok")];
        assert_eq!(token_path_of(&with(&path)), PathBuf::from("/t/tok"));
        assert_eq!(hf_home_of(&with(&path)), PathBuf::from("/h"));
    }

    #[test]
    fn the_token_goes_to_the_endpoint_only() {
        let (hub, t) = ("http://hub:8080", Some("hf_secret"));
        assert_eq!(
            bearer_for(hub, "http://hub:8080/api/x", t).as_deref(),
            Some("Bearer hf_secret")
        );
        for other in [
            "http://hub:8080.evil/api",
            "http://hub:8080@evil/api",
            "http://evil/api",
            "https://hub:8080/api",
        ] {
            assert_eq!(bearer_for(hub, other, t), None, "{other}");
        }
        assert_eq!(bearer_for(hub, "http://hub:8080/api/x", None), None);
    }
}
