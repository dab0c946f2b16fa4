//! End-to-end: `lmeff data` on the real sample corpora, cross-checked with Python `tokenizers`,
//! and `lmeff data fetch` against a loopback HTTP server.

use std::path::Path;
use std::process::Command;

use crate::common;
use crate::common::{copy_tree, http, python, run, shared_data, zip_dir, Scratch};

/// Re-encodes every cleaned dev line with Python `tokenizers` and compares with dev.bin; prints
/// `ok <tokens>` or the first difference.
const PY_CHECK: &str = r#"
import json, sys, numpy as np
from tokenizers import Tokenizer
tok_path, clean_dir, bin_path = sys.argv[1:4]
t = Tokenizer.from_file(tok_path)
import glob
ids = []
for f in sorted(glob.glob(clean_dir + "/*")):
    for line in open(f, encoding="utf-8"):
        line = line.rstrip("\n")
        if line:
            ids.extend(t.encode(line, add_special_tokens=False).ids)
header = json.load(open(bin_path[:-4] + ".json"))
dtype = "<u2" if header["dtype"] == "u16" else "<u4"
got = np.fromfile(bin_path, dtype=dtype)
assert header["tokens"] == len(ids), (header["tokens"], len(ids))
assert len(got) == len(ids), (len(got), len(ids))
bad = np.nonzero(got != np.array(ids))[0]
assert len(bad) == 0, f"first difference at {bad[0]}"
assert t.token_to_id("<pad>") == 0 and t.token_to_id("<s>") == 1 and t.token_to_id("</s>") == 2
print("ok", len(ids))
"#;

/// `lmeff data prepare` of the sample `dataset` at `vocabs` (in one process), every token file
/// re-encoded by Python's tokenizers.
fn prepare_and_check(dataset: &str, vocabs: &[u32], expect_files: &[&str]) {
    let s = Scratch::new();
    let data = s.path().join("data");
    copy_tree(
        &shared_data().join("corpora").join(dataset),
        &data.join(dataset),
    );
    let (ok, _, err) = run(s.lmeff().args([
        "--data-dir",
        "data",
        "data",
        "prepare",
        "--dataset",
        dataset,
        "--vocab-sizes",
        &vocabs
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
    ]));
    assert!(ok, "prepare {dataset} failed: {err}");
    let root = data.join(dataset);
    for f in expect_files {
        assert!(root.join(f).is_file(), "{dataset}: missing {f}");
    }
    for (vocab, split) in vocabs.iter().flat_map(|v| [(v, "train"), (v, "dev")]) {
        let tok = root.join(format!("tokenizers/tokenizer_{vocab}.json"));
        let bin = root.join(format!("tokens/{vocab}/{split}.bin"));
        let out = Command::new(python())
            .args(["-c", PY_CHECK])
            .arg(&tok)
            .arg(root.join(format!("{split}_clean")))
            .arg(&bin)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.starts_with("ok "),
            "{dataset} {split}: Python re-encode differs:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let n: u64 = stdout.trim()[3..].parse().unwrap();
        assert!(n > 10_000, "{dataset} {split}: only {n} tokens");
    }
    // Every cleaned line is one <s>…</s> document.
    for split in ["train_clean", "dev_clean"] {
        for entry in std::fs::read_dir(root.join(split)).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            assert!(text
                .lines()
                .all(|l| l.starts_with("<s>") && l.ends_with("</s>")));
        }
    }
}

#[test]
fn prepare_tinystories_matches_python_tokenizers() {
    // Two vocabularies in one process: each file is its own tokenizer's (an encoder once read
    // the previous tokenizer's word cache when the new one took its place in memory).
    prepare_and_check(
        "tinystories",
        &[8000, 2000],
        &[
            "train_clean/TinyStories-sample.txt",
            "dev_clean/TinyStories-valid-sample.txt",
            "tokenizers/tokenizer_8000.json",
            "tokens/8000/train.bin",
            "tokens/8000/train.json",
            "tokens/8000/dev.bin",
        ],
    );
}

#[test]
fn prepare_babylm_with_per_source_cleaners() {
    prepare_and_check(
        "babylm",
        &[4000],
        &[
            "train_clean/childes.train",
            "train_clean/gutenberg.train",
            "train_clean/switchboard.train",
            "dev_clean/switchboard.dev",
        ],
    );
}

#[test]
fn prepare_web() {
    prepare_and_check("web", &[4000], &["train_clean/wikitext-2-raw.test.txt"]);
}

#[test]
fn bad_data_is_a_clear_error_with_no_partial_output() {
    let s = Scratch::new();
    // Missing dataset folder.
    let (ok, _, err) =
        run(s
            .lmeff()
            .args(["--data-dir", "data", "data", "clean", "--dataset", "nope"]));
    assert!(!ok && err.contains("data/nope/train"), "{err}");
    // Invalid UTF-8: named with its byte offset; nothing cleaned is left behind.
    s.write("data/bad/train/a.txt", "good line\n");
    std::fs::write(
        s.path().join("data/bad/train/b.txt"),
        b"ok\nthen \xc3\x28 here\n",
    )
    .unwrap();
    s.write("data/bad/dev/c.txt", "dev line\n");
    let (ok, _, err) =
        run(s
            .lmeff()
            .args(["--data-dir", "data", "data", "clean", "--dataset", "bad"]));
    assert!(
        !ok && err.contains("b.txt") && err.contains("byte offset 8"),
        "{err}"
    );
    assert!(!s.path().join("data/bad/train_clean").exists());
    let (ok, _, err) = run(s.lmeff().args([
        "--data-dir",
        "data",
        "data",
        "clean",
        "--dataset",
        "bad",
        "--lossy",
    ]));
    assert!(ok, "{err}");
    // A jsonl line without `text`.
    s.write(
        "data/j/train/x.jsonl",
        "{\"text\": \"fine\"}\n{\"txt\": \"oops\"}\n",
    );
    s.write("data/j/dev/y.jsonl", "{\"text\": \"fine\"}\n");
    let (ok, _, err) =
        run(s
            .lmeff()
            .args(["--data-dir", "data", "data", "clean", "--dataset", "j"]));
    assert!(
        !ok && err.contains("x.jsonl:2") && err.contains("`text`"),
        "{err}"
    );
    // Vocabulary too small for the specials and bytes.
    let (ok, _, err) = run(s.lmeff().args([
        "--data-dir",
        "data",
        "data",
        "tokenizer",
        "--dataset",
        "bad",
        "--vocab-sizes",
        "100",
    ]));
    assert!(!ok && err.contains("vocab size 100"), "{err}");
    // Tokenizing without a tokenizer.
    let (ok, _, err) = run(s.lmeff().args([
        "--data-dir",
        "data",
        "data",
        "tokenize",
        "--dataset",
        "bad",
        "--vocab-sizes",
        "8000",
    ]));
    assert!(!ok && err.contains("tokenizer_8000.json"), "{err}");
    assert!(!s.path().join("data/bad/tokens").exists());
}

fn fetch(s: &Scratch, args: &[&str]) -> (bool, String, String) {
    run(s.lmeff().args(["data", "fetch"]).args(args))
}

#[test]
fn fetch_blimp_from_a_mirror() {
    let server = http::serve(shared_data(), &[]);
    let s = Scratch::new();
    let sources = common::repo().join("configs/sources.toml");
    let (ok, out, err) = fetch(
        &s,
        &[
            "blimp",
            "--dest",
            "dl",
            "--sources",
            sources.to_str().unwrap(),
            "--mirror",
            &server.base,
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("67 file(s) to download"), "{out}");
    assert!(out.contains("fetched 67 file(s)"), "{out}");
    // Sent gzip-compressed, as GitHub's raw host does: fewer bytes cross the wire than are kept.
    let kept: u64 = std::fs::read_dir(shared_data().join("blimp"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    let wire = downloaded_bytes(&out);
    assert!(wire > 0 && wire < kept / 3, "{wire} of {kept}: {out}");
    for name in ["adjunct_island", "wh_vs_that_with_gap_long_distance"] {
        let f = format!("{name}.jsonl");
        assert_eq!(
            std::fs::read(s.path().join("dl/blimp").join(&f)).unwrap(),
            std::fs::read(shared_data().join("blimp").join(&f)).unwrap()
        );
    }
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.path().join("dl/fetch-manifest-blimp.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest.as_array().unwrap().len(), 67);
    assert_eq!(manifest[0]["sha256"].as_str().unwrap().len(), 64);
}

/// The bytes a fetch says it downloaded ("…: 1.23 MB downloaded in …").
fn downloaded_bytes(out: &str) -> u64 {
    let line = out.lines().find(|l| l.contains(" downloaded in ")).unwrap();
    let amount = line.split(": ").nth(1).unwrap();
    let mut words = amount.split_whitespace();
    let value: f64 = words.next().unwrap().parse().unwrap();
    let scale = match words.next().unwrap() {
        "B" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        u => panic!("unit {u}"),
    };
    (value * scale) as u64
}

fn sample_sources(s: &Scratch, base: &str, sha: &str) -> String {
    let path = s.write(
        "sources.toml",
        &format!("[[tiny]]\nurl = \"{base}/corpora/tinystories/train/TinyStories-sample.txt\"\ndest = \"tiny/train\"\nsha256 = \"{sha}\"\n"),
    );
    path.to_str().unwrap().to_owned()
}

fn sha_of(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn interrupted_fetch_resumes_with_range() {
    let path = "/corpora/tinystories/train/TinyStories-sample.txt";
    let server = http::serve(shared_data(), &[path]);
    let s = Scratch::new();
    let original = shared_data().join(&path[1..]);
    let sources = sample_sources(&s, &server.base, &sha_of(&original));
    let (ok, _, err) = fetch(&s, &["tiny", "--dest", "dl", "--sources", &sources]);
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read(s.path().join("dl/tiny/train/TinyStories-sample.txt")).unwrap(),
        std::fs::read(&original).unwrap()
    );
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen[0].method, "HEAD", "the size is asked first: {seen:?}");
    let seen: Vec<_> = seen.into_iter().filter(|r| r.method == "GET").collect();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].range.is_none());
    let half = std::fs::metadata(&original).unwrap().len() / 2;
    assert_eq!(
        seen[1].range.as_deref(),
        Some(format!("bytes={half}-").as_str()),
        "{seen:?}"
    );
    assert!(err.contains("attempt 2"), "the retry is logged: {err}");
    assert!(!s
        .path()
        .join("dl/tiny/train/.TinyStories-sample.txt.part")
        .exists());
}

#[test]
fn checksum_mismatch_is_refused() {
    let server = http::serve(shared_data(), &[]);
    let s = Scratch::new();
    let sources = sample_sources(&s, &server.base, &"0".repeat(64));
    let (ok, _, err) = fetch(&s, &["tiny", "--dest", "dl", "--sources", &sources]);
    assert!(!ok);
    assert!(
        err.contains("sha256 mismatch") && err.contains(&"0".repeat(64)),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(s.path().join("dl/tiny/train"))
            .unwrap()
            .count(),
        0,
        "nothing placed"
    );
    assert!(!s.path().join("dl/fetch-manifest-tiny.json").exists());
}

#[test]
fn mix_then_prepare() {
    let s = Scratch::new();
    let corpora = shared_data().join("corpora");
    let src =
        |d: &str, frac: &str| format!("{}={}:{frac}", d, corpora.join(d).join("train").display());
    let (ok, out, err) = run(s.lmeff().args([
        "--data-dir",
        "data",
        "data",
        "mix",
        "--name",
        "hybrid",
        "--words",
        "60000",
        "--source",
        &src("web", "0.5"),
        "--source",
        &src("tinystories", "0.5"),
    ]));
    assert!(ok, "{err}");
    let counts: serde_json::Value = serde_json::from_str(&out).unwrap();
    for c in counts.as_array().unwrap() {
        let words = c["words"].as_u64().unwrap();
        assert!((30_000..32_000).contains(&words), "{c}");
        assert!(c["dev_examples"].as_u64().unwrap() > 0);
    }
    let (ok, _, err) = run(s.lmeff().args([
        "--data-dir",
        "data",
        "data",
        "prepare",
        "--dataset",
        "hybrid",
        "--vocab-sizes",
        "2000",
    ]));
    assert!(ok, "{err}");
    assert!(s.path().join("data/hybrid/tokens/2000/train.bin").is_file());
    // An existing dataset is not replaced without --force.
    let (ok, _, err) = run(s.lmeff().args([
        "--data-dir",
        "data",
        "data",
        "mix",
        "--name",
        "hybrid",
        "--words",
        "100",
        "--source",
        &src("web", "1"),
    ]));
    assert!(!ok && err.contains("--force"), "{err}");
    assert!(s.path().join("data/hybrid/tokens/2000/train.bin").is_file());
}

/// Sorted file names in `dir` (none when it does not exist).
fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn fetch_babylm_zips_unpacks_them_and_prepares() {
    let s = Scratch::new();
    let mirror = s.path().join("mirror/babylm3");
    std::fs::create_dir_all(&mirror).unwrap();
    let babylm = shared_data().join("corpora/babylm");
    zip_dir(
        &babylm.join("train"),
        "train_100M",
        &mirror.join("train_100M.zip"),
    );
    zip_dir(&babylm.join("dev"), "dev", &mirror.join("dev.zip"));
    zip_dir(
        &babylm.join("train"),
        "train_10M",
        &mirror.join("train_10M.zip"),
    );
    let server = http::serve(s.path().join("mirror"), &[]);
    let sources = common::repo().join("configs/sources.toml");
    let (ok, out, err) = fetch(
        &s,
        &[
            "babylm3",
            "--dest",
            "data",
            "--sources",
            sources.to_str().unwrap(),
            "--mirror",
            &server.base,
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("3 file(s) to download"), "{out}");
    assert!(out.contains("fetched 3 file(s)"), "{out}");
    for (split, want) in [("train", "train"), ("dev", "dev")] {
        let expect = names(&babylm.join(want));
        assert_eq!(
            names(&s.path().join("data/babylm2025").join(split)),
            expect,
            "{split}"
        );
        for name in &expect {
            assert_eq!(
                std::fs::read(s.path().join("data/babylm2025").join(split).join(name)).unwrap(),
                std::fs::read(babylm.join(want).join(name)).unwrap(),
                "{name}"
            );
        }
    }
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.path().join("data/fetch-manifest-babylm3.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        manifest[1]["extracted"].as_array().unwrap().len(),
        3,
        "{manifest}"
    );
    // The unpacked folders are a dataset `prepare` accepts as is.
    let (ok, _, err) = run(s.lmeff().args([
        "--data-dir",
        "data",
        "data",
        "prepare",
        "--dataset",
        "babylm2025",
        "--vocab-sizes",
        "1000",
    ]));
    assert!(ok, "{err}");
    assert!(s
        .path()
        .join("data/babylm2025/tokens/1000/train.bin")
        .is_file());
    assert!(s
        .path()
        .join("data/babylm2025_10m/train/childes.train")
        .is_file());

    // BabyLM 2023: one archive of four folders, each to its own destination.
    let script = r#"
import os, sys, zipfile
src, dev, out = sys.argv[1:]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for folder, d, ext in [("babylm_100M", src, "train"), ("babylm_10M", src, "train"),
                           ("babylm_dev", dev, "dev"), ("babylm_test", dev, "test")]:
        for name in sorted(os.listdir(d)):
            stem = name.rsplit(".", 1)[0]
            data = open(os.path.join(d, name), "rb").read()
            if folder == "babylm_10M":
                data = data[: len(data) // 10]
            z.writestr(f"babylm_data/{folder}/{stem}.{ext}", data)
"#;
    let b23 = s.path().join("mirror/babylm2023");
    std::fs::create_dir_all(&b23).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(babylm.join("train"))
        .arg(babylm.join("dev"))
        .arg(b23.join("babylm_data.zip"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, out, err) = fetch(
        &s,
        &[
            "babylm2023",
            "--dest",
            "data",
            "--sources",
            sources.to_str().unwrap(),
            "--mirror",
            &server.base,
        ],
    );
    assert!(ok, "{out}{err}");
    let train = names(&s.path().join("data/babylm2023/train"));
    assert_eq!(train, names(&babylm.join("train")));
    assert_eq!(train, names(&s.path().join("data/babylm2023_10m/train")));
    let size = |p: &str| std::fs::metadata(s.path().join(p)).unwrap().len();
    assert!(
        size("data/babylm2023_10m/train/childes.train")
            < size("data/babylm2023/train/childes.train")
    );
    assert_eq!(
        names(&s.path().join("data/babylm2023/dev")).len(),
        names(&babylm.join("dev")).len()
    );
    assert!(names(&s.path().join("data/babylm2023/test"))
        .iter()
        .all(|n| n.ends_with(".test")));
}

#[test]
fn a_corrupt_archive_is_refused_and_places_nothing() {
    let s = Scratch::new();
    let served = s.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    std::fs::write(
        served.join("broken.zip"),
        b"PK\x03\x04 this is not really a zip",
    )
    .unwrap();
    let server = http::serve(served, &[]);
    let sources = s.write(
        "sources.toml",
        &format!(
            "[[odd]]\nurl = \"{}/broken.zip\"\ndest = \"odd/train\"\nunzip = true\n",
            server.base
        ),
    );
    let (ok, _, err) = fetch(
        &s,
        &[
            "odd",
            "--dest",
            "data",
            "--sources",
            sources.to_str().unwrap(),
        ],
    );
    assert!(!ok);
    assert!(err.contains("broken.zip is not a zip archive"), "{err}");
    assert!(names(&s.path().join("data/odd/train")).is_empty());
    assert!(!s.path().join("data/fetch-manifest-odd.json").exists());
}

#[test]
fn osf_links_are_named_by_the_server_and_zips_told_by_content() {
    let s = Scratch::new();
    let served = s.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let babylm = shared_data().join("corpora/babylm");
    zip_dir(&babylm.join("train"), "train_10M", &served.join("blob1"));
    std::fs::write(served.join("blob2"), "a plain text file\n").unwrap();
    let osf = |id: &str, file: &str, name: &str| http::Osf {
        id: id.into(),
        file: file.into(),
        name: name.into(),
    };
    let server = http::serve_with(
        served,
        &[],
        &[
            osf("ab12x", "blob1", "train_10M.zip"),
            osf("cd34y", "blob2", "notes.txt"),
        ],
    );
    // No `name` and no `unzip`: the name comes from the server, the zip from its bytes.
    let sources = s.write(
        "sources.toml",
        &format!(
            "[[osf]]\nurl = \"{0}/download/ab12x/\"\ndest = \"b/train\"\n\n\
             [[osf]]\nurl = \"{0}/download/cd34y/\"\ndest = \"b/dev\"\n",
            server.base
        ),
    );
    let args = [
        "osf",
        "--dest",
        "data",
        "--sources",
        sources.to_str().unwrap(),
    ];
    let (ok, out, err) = fetch(&s, &args);
    assert!(ok, "{err}");
    assert!(out.contains("2 file(s) to download"), "{out}");
    assert_eq!(
        names(&s.path().join("data/b/train")),
        names(&babylm.join("train"))
    );
    assert!(s.path().join("data/.downloads/osf/train_10M.zip").is_file());
    assert_eq!(
        std::fs::read_to_string(s.path().join("data/b/dev/notes.txt")).unwrap(),
        "a plain text file\n"
    );
    let seen = server.seen.lock().unwrap().clone();
    for path in ["/download/ab12x/", "/files/ab12x"] {
        assert!(
            seen.iter().any(|r| r.method == "GET" && r.path == path),
            "{path}: {seen:?}"
        );
    }
    // A second fetch finds both under the names the server gave, and downloads nothing.
    let before = seen.len();
    let (ok, out, err) = fetch(&s, &args);
    assert!(ok, "{err}");
    assert!(
        out.contains("0 file(s) to download") && out.contains("2 already here"),
        "{out}"
    );
    let again = server.seen.lock().unwrap()[before..].to_vec();
    assert!(again.is_empty(), "{again:?}");
    // Picking a file by a name the source does not have is refused, naming the ones it has.
    let (ok, _, err) = fetch(
        &s,
        &[
            "osf:train_10M.zip",
            "--dest",
            "data",
            "--sources",
            sources.to_str().unwrap(),
        ],
    );
    assert!(
        !ok && err.contains("no file `train_10M.zip`") && err.contains("ab12x, cd34y"),
        "{err}"
    );
}

#[test]
fn an_unreachable_host_stops_the_fetch_at_once() {
    let port = http::dead_port();
    let s = Scratch::new();
    let sources = common::repo().join("configs/sources.toml");
    let (ok, out, err) = fetch(
        &s,
        &[
            "tinystories:TinyStoriesV2-GPT4-valid.txt",
            "--dest",
            "dl",
            "--sources",
            sources.to_str().unwrap(),
            "--mirror",
            &format!("http://127.0.0.1:{port}"),
        ],
    );
    assert!(!ok, "{out}");
    assert!(
        err.contains(&format!("cannot reach 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(!err.contains("attempt 2"), "no retries: {err}");
    assert!(!s.path().join("dl/tinystories").exists());
}

/// A loopback Hub holding the hybrid's sources as the Hub stores them: Parquet shards, gzipped JSON
/// lines, plain JSON lines; the sample corpora's lines as examples, with some too short, one too
/// long and some repeated.
fn hub_with_shards(root: &Path) -> String {
    let stories = std::fs::read_to_string(
        shared_data().join("corpora/tinystories/train/TinyStories-sample.txt"),
    )
    .unwrap();
    let mut examples: Vec<String> = stories
        .split("\n\n")
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect();
    examples[7] = "long ".repeat(2500);
    let d = (8..)
        .find(|&i| examples[i].split(' ').count() >= 10)
        .unwrap();
    examples[d + 1] = examples[d].clone();
    let shard = |i: usize| examples[i * 300..(i + 1) * 300].to_vec();
    let hub = root.join("hub");
    // wiki: Parquet on main, two folders deep (legacy-datasets/wikipedia's layout).
    let wiki = hub.join("org/wiki/main/data/20220301.en");
    std::fs::create_dir_all(&wiki).unwrap();
    for i in 0..3 {
        write_parquet(
            &wiki.join(format!("train-{i:05}-of-00041.parquet")),
            &shard(i),
        );
    }
    // c4: gzipped JSON lines at main, more shards than its share needs.
    let c4 = hub.join("allenai/c4/main/en");
    std::fs::create_dir_all(&c4).unwrap();
    for i in 0..4 {
        let lines: String = shard(3 + i)
            .iter()
            .map(|t| serde_json::json!({ "text": t, "url": "x" }).to_string() + "\n")
            .collect();
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut z, lines.as_bytes()).unwrap();
        std::fs::write(
            c4.join(format!("c4-train.{i:05}-of-00004.json.gz")),
            z.finish().unwrap(),
        )
        .unwrap();
    }
    // books: JSON lines with the text in `content`.
    let books = hub.join("b/books/main/data");
    std::fs::create_dir_all(&books).unwrap();
    let lines: String = shard(7)
        .iter()
        .chain(&shard(8))
        .map(|t| serde_json::json!({ "content": t }).to_string() + "\n")
        .collect();
    std::fs::write(books.join("part-0.jsonl"), lines).unwrap();
    r#"
[hybrid]
words = 60000

[[hybrid.source]]
name = "wiki"
repo = "org/wiki"
revision = "main"
files = "data/20220301.en/train-*.parquet"
fraction = 0.3

[[hybrid.source]]
name = "c4"
repo = "allenai/c4"
files = "en/c4-train.*.json.gz"
fraction = 0.4

[[hybrid.source]]
name = "books"
repo = "b/books"
files = "data/*.jsonl"
text = "content"
fraction = 0.3
"#
    .to_owned()
}

fn write_parquet(path: &Path, texts: &[String]) {
    use std::sync::Arc;
    let array = arrow_array::StringArray::from(texts.to_vec());
    let batch = arrow_array::RecordBatch::try_from_iter([(
        "text",
        Arc::new(array) as arrow_array::ArrayRef,
    )])
    .unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn hybrid_is_built_from_the_hub_and_resumes_after_a_failure() {
    let s = Scratch::new();
    let served = s.path().join("served");
    let sources = s.write("sources.toml", &hub_with_shards(&served));
    let server = http::serve(served.clone(), &[]);
    let hybrid = |s: &Scratch, name: &str| {
        let mut cmd = s.lmeff();
        cmd.env("HF_ENDPOINT", &server.base).args([
            "data",
            "fetch",
            "hybrid",
            "--dest",
            "data",
            "--name",
            name,
            "--sources",
            sources.to_str().unwrap(),
        ]);
        run(&mut cmd)
    };
    // A broken second c4 shard stops the build after wiki and c4's first shard ...
    let c4_2 = served.join("hub/allenai/c4/main/en/c4-train.00001-of-00004.json.gz");
    let good = std::fs::read(&c4_2).unwrap();
    std::fs::write(&c4_2, b"not gzip").unwrap();
    let (ok, _, err) = hybrid(&s, "hybrid");
    assert!(!ok && err.contains("c4-train.00001"), "{err}");
    assert!(!s.path().join("data/hybrid").exists());
    assert!(s.path().join("data/hybrid.partial/state.json").is_file());
    // ... and, mended, the build resumes: nothing finished is downloaded again.
    std::fs::write(&c4_2, good).unwrap();
    let before = server.seen.lock().unwrap().len();
    let (ok, out, err) = hybrid(&s, "hybrid");
    assert!(ok, "{err}");
    assert!(out.contains("built data/hybrid"), "{out}");
    let again: Vec<String> = server.seen.lock().unwrap()[before..]
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/resolve/"))
        .map(|r| r.path.clone())
        .collect();
    assert!(again.iter().all(|p| !p.contains("/wiki/")), "{again:?}");
    assert!(
        !again
            .iter()
            .any(|p| p.ends_with("c4-train.00000-of-00004.json.gz")),
        "{again:?}"
    );
    assert!(!s.path().join("data/hybrid.partial").exists());

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.path().join("data/hybrid/hybrid.json")).unwrap())
            .unwrap();
    for (i, (name, quota)) in [("wiki", 18000), ("c4", 24000), ("books", 18000)]
        .iter()
        .enumerate()
    {
        let c = &report["per_source"][i];
        assert_eq!(c["name"], *name);
        let words = c["words"].as_u64().unwrap();
        assert!(words >= *quota && words < quota + 2000, "{c}");
        let mut texts = Vec::new();
        for split in ["train", "dev"] {
            let f = s.path().join(format!("data/hybrid/{split}/{name}.jsonl"));
            for line in std::fs::read_to_string(f).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                texts.push(v["text"].as_str().unwrap().to_owned());
            }
        }
        let n = texts.len() as u64;
        assert_eq!(
            n,
            c["train_examples"].as_u64().unwrap() + c["dev_examples"].as_u64().unwrap()
        );
        assert!(texts
            .iter()
            .all(|t| (10..=2000).contains(&t.split(' ').count())));
        let distinct: std::collections::HashSet<&String> = texts.iter().collect();
        assert_eq!(distinct.len() as u64, n, "{name}: duplicates left");
    }
    // The too-long example and a repeated one were in wiki's first shard (with short ones).
    assert!(report["per_source"][0]["out_of_bounds"].as_u64().unwrap() >= 2);
    assert!(report["per_source"][0]["duplicates"].as_u64().unwrap() >= 1);
    // c4's share filled before its last shard, which was never asked for.
    let seen = server.seen.lock().unwrap().clone();
    assert!(!seen
        .iter()
        .any(|r| r.path.ends_with("c4-train.00003-of-00004.json.gz")));

    // The same build without the interruption writes the same corpus.
    let (ok, _, err) = hybrid(&s, "fresh");
    assert!(ok, "{err}");
    for split in ["train", "dev"] {
        for name in ["wiki", "c4", "books"] {
            let file = format!("{split}/{name}.jsonl");
            assert_eq!(
                std::fs::read(s.path().join("data/hybrid").join(&file)).unwrap(),
                std::fs::read(s.path().join("data/fresh").join(&file)).unwrap(),
                "{file}"
            );
        }
    }
    // It is a dataset `prepare` accepts.
    let (ok, _, err) = run(s.lmeff().args([
        "--data-dir",
        "data",
        "data",
        "prepare",
        "--dataset",
        "hybrid",
        "--vocab-sizes",
        "1000",
    ]));
    assert!(ok, "{err}");
}

/// Runs `cmd`, killing it after `secs` seconds: (success, stdout, stderr), or None if killed.
fn run_within(cmd: &mut std::process::Command, secs: u64) -> Option<(bool, String, String)> {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(secs) {
            child.kill().unwrap();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn hybrid_listings_are_bounded_and_the_token_goes_to_the_hub_only() {
    const TOKEN: &str = "hf_hybridsecret";
    let s = Scratch::new();
    let served = s.path().join("served");
    let repo = served.join("hub/lab/priv");
    let stories = std::fs::read_to_string(
        shared_data().join("corpora/tinystories/train/TinyStories-sample.txt"),
    )
    .unwrap();
    let lines: String = stories
        .split("\n\n")
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| t.split(' ').count() >= 10)
        .take(200)
        .map(|t| serde_json::json!({ "text": t }).to_string() + "\n")
        .collect();
    std::fs::create_dir_all(repo.join("main/data")).unwrap();
    std::fs::write(repo.join("main/data/part-0.jsonl"), lines).unwrap();
    // A gated dataset: listing and downloads need the token.
    std::fs::write(repo.join("TOKEN"), TOKEN).unwrap();
    let sources = s.write(
        "sources.toml",
        "[hybrid]\nwords = 3000\n\n[[hybrid.source]]\nname = \"priv\"\nrepo = \"lab/priv\"\nfiles = \"data/*.jsonl\"\nfraction = 1.0\n",
    );
    let server = http::serve(served.clone(), &[]);
    let other = http::serve(s.path().join("elsewhere"), &[]);
    let hybrid = |name: &str, token: Option<&str>| {
        let mut cmd = s.lmeff();
        cmd.env("HF_ENDPOINT", &server.base)
            .env_remove("HF_TOKEN")
            .args(["data", "fetch", "hybrid", "--dest", "data", "--name", name])
            .arg("--sources")
            .arg(&sources);
        if let Some(t) = token {
            cmd.env("HF_TOKEN", t);
        }
        run_within(&mut cmd, 60).expect("the build ended within 60 s")
    };
    let (ok, _, err) = hybrid("no-token", None);
    assert!(!ok && err.contains("HTTP 401"), "{err}");
    // With the token, the shards download too (not only the listing).
    let (ok, _, err) = hybrid("gated", Some(TOKEN));
    assert!(ok, "{err}");
    let seen = server.seen.lock().unwrap().clone();
    let shard_gets: Vec<_> = seen
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/resolve/"))
        .collect();
    assert!(!shard_gets.is_empty());
    assert!(shard_gets
        .iter()
        .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {TOKEN}")[..])));

    // A listing whose next page is on another host: followed, but without the token.
    std::fs::write(
        repo.join("LINK"),
        format!(
            "<{}/api/datasets/lab/priv/tree/main/data?recursive=true>; rel=\"next\"",
            other.base
        ),
    )
    .unwrap();
    let (ok, _, err) = hybrid("linked", Some(TOKEN));
    assert!(ok, "{err}");
    let elsewhere = other.seen.lock().unwrap().clone();
    assert!(!elsewhere.is_empty(), "the next page was not asked for");
    assert!(
        elsewhere.iter().all(|r| r.authorization.is_none()),
        "{elsewhere:?}"
    );

    // A listing whose pages lead back to themselves: an error at once, not a loop.
    std::fs::write(
        repo.join("LINK"),
        format!(
            "<{}/api/datasets/lab/priv/tree/main/data?recursive=true>; rel=\"next\"",
            server.base
        ),
    )
    .unwrap();
    let before = server.seen.lock().unwrap().len();
    let (ok, _, err) = hybrid("cycle", Some(TOKEN));
    assert!(!ok && err.contains("its pages lead back to"), "{err}");
    assert!(server.seen.lock().unwrap().len() - before < 10);
}

#[test]
fn the_shipped_hybrid_sources_read_the_layouts_the_hub_has() {
    // Each source as its dataset's file tree has it (checked against the public trees): repository,
    // branch, folders, file names and the text column.
    let s = Scratch::new();
    let hub = s.path().join("served/hub");
    let stories = std::fs::read_to_string(
        shared_data().join("corpora/tinystories/train/TinyStories-sample.txt"),
    )
    .unwrap();
    let texts: Vec<String> = stories
        .split("\n\n")
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| (10..=2000).contains(&t.split(' ').count()))
        .collect();
    let part = |i: usize| texts[i * 100..(i + 1) * 100].to_vec();
    let parquet = |rel: &str, i: usize| {
        let path = hub.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        write_parquet(&path, &part(i));
    };
    parquet(
        "legacy-datasets/wikipedia/main/data/20220301.en/train-00000-of-00041.parquet",
        0,
    );
    parquet(
        "legacy-datasets/wikipedia/main/data/20220301.en/train-00001-of-00041.parquet",
        1,
    );
    parquet(
        "rojagtap/bookcorpus/refs/convert/parquet/default/train/0000.parquet",
        2,
    );
    parquet(
        "Bingsu/openwebtext_20p/refs/convert/parquet/default/train/0000.parquet",
        3,
    );
    parquet(
        "vblagoje/cc_news/refs/convert/parquet/plain_text/train/0000.parquet",
        4,
    );
    let c4 = hub.join("allenai/c4/main/en");
    std::fs::create_dir_all(&c4).unwrap();
    let lines: String = part(5)
        .iter()
        .map(|t| serde_json::json!({ "text": t, "url": "x" }).to_string() + "\n")
        .collect();
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, lines.as_bytes()).unwrap();
    std::fs::write(
        c4.join("c4-train.00000-of-01024.json.gz"),
        z.finish().unwrap(),
    )
    .unwrap();
    // bookcorpus's plain-text form on main: one example per line.
    let books = hub.join("rojagtap/bookcorpus/main");
    std::fs::create_dir_all(&books).unwrap();
    std::fs::write(books.join("books_large_p1.txt"), part(6).join("\n") + "\n").unwrap();
    std::fs::write(books.join("books_large_p2.txt"), part(7).join("\n") + "\n").unwrap();

    let server = http::serve(s.path().join("served"), &[]);
    let hybrid = |name: &str, env: &[(&str, &str)]| {
        let mut cmd = s.lmeff();
        cmd.env("HF_ENDPOINT", &server.base)
            .env_remove("HF_TOKEN")
            .envs(env.iter().copied())
            .args(["data", "fetch", "hybrid", "--dest", "data", "--name", name])
            .args(["--words", "20000", "--sources"])
            .arg(common::repo().join("configs/sources.toml"));
        run(&mut cmd)
    };
    let words = |name: &str| -> Vec<(String, u64)> {
        let report: serde_json::Value = serde_json::from_slice(
            &std::fs::read(s.path().join(format!("data/{name}/hybrid.json"))).unwrap(),
        )
        .unwrap();
        report["per_source"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_owned(),
                    c["words"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let (ok, _, err) = hybrid("shipped", &[]);
    assert!(ok, "{err}");
    let got = words("shipped");
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|(_, w)| *w > 0), "{got:?}");
    // The wikipedia listing asks for its two-folder path encoded as huggingface_hub encodes it.
    let seen = server.seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|r| {
            r.path
            == "/api/datasets/legacy-datasets/wikipedia/tree/main/data%2F20220301.en?recursive=true"
        }),
        "{seen:?}"
    );
    // bookcorpus's plain-text files instead of its Parquet conversion: a setting away.
    let (ok, _, err) = hybrid(
        "plain",
        &[
            ("LMEFF_HYBRID__BOOKCORPUS__REVISION", "main"),
            ("LMEFF_HYBRID__BOOKCORPUS__FILES", "books_large_p*.txt"),
        ],
    );
    assert!(ok, "{err}");
    let books_words = words("plain")[1].1;
    assert!(books_words > 0);
    let train =
        std::fs::read_to_string(s.path().join("data/plain/train/bookcorpus.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(train.lines().next().unwrap()).unwrap();
    assert!(part(6).contains(&first["text"].as_str().unwrap().to_owned()));
}
