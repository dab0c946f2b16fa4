//! Shared helpers for end-to-end tests: run the real `lmeff` binary in a scratch folder.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (for shipped presets and configs).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch folder the binary runs in; removed on drop.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("creating a scratch folder"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file below the scratch folder and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `lmeff` with the scratch folder as working directory, the shipped presets, and no
    /// `LMEFF_*` settings inherited from the caller's environment.
    pub fn lmeff(&self) -> Command {
        self.launch(&[])
    }

    /// `lmeff` started through a launcher, e.g. `["mpirun", "-np", "2"]` or `["srun", "-n", "2"]`,
    /// with the same environment as [`Scratch::lmeff`].
    pub fn launch(&self, launcher: &[&str]) -> Command {
        let mut cmd = match launcher.split_first() {
            None => Command::new(env!("CARGO_BIN_EXE_lmeff")),
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(env!("CARGO_BIN_EXE_lmeff"));
                c
            }
        };
        cmd.current_dir(self.path());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("LMEFF_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("LMEFF_MODELS_DIR", repo().join("configs/models"));
        cmd
    }

    /// Every file below the scratch folder, relative and sorted.
    pub fn files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    out.push(path.strip_prefix(root).unwrap().to_owned());
                }
            }
        }
        let mut out = Vec::new();
        walk(self.path(), self.path(), &mut out);
        out.sort();
        out
    }
}

/// Runs `cmd`, returning (success, stdout, stderr).
pub fn run(cmd: &mut Command) -> (bool, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("running lmeff");
    (
        status.success(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// The read-only shared test data (`../shared/data`, or `LMEFF_SHARED_DATA`).
pub fn shared_data() -> PathBuf {
    std::env::var_os("LMEFF_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/data"))
}

/// The Python of the project's venv (torch, transformers, tokenizers, pyarrow).
pub fn python() -> PathBuf {
    let venv = std::env::var_os("LMEFF_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("env/.venv"));
    let py = venv.join("bin/python");
    assert!(py.exists(), "{} missing: run `make setup`", py.display());
    py
}

/// Copies a folder tree (files made writable) into `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let dest = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &dest);
        } else {
            std::fs::write(&dest, std::fs::read(&path).unwrap()).unwrap();
        }
    }
}

/// The local Slurm node: the preemption test takes it whole, every other test that runs jobs
/// on it shares it.
pub static SLURM_NODE: std::sync::RwLock<()> = std::sync::RwLock::new(());

pub mod glue;
pub mod hub;
pub mod loopback;

pub mod http {
    //! A minimal HTTP/1.1 file server on 127.0.0.1 for fetch tests: real sockets, GET and HEAD,
    //! `Range` support, paths whose first response is cut off half-way, and OSF-style links
    //! (`/download/<id>/` redirects to `/files/<id>`, which names the file in
    //! `Content-Disposition`), and a Hugging Face Hub of dataset files under `<root>/hub/<repo>/
    //! <revision>/` (`api/datasets/<repo>/tree/<revision>/<dir>?recursive=true` listings, two
    //! entries a page with `Link` headers, and `datasets/<repo>/resolve/<revision>/<path>`
    //! downloads). Like GitHub's raw host, it sends `.jsonl` files gzip-compressed to
    //! clients that accept it (except for `Range` requests). A Hub repository with a `TOKEN` file
    //! (`<root>/hub/<repo>/TOKEN`) is private: it answers 401 without that bearer token; one with a
    //! `LINK` file sends its text as the `Link` header of every listing page.

    use std::collections::{HashMap, HashSet};
    use std::io::Write;
    use std::net::TcpListener;
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};

    use super::loopback;

    /// A request as the server saw it: method, path, `Range` and `Authorization` headers.
    #[derive(Debug, Clone)]
    pub struct Seen {
        pub method: String,
        pub path: String,
        pub range: Option<String>,
        pub authorization: Option<String>,
    }

    pub struct Server {
        pub base: String,
        pub seen: Arc<Mutex<Vec<Seen>>>,
    }

    /// An OSF-style link: `/download/<id>/` serves `file` (below the root) as `name`.
    #[derive(Debug, Clone)]
    pub struct Osf {
        pub id: String,
        pub file: String,
        pub name: String,
    }

    /// A port nobody listens on (what a machine without network meets).
    pub fn dead_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    /// Serves files below `root`; the first GET of each path in `cut` stops after half the body.
    pub fn serve(root: PathBuf, cut: &[&str]) -> Server {
        serve_with(root, cut, &[])
    }

    /// As [`serve`], with OSF-style links.
    pub fn serve_with(root: PathBuf, cut: &[&str], osf: &[Osf]) -> Server {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let cut: Mutex<HashSet<String>> = Mutex::new(cut.iter().map(|s| s.to_string()).collect());
        let osf: HashMap<String, Osf> = osf.iter().map(|o| (o.id.clone(), o.clone())).collect();
        let base = loopback::serve(move |stream, req| answer(stream, req, &root, &log, &cut, &osf));
        Server { base, seen }
    }

    /// `<repo>/tree/<revision>/<dir>?recursive=true[&cursor=N]`: the files under
    /// `<root>/hub/<repo>/<revision>/<dir>`, two a page.
    fn hub_listing(mut stream: std::net::TcpStream, root: &std::path::Path, rest: &str) {
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let Some((repo, tail)) = rest.split_once("/tree/") else {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            return;
        };
        let fixed_link = std::fs::read_to_string(root.join("hub").join(repo).join("LINK")).ok();
        let (revision, dir) = tail.split_once('/').unwrap_or((tail, ""));
        let dir = dir.replace("%2F", "/");
        let base = root
            .join("hub")
            .join(repo)
            .join(revision.replace("%2F", "/"));
        let mut files = Vec::new();
        let mut stack = vec![base.join(&dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p
                        .strip_prefix(&base)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    files.push((rel, e.metadata().unwrap().len()));
                }
            }
        }
        files.sort();
        let cursor: usize = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("cursor="))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let page: Vec<String> =
            files
                .iter()
                .skip(cursor)
                .take(2)
                .map(|(p, n)| format!(r#"{{"type":"file","oid":"x","size":{n},"path":"{p}"}}"#))
                .chain((cursor == 0).then(|| {
                    format!(r#"{{"type":"directory","oid":"y","size":0,"path":"{dir}"}}"#)
                }))
                .collect();
        let body = format!("[{}]", page.join(","));
        let link = if let Some(l) = fixed_link {
            format!("Link: {}\r\n", l.trim())
        } else if cursor + 2 < files.len() {
            format!(
                "Link: </api/datasets/{rest}?recursive=true&cursor={}>; rel=\"next\"\r\n",
                cursor + 2
            )
        } else {
            String::new()
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{link}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body.as_bytes());
    }

    fn answer(
        mut stream: std::net::TcpStream,
        req: loopback::Request,
        root: &std::path::Path,
        log: &Mutex<Vec<Seen>>,
        cut: &Mutex<HashSet<String>>,
        osf: &HashMap<String, Osf>,
    ) {
        let method = req.method.clone();
        let path = req.target.clone();
        let range = req.header("range").map(str::to_owned);
        let authorization = req.header("authorization").map(str::to_owned);
        let gzip_ok = req
            .header("accept-encoding")
            .is_some_and(|v| v.contains("gzip"));
        log.lock().unwrap().push(Seen {
            method: method.clone(),
            path: path.clone(),
            range: range.clone(),
            authorization: authorization.clone(),
        });
        // A private Hub repository: its TOKEN file's bearer token, or 401.
        let hub_repo = path
            .strip_prefix("/api/datasets/")
            .and_then(|r| r.split_once("/tree/"))
            .or_else(|| {
                path.strip_prefix("/datasets/")
                    .and_then(|r| r.split_once("/resolve/"))
            })
            .map(|(repo, _)| repo.to_owned());
        if let Some(repo) = hub_repo {
            if let Ok(token) = std::fs::read_to_string(root.join("hub").join(&repo).join("TOKEN")) {
                if authorization.as_deref() != Some(format!("Bearer {}", token.trim()).as_str()) {
                    let _ = stream.write_all(
                        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                }
            }
        }
        if let Some(rest) = path.strip_prefix("/api/datasets/") {
            return hub_listing(stream, root, rest);
        }
        // A Hub download: /datasets/<repo>/resolve/<revision>/<path> → hub/<repo>/<revision>/<path>.
        let path = match path
            .strip_prefix("/datasets/")
            .and_then(|r| r.split_once("/resolve/"))
        {
            Some((repo, rest)) => format!("/hub/{repo}/{}", rest.replace("%2F", "/")),
            None => path,
        };
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        if let ["download", id] = parts[..] {
            if osf.contains_key(id) {
                let head = format!(
                    "HTTP/1.1 302 Found\r\nLocation: /files/{id}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(head.as_bytes());
                return;
            }
        }
        let (file, disposition) = match parts[..] {
            ["files", id] if osf.contains_key(id) => {
                let o = &osf[id];
                (
                    root.join(&o.file),
                    format!(
                        "Content-Disposition: attachment; filename=\"{}\"; filename*=UTF-8''{}\r\n",
                        o.name, o.name
                    ),
                )
            }
            _ => (root.join(path.trim_start_matches('/')), String::new()),
        };
        let Ok(mut body) = std::fs::read(&file) else {
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        };
        let mut encoding = "";
        if gzip_ok && range.is_none() && file.extension().is_some_and(|e| e == "jsonl") {
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(&body).unwrap();
            body = z.finish().unwrap();
            encoding = "Content-Encoding: gzip\r\n";
        }
        let start = range
            .as_deref()
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok())
            .unwrap_or(0);
        let head = if range.is_some() {
            format!(
                "HTTP/1.1 206 Partial Content\r\n{disposition}Content-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\nConnection: close\r\n\r\n",
                body.len() - start,
                body.len() - 1,
                body.len()
            )
        } else {
            format!(
                "HTTP/1.1 200 OK\r\n{disposition}{encoding}Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
        };
        let _ = stream.write_all(head.as_bytes());
        if method == "HEAD" {
            return;
        }
        let rest = &body[start..];
        if method == "GET" && cut.lock().unwrap().remove(&path) {
            let _ = stream.write_all(&rest[..rest.len() / 2]);
            let _ = stream.flush();
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
        let _ = stream.write_all(rest);
    }
}

/// The tinystories sample prepared once per test binary (`data prepare`, vocab 1000) under
/// `target/tmp/`, shared read-only by that binary's tests.
pub fn prepared_tinystories() -> &'static Path {
    static DATA: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DATA.get_or_init(|| {
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let exe = std::env::current_exe().unwrap();
        let tag = exe.file_stem().unwrap().to_string_lossy().into_owned();
        let root = tmp.join(format!("data-{tag}"));
        let _ = std::fs::remove_dir_all(&root);
        copy_tree(
            &shared_data().join("corpora/tinystories"),
            &root.join("tinystories"),
        );
        let s = Scratch::new();
        let (ok, _, err) = run(s.lmeff().args(["-q", "--data-dir"]).arg(&root).args([
            "data",
            "prepare",
            "--dataset",
            "tinystories",
            "--vocab-sizes",
            "1000",
        ]));
        assert!(ok, "{err}");
        root
    })
}

/// `lmeff train` of the tiny preset on the prepared tinystories sample (vocabulary 1000, sequences
/// of 64 tokens, dev loss on 2,000 tokens) in `s`, with `envs` and the run's `args`.
pub fn train_tiny(s: &Scratch, envs: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let mut cmd = s.lmeff();
    cmd.env("LMEFF_TRAIN__EVAL_TOKENS", "2000");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run(cmd
        .arg("--data-dir")
        .arg(prepared_tinystories())
        .args([
            "train",
            "--dataset",
            "tinystories",
            "--model",
            "tiny",
            "--vocab",
            "1000",
        ])
        .args(["--seq-len", "64"])
        .args(args))
}

/// A checkpoint built the study's way in transformers (`tests/python/study_checkpoint.py`: a
/// `LlamaForCausalLM` and a `GPT2TokenizerFast` of 2000 tokens trained on BabyLM's CHILDES sample,
/// the study's `milestone_meta.json` of babylm3 20m seed 0 at 25M tokens) in `dest`.
pub fn study_checkpoint(dest: &Path) {
    let out = Command::new(python())
        .arg(repo().join("tests/python/study_checkpoint.py"))
        .arg(dest)
        .arg(shared_data().join("corpora/babylm/train/childes.train"))
        .arg("2000")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Zips the files of `dir` under a top folder `top` (plus macOS debris that must be skipped).
pub fn zip_dir(dir: &Path, top: &str, zip: &Path) {
    let script = r#"
import os, sys, zipfile
src, top, out = sys.argv[1:]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr(top + "/", "")
    for name in sorted(os.listdir(src)):
        z.write(os.path.join(src, name), top + "/" + name)
    z.writestr("__MACOSX/" + top + "/._junk", "x")
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(dir)
        .arg(top)
        .arg(zip)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
