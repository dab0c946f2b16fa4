//! A loopback Hugging Face Hub for end-to-end tests: an in-memory store of model repositories
//! (branches pointing at commits of whole file sets) behind the calls the `hf-hub` crate and
//! Python's `huggingface_hub` make: `whoami-v2`, `repos/create`, `refs`, `branch/<b>`,
//! `preupload/<rev>` (every file "regular"), `commit/<rev>` (NDJSON with base64 files),
//! `revision/<rev>`, `tree/<rev>`, and `resolve/<rev>/<path>` downloads with the headers clients
//! read (`ETag`, `X-Repo-Commit`, `Content-Length`); large files as a namespace without Xet takes
//! them: `preupload` says `lfs` for what `.gitattributes` names (`*.safetensors`) and for files over
//! 10 MB, and the LFS batch API offers `basic` (or `multipart`) transfers to a storage of its own,
//! verified, then named in the commit by sha256 (`lfsFile`). Private repositories answer 401 without the
//! token; a path can be cut off half-way on its next download; every request is logged without
//! its token.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;

use super::loopback::{self, reply};
use sha2::{Digest, Sha256};

/// A request as the Hub saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorized: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Repo {
    pub private: bool,
    pub branches: BTreeMap<String, String>,
    pub commits: HashMap<String, BTreeMap<String, Vec<u8>>>,
}

#[derive(Default)]
pub struct State {
    pub repos: BTreeMap<String, Repo>,
    /// Paths (`owner/name/file`) whose next GET stops half-way.
    pub cut_once: HashSet<String>,
    pub seen: Vec<Seen>,
    /// A hostile Hub: names added to every listing (each served with the bytes `hostile`)...
    pub extra_listing: Vec<String>,
    /// ...the commit id it answers for every revision and download...
    pub fake_commit: Option<String>,
    /// ...and whether every download answers 404 although the listing names the file.
    pub all_missing: bool,
    /// LFS objects stored through the batch API (a namespace without Xet), by sha256.
    pub lfs: HashMap<String, Vec<u8>>,
    /// Parts of multipart LFS uploads, by sha256 and part number.
    pub lfs_parts: HashMap<String, BTreeMap<u32, Vec<u8>>>,
    /// With a chunk size, the LFS batch answers `multipart` (else `basic`).
    pub multipart_chunk: Option<usize>,
}

pub struct Hub {
    pub base: String,
    pub token: String,
    pub user: String,
    pub state: Arc<Mutex<State>>,
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A commit id (40 hex) for a file set on top of `parent`.
fn commit_id(parent: &str, files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut h = Sha256::new();
    h.update(parent);
    for (p, b) in files {
        h.update(p);
        h.update(sha(b));
    }
    h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..40]
        .to_owned()
}

impl Repo {
    fn new(private: bool) -> Repo {
        let mut r = Repo {
            private,
            ..Repo::default()
        };
        let files = BTreeMap::from([(
            ".gitattributes".to_owned(),
            b"*.safetensors filter=lfs\n".to_vec(),
        )]);
        r.commit("main", files);
        r
    }

    /// Commits `files` as the whole content of `branch`.
    fn commit(&mut self, branch: &str, files: BTreeMap<String, Vec<u8>>) -> String {
        let parent = self.branches.get(branch).cloned().unwrap_or_default();
        let id = commit_id(&parent, &files);
        self.commits.insert(id.clone(), files);
        self.branches.insert(branch.to_owned(), id.clone());
        id
    }

    fn resolve(&self, rev: &str) -> Option<&str> {
        self.branches
            .get(rev)
            .map(String::as_str)
            .or_else(|| self.commits.get_key_value(rev).map(|(k, _)| k.as_str()))
    }
}

impl Hub {
    /// Starts a Hub that accepts `token` as user `user`.
    pub fn start(user: &str, token: &str) -> Hub {
        let state = Arc::new(Mutex::new(State::default()));
        let base = Arc::new(OnceLock::<String>::new());
        let (served, known) = (state.clone(), base.clone());
        let (u, t) = (user.to_owned(), token.to_owned());
        let url = loopback::serve(move |stream, req| {
            let base = known.get().map_or("", String::as_str);
            answer(stream, Request::of(req, &t), &served, &u, base)
        });
        base.set(url.clone()).unwrap();
        Hub {
            base: url,
            token: token.to_owned(),
            user: user.to_owned(),
            state,
        }
    }

    /// Publishes the files of `dir` as branch `branch` of `repo` (created when new).
    pub fn put_folder(&self, repo: &str, private: bool, branch: &str, dir: &Path) {
        let mut files = BTreeMap::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.path().is_file() {
                files.insert(
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                );
            }
        }
        let mut s = self.state.lock().unwrap();
        let r = s
            .repos
            .entry(repo.to_owned())
            .or_insert_with(|| Repo::new(private));
        r.commit(branch, files);
    }

    pub fn repo(&self, repo: &str) -> Option<Repo> {
        self.state.lock().unwrap().repos.get(repo).cloned()
    }

    /// The requests so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

struct Request {
    method: String,
    path: String,
    query: String,
    authorized: bool,
    body: Vec<u8>,
}

impl Request {
    /// The Hub's view of a request: `%2F` in the path read as `/`, whether it carries `token`.
    fn of(req: loopback::Request, token: &str) -> Request {
        let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
        Request {
            path: path.replace("%2F", "/"),
            query: query.to_owned(),
            authorized: req.header("authorization") == Some(format!("Bearer {token}").as_str()),
            method: req.method,
            body: req.body,
        }
    }
}

fn json(stream: &mut TcpStream, status: &str, value: serde_json::Value) {
    let body = value.to_string().into_bytes();
    reply(
        stream,
        status,
        &[("Content-Type", "application/json".into())],
        &body,
        false,
    );
}

fn error(stream: &mut TcpStream, status: &str, code: &str, head_only: bool) {
    let body = serde_json::json!({ "error": code })
        .to_string()
        .into_bytes();
    reply(
        stream,
        status,
        &[
            ("X-Error-Code", code.into()),
            ("Content-Type", "application/json".into()),
        ],
        &body,
        head_only,
    );
}

fn answer(mut stream: TcpStream, req: Request, state: &Mutex<State>, user: &str, base: &str) {
    let mut s = state.lock().unwrap();
    s.seen.push(Seen {
        method: req.method.clone(),
        path: req.path.clone(),
        authorized: req.authorized,
    });
    let head = req.method == "HEAD";
    let path = req.path.trim_start_matches('/').to_owned();
    if path == "api/whoami-v2" {
        return match req.authorized {
            true => json(
                &mut stream,
                "200 OK",
                serde_json::json!({"name": user, "type": "user"}),
            ),
            false => error(&mut stream, "401 Unauthorized", "Unauthorized", false),
        };
    }
    if path == "api/repos/create" && req.method == "POST" {
        if !req.authorized {
            return error(&mut stream, "401 Unauthorized", "Unauthorized", false);
        }
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        let owner = body["organization"].as_str().unwrap_or(user);
        let id = format!("{owner}/{}", body["name"].as_str().unwrap());
        if s.repos.contains_key(&id) {
            return error(&mut stream, "409 Conflict", "RepoExists", false);
        }
        s.repos.insert(
            id.clone(),
            Repo::new(body["private"].as_bool().unwrap_or(false)),
        );
        return json(
            &mut stream,
            "200 OK",
            serde_json::json!({ "url": format!("{base}/{id}") }),
        );
    }
    // A hostile listing's names are served wherever a client's URL normalisation takes them.
    let hostile_name = s
        .extra_listing
        .iter()
        .find(|f| f.rsplit('/').next().is_some_and(|n| path.ends_with(n)));
    if hostile_name.is_some() {
        let headers = [
            ("ETag", format!("\"{}\"", sha(b"hostile"))),
            ("X-Repo-Commit", "0".repeat(40)),
        ];
        return reply(&mut stream, "200 OK", &headers, b"hostile", head);
    }
    if let Some(done) = lfs_route(&mut stream, &mut s, &req, &path, base) {
        return done;
    }
    let (api, rest) = match path.strip_prefix("api/models/") {
        Some(r) => (true, r.to_owned()),
        None => (false, path.clone()),
    };
    let parts: Vec<&str> = rest.splitn(3, '/').collect();
    if parts.len() < 2 {
        return error(&mut stream, "404 Not Found", "NotFound", head);
    }
    let id = format!("{}/{}", parts[0], parts[1]);
    let tail = parts.get(2).copied().unwrap_or("");
    let Some(repo) = s.repos.get(&id).cloned() else {
        return error(&mut stream, "404 Not Found", "RepoNotFound", head);
    };
    if repo.private && !req.authorized {
        return error(&mut stream, "401 Unauthorized", "RepoNotFound", head);
    }
    let (verb, arg) = tail.split_once('/').unwrap_or((tail, ""));
    match (api, req.method.as_str(), verb) {
        (true, "GET", "refs") => {
            let branches: Vec<_> = repo
                .branches
                .iter()
                .map(|(n, c)| serde_json::json!({"name": n, "ref": format!("refs/heads/{n}"), "targetCommit": c}))
                .collect();
            json(
                &mut stream,
                "200 OK",
                serde_json::json!({"branches": branches, "tags": [], "converts": []}),
            )
        }
        (true, "POST", "branch") => {
            if !req.authorized {
                return error(&mut stream, "401 Unauthorized", "Unauthorized", false);
            }
            if repo.branches.contains_key(arg) {
                return error(&mut stream, "409 Conflict", "BranchExists", false);
            }
            let r = s.repos.get_mut(&id).unwrap();
            let main = r.branches["main"].clone();
            r.branches.insert(arg.to_owned(), main);
            json(&mut stream, "200 OK", serde_json::json!({}))
        }
        (true, "POST", "preupload") => {
            let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
            let files: Vec<_> = body["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    let lfs = f["path"].as_str().unwrap().ends_with(".safetensors")
                        || f["size"].as_u64().unwrap() > 10 << 20;
                    let mode = if lfs { "lfs" } else { "regular" };
                    serde_json::json!({"path": f["path"], "uploadMode": mode, "shouldIgnore": false})
                })
                .collect();
            json(&mut stream, "200 OK", serde_json::json!({ "files": files }))
        }
        (true, "POST", "commit") => {
            if !req.authorized {
                return error(&mut stream, "401 Unauthorized", "Unauthorized", false);
            }
            let Some(parent) = repo.resolve(arg).map(str::to_owned) else {
                return error(&mut stream, "404 Not Found", "RevisionNotFound", false);
            };
            let mut files = repo.commits[&parent].clone();
            let mut message = String::new();
            for line in String::from_utf8(req.body.clone()).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                match v["key"].as_str().unwrap() {
                    "header" => message = v["value"]["summary"].as_str().unwrap_or("").to_owned(),
                    "file" => {
                        let bytes = base64::engine::general_purpose::STANDARD
                            .decode(v["value"]["content"].as_str().unwrap())
                            .unwrap();
                        files.insert(v["value"]["path"].as_str().unwrap().to_owned(), bytes);
                    }
                    "deletedFile" => {
                        files.remove(v["value"]["path"].as_str().unwrap());
                    }
                    "lfsFile" => {
                        let oid = v["value"]["oid"].as_str().unwrap();
                        let Some(bytes) = s.lfs.get(oid).cloned() else {
                            return error(
                                &mut stream,
                                "422 Unprocessable Entity",
                                "LfsObjectMissing",
                                false,
                            );
                        };
                        files.insert(v["value"]["path"].as_str().unwrap().to_owned(), bytes);
                    }
                    other => panic!("the loopback Hub takes no `{other}` commit entries"),
                }
            }
            let commit = s.repos.get_mut(&id).unwrap().commit(arg, files);
            json(
                &mut stream,
                "200 OK",
                serde_json::json!({"commitUrl": format!("{base}/{id}/commit/{commit}"), "commitOid": commit, "commitMessage": message}),
            )
        }
        (true, "GET", "revision") => match repo.resolve(arg) {
            Some(c) => {
                let siblings: Vec<_> = repo.commits[c]
                    .keys()
                    .chain(&s.extra_listing)
                    .map(|f| serde_json::json!({"rfilename": f}))
                    .collect();
                let sha = s.fake_commit.clone().unwrap_or_else(|| c.to_owned());
                json(
                    &mut stream,
                    "200 OK",
                    serde_json::json!({"id": id, "modelId": id, "sha": sha, "private": repo.private, "siblings": siblings, "tags": [], "downloads": 0, "likes": 0}),
                )
            }
            None => error(&mut stream, "404 Not Found", "RevisionNotFound", false),
        },
        (true, "GET", "tree") => {
            let rev = arg.split('/').next().unwrap_or("");
            let Some(c) = repo.resolve(rev) else {
                return error(&mut stream, "404 Not Found", "RevisionNotFound", false);
            };
            let _ = &req.query;
            let hostile = s.extra_listing.iter().map(|p| (p, b"hostile".to_vec()));
            let entries: Vec<_> = repo.commits[c]
                .iter()
                .map(|(p, b)| (p, b.clone()))
                .chain(hostile)
                .map(|(p, b)| serde_json::json!({"type": "file", "oid": sha(&b), "size": b.len(), "path": p}))
                .collect();
            json(&mut stream, "200 OK", serde_json::Value::Array(entries))
        }
        (false, "GET" | "HEAD", "resolve") => {
            let (rev, file) = arg.split_once('/').unwrap_or((arg, ""));
            let Some(c) = repo.resolve(rev).map(str::to_owned) else {
                return error(&mut stream, "404 Not Found", "RevisionNotFound", head);
            };
            let hostile = s
                .extra_listing
                .iter()
                .any(|f| f == file)
                .then(|| b"hostile".to_vec());
            let c = s.fake_commit.clone().unwrap_or(c);
            let found = repo.commits.get(&c).and_then(|f| f.get(file).cloned());
            let Some(bytes) = hostile.or(found).filter(|_| !s.all_missing) else {
                let _ = &c;
                return reply(
                    &mut stream,
                    "404 Not Found",
                    &[
                        ("X-Error-Code", "EntryNotFound".into()),
                        ("X-Repo-Commit", c.clone()),
                    ],
                    b"",
                    head,
                );
            };
            let headers = [
                ("ETag", format!("\"{}\"", sha(&bytes))),
                ("X-Repo-Commit", c),
            ];
            let cut = !head && s.cut_once.remove(&format!("{id}/{file}"));
            drop(s);
            if cut {
                // Late, so that the other files of a snapshot are complete when this one breaks.
                std::thread::sleep(std::time::Duration::from_millis(500));
                let mut out = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n",
                    bytes.len()
                );
                for (k, v) in &headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                let _ = stream.write_all(out.as_bytes());
                let _ = stream.write_all(&bytes[..bytes.len() / 2]);
                let _ = stream.flush();
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return;
            }
            reply(&mut stream, "200 OK", &headers, &bytes, head);
        }
        _ => error(&mut stream, "404 Not Found", "NotFound", head),
    }
}

/// The LFS side of a namespace without Xet: `<repo>.git/info/lfs/objects/batch` (basic or
/// multipart actions for objects not yet stored), `lfs-store/<oid>` (PUT), `lfs-part/<oid>/<n>`
/// (PUT, answering an ETag), `lfs-complete/<oid>` and `lfs-verify/<oid>`. None: not an LFS call.
fn lfs_route(
    stream: &mut TcpStream,
    s: &mut State,
    req: &Request,
    path: &str,
    base: &str,
) -> Option<()> {
    if let Some(repo) = path.strip_suffix(".git/info/lfs/objects/batch") {
        if !req.authorized {
            error(stream, "401 Unauthorized", "Unauthorized", false);
            return Some(());
        }
        let _ = repo;
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        let transfer = match s.multipart_chunk {
            Some(_) => "multipart",
            None => "basic",
        };
        let objects: Vec<_> = body["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                let oid = o["oid"].as_str().unwrap().to_owned();
                let size = o["size"].as_u64().unwrap() as usize;
                if s.lfs.contains_key(&oid) {
                    return serde_json::json!({"oid": oid, "size": size});
                }
                let upload = match s.multipart_chunk {
                    Some(chunk) => {
                        let mut header = serde_json::Map::new();
                        header.insert("chunk_size".into(), chunk.to_string().into());
                        for n in 1..=size.div_ceil(chunk) {
                            header.insert(
                                format!("{n:05}"),
                                format!("{base}/lfs-part/{oid}/{n}").into(),
                            );
                        }
                        serde_json::json!({"href": format!("{base}/lfs-complete/{oid}"), "header": header})
                    }
                    None => serde_json::json!({"href": format!("{base}/lfs-store/{oid}"), "header": {"x-storage": "1"}}),
                };
                serde_json::json!({"oid": oid, "size": size, "actions": {
                    "upload": upload,
                    "verify": {"href": format!("{base}/lfs-verify/{oid}"), "header": {}},
                }})
            })
            .collect();
        json(
            stream,
            "200 OK",
            serde_json::json!({"transfer": transfer, "objects": objects}),
        );
        return Some(());
    }
    let parts: Vec<&str> = path.split('/').collect();
    let sha_ok = |oid: &str, bytes: &[u8]| sha(bytes) == oid;
    match (req.method.as_str(), parts.as_slice()) {
        ("PUT", ["lfs-store", oid]) => {
            assert!(!req.authorized, "the token went to the storage");
            if sha_ok(oid, &req.body) {
                s.lfs.insert(oid.to_string(), req.body.clone());
                reply(stream, "200 OK", &[], b"", false);
            } else {
                error(stream, "400 Bad Request", "BadDigest", false);
            }
        }
        ("PUT", ["lfs-part", oid, n]) => {
            assert!(!req.authorized, "the token went to the storage");
            let n: u32 = n.parse().unwrap();
            s.lfs_parts
                .entry(oid.to_string())
                .or_default()
                .insert(n, req.body.clone());
            reply(
                stream,
                "200 OK",
                &[("ETag", format!("\"etag-{n}\""))],
                b"",
                false,
            );
        }
        ("POST", ["lfs-complete", oid]) => {
            let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
            let parts = s.lfs_parts.remove(*oid).unwrap_or_default();
            let listed: Vec<u32> = body["parts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["partNumber"].as_u64().unwrap() as u32)
                .collect();
            let whole: Vec<u8> = parts.values().flatten().copied().collect();
            if listed == parts.keys().copied().collect::<Vec<_>>() && sha_ok(oid, &whole) {
                s.lfs.insert(oid.to_string(), whole);
                json(stream, "200 OK", serde_json::json!({}));
            } else {
                error(stream, "400 Bad Request", "BadParts", false);
            }
        }
        ("POST", ["lfs-verify", oid]) => {
            let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
            match s.lfs.get(*oid) {
                Some(b) if b.len() as u64 == body["size"].as_u64().unwrap() => {
                    json(stream, "200 OK", serde_json::json!({}))
                }
                _ => error(stream, "404 Not Found", "ObjectMissing", false),
            }
        }
        _ => return None,
    }
    Some(())
}
