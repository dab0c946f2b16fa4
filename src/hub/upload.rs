//! Committing a checkpoint folder to a branch as `huggingface_hub` does when the Hub does not offer
//! Xet storage (repositories of namespaces created before Xet became the default, mid-2025, that
//! did not opt in): the Hub's `preupload` call says which files go through LFS; those are sent by
//! the LFS batch API's `basic` transfer (one PUT) or `multipart` transfer (a PUT per part, then a
//! completion call), verified, and named in the commit by their sha256; the others travel inline.
//! When the Hub offers Xet, the caller hands the folder to `hf-hub`, which speaks it.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use base64::prelude::{Engine as _, BASE64_STANDARD};
use serde::Deserialize;
use serde_json::{json, Value};

use super::names::RepoId;
use crate::io::sha256_file;

const LFS: &str = "application/vnd.git-lfs+json";

/// One file of the folder.
pub struct FileToCommit {
    pub path: PathBuf,
    /// Its path in the repository.
    pub name: String,
    pub size: u64,
}

/// The files directly in `dir`, by name.
pub fn files_of(dir: &Path) -> Result<Vec<FileToCommit>> {
    let mut out = Vec::new();
    for e in fs_err::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_file() {
            out.push(FileToCommit {
                name: e.file_name().to_string_lossy().into_owned(),
                size: e.metadata()?.len(),
                path: e.path(),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[derive(Deserialize)]
struct Batch {
    transfer: Option<String>,
    #[serde(default)]
    objects: Vec<BatchObject>,
}

#[derive(Deserialize)]
struct BatchObject {
    oid: String,
    #[serde(default)]
    actions: Option<Actions>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Actions {
    upload: Option<Action>,
    verify: Option<Action>,
}

#[derive(Deserialize)]
struct Action {
    href: String,
    #[serde(default)]
    header: serde_json::Map<String, Value>,
}

/// How a folder went up.
pub enum Committed {
    /// The commit id, when the Hub said it.
    Done(Option<String>),
    /// The Hub offers Xet for the large files: `hf-hub` must send the folder.
    UseXet,
}

/// A commit of a folder's files to one branch.
pub struct Upload<'a> {
    pub agent: &'a ureq::Agent,
    pub endpoint: &'a str,
    /// `Bearer …`, sent to the endpoint only (never to the storage hrefs).
    pub auth: Option<String>,
    pub repo: &'a RepoId,
    pub branch: &'a str,
}

impl Upload<'_> {
    fn api(&self, method: &str, url: &str) -> ureq::Request {
        let req = self.agent.request(method, url);
        match &self.auth {
            Some(a) => req.set("Authorization", a),
            None => req,
        }
    }

    fn what(&self) -> String {
        format!("uploading to {}@{}", self.repo, self.branch)
    }

    /// Commits `files` with `message`.
    pub fn commit(&self, files: &[FileToCommit], message: &str) -> Result<Committed> {
        let lfs = self.lfs_files(files)?;
        let mut oids = Vec::new();
        if !lfs.is_empty() {
            for f in &lfs {
                oids.push((f.name.clone(), sha256_file(&f.path)?, f.size));
            }
            let batch = self.batch(&oids)?;
            match batch.transfer.as_deref() {
                Some("xet") => return Ok(Committed::UseXet),
                None | Some("basic") | Some("multipart") => {}
                Some(other) => bail!("{}: the Hub chose LFS transfer `{other}`", self.what()),
            }
            for obj in &batch.objects {
                if let Some(e) = &obj.error {
                    bail!("{}: the Hub refused object {}: {e}", self.what(), obj.oid);
                }
                let (name, _, size) =
                    oids.iter()
                        .find(|(_, oid, _)| *oid == obj.oid)
                        .ok_or_else(|| {
                            anyhow!(
                                "{}: the Hub answered for an object not asked for",
                                self.what()
                            )
                        })?;
                let file = lfs.iter().find(|f| f.name == *name).expect("an LFS file");
                let Some(actions) = &obj.actions else {
                    continue;
                }; // already stored
                if let Some(up) = &actions.upload {
                    match up.header.get("chunk_size") {
                        Some(chunk) => self.multipart(up, &file.path, &obj.oid, chunk)?,
                        None => self.basic(up, &file.path)?,
                    }
                }
                if let Some(v) = &actions.verify {
                    let mut req = self
                        .agent
                        .post(&v.href)
                        .set("Content-Type", LFS)
                        .set("Accept", LFS);
                    for (k, val) in &v.header {
                        req = req.set(k, val.as_str().unwrap_or_default());
                    }
                    let doing = format!("{}: verifying {name}", self.what());
                    send_json(req, &json!({"oid": obj.oid, "size": size}), &doing)?;
                }
            }
        }
        self.create_commit(files, &oids, message)
            .map(Committed::Done)
    }

    /// The files the Hub wants through LFS (`preupload`).
    fn lfs_files<'f>(&self, files: &'f [FileToCommit]) -> Result<Vec<&'f FileToCommit>> {
        let mut payload = Vec::new();
        for f in files {
            let mut sample = vec![0u8; 512];
            let n = fs_err::File::open(&f.path)?.read(&mut sample)?;
            sample.truncate(n);
            payload.push(
                json!({"path": f.name, "size": f.size, "sample": BASE64_STANDARD.encode(sample)}),
            );
        }
        let url = format!(
            "{}/api/models/{}/preupload/{}",
            self.endpoint,
            self.repo,
            self.branch.replace('/', "%2F")
        );
        let doing = format!("{}: asking which files go through LFS", self.what());
        let answer = json_of(send_json(
            self.api("POST", &url),
            &json!({ "files": payload }),
            &doing,
        )?)?;
        let lfs: Vec<&str> = answer["files"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["uploadMode"] == "lfs" && !f["shouldIgnore"].as_bool().unwrap_or(false))
            .filter_map(|f| f["path"].as_str())
            .collect();
        Ok(files
            .iter()
            .filter(|f| f.size > 0 && lfs.contains(&f.name.as_str()))
            .collect())
    }

    /// The LFS batch call for `objects` (name, sha256, size).
    fn batch(&self, objects: &[(String, String, u64)]) -> Result<Batch> {
        let url = format!("{}/{}.git/info/lfs/objects/batch", self.endpoint, self.repo);
        let objects: Vec<Value> = objects
            .iter()
            .map(|(_, oid, size)| json!({"oid": oid, "size": size}))
            .collect();
        let body = json!({
            "operation": "upload",
            "transfers": ["basic", "multipart", "xet"],
            "objects": objects,
            "hash_algo": "sha256",
            "ref": {"name": self.branch},
        });
        let req = self
            .api("POST", &url)
            .set("Content-Type", LFS)
            .set("Accept", LFS);
        let resp = send_json(req, &body, &format!("{}: the LFS batch call", self.what()))?;
        serde_json::from_reader(resp.into_reader())
            .with_context(|| format!("{}: the LFS batch answer", self.what()))
    }

    /// `basic`: the whole file in one PUT to the storage URL.
    fn basic(&self, up: &Action, path: &Path) -> Result<()> {
        let mut req = self.agent.put(&up.href);
        for (k, v) in &up.header {
            req = req.set(k, v.as_str().unwrap_or_default());
        }
        let file = fs_err::File::open(path)?;
        let len = file.metadata()?.len();
        req.set("Content-Length", &len.to_string())
            .send(file)
            .map_err(|e| anyhow!("{}: storing {}: {e}", self.what(), path.display()))?;
        Ok(())
    }

    /// `multipart`: each `chunk_size` part to its URL (the header's numbered keys), then the
    /// parts' ETags to the completion URL.
    fn multipart(&self, up: &Action, path: &Path, oid: &str, chunk: &Value) -> Result<()> {
        let chunk: u64 = chunk
            .as_u64()
            .or_else(|| chunk.as_str().and_then(|c| c.parse().ok()))
            .filter(|&c| c > 0)
            .ok_or_else(|| anyhow!("{}: chunk_size {chunk} is not a size", self.what()))?;
        let mut parts: Vec<(u32, &str)> = up
            .header
            .iter()
            .filter_map(|(k, v)| Some((k.parse::<u32>().ok()?, v.as_str()?)))
            .collect();
        parts.sort();
        let mut file = fs_err::File::open(path)?;
        let len = file.metadata()?.len();
        if parts.len() as u64 != len.div_ceil(chunk) {
            bail!(
                "{}: {} parts of {chunk} bytes cannot hold {} ({len} bytes)",
                self.what(),
                parts.len(),
                path.display()
            );
        }
        let mut etags = Vec::new();
        for (i, (number, url)) in parts.iter().enumerate() {
            let start = i as u64 * chunk;
            let n = chunk.min(len - start);
            let mut buf = vec![0u8; n as usize];
            file.seek(SeekFrom::Start(start))?;
            file.read_exact(&mut buf)?;
            let resp = self
                .agent
                .put(url)
                .send_bytes(&buf)
                .map_err(|e| anyhow!("{}: storing part {number}: {e}", self.what()))?;
            let etag = resp.header("ETag").ok_or_else(|| {
                anyhow!("{}: part {number} was stored without an ETag", self.what())
            })?;
            etags.push(json!({"partNumber": number, "etag": etag}));
        }
        let req = self
            .agent
            .post(&up.href)
            .set("Content-Type", LFS)
            .set("Accept", LFS);
        let doing = format!("{}: completing {}", self.what(), path.display());
        send_json(req, &json!({"oid": oid, "parts": etags}), &doing)?;
        Ok(())
    }

    /// The commit: LFS files by their sha256, the others inline (base64).
    fn create_commit(
        &self,
        files: &[FileToCommit],
        lfs: &[(String, String, u64)],
        message: &str,
    ) -> Result<Option<String>> {
        let mut lines =
            vec![json!({"key": "header", "value": {"summary": message, "description": ""}})];
        for f in files {
            lines.push(match lfs.iter().find(|(name, _, _)| *name == f.name) {
                Some((_, oid, size)) => json!({"key": "lfsFile", "value": {"path": f.name, "algo": "sha256", "oid": oid, "size": size}}),
                None => json!({"key": "file", "value": {"path": f.name, "encoding": "base64", "content": BASE64_STANDARD.encode(fs_err::read(&f.path)?)}}),
            });
        }
        let body: String = lines.iter().map(|l| l.to_string() + "\n").collect();
        let url = format!(
            "{}/api/models/{}/commit/{}",
            self.endpoint,
            self.repo,
            self.branch.replace('/', "%2F")
        );
        let answer = json_of(
            self.api("POST", &url)
                .set("Content-Type", "application/x-ndjson")
                .send_string(&body)
                .map_err(|e| anyhow!("{}: the commit: {e}", self.what()))?,
        )?;
        Ok(answer["commitOid"].as_str().map(str::to_owned))
    }
}

/// `req` with `body` as JSON (its content type `application/json` unless set); a failure says
/// what was being done.
fn send_json(req: ureq::Request, body: &Value, doing: &str) -> Result<ureq::Response> {
    let req = match req.header("Content-Type") {
        Some(_) => req,
        None => req.set("Content-Type", "application/json"),
    };
    req.send_string(&body.to_string())
        .map_err(|e| anyhow!("{doing}: {e}"))
}

/// A response's JSON body.
fn json_of(resp: ureq::Response) -> Result<Value> {
    serde_json::from_reader(resp.into_reader()).context("the Hub's answer is not JSON")
}
