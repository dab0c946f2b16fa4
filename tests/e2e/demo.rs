//! `make demo` as a user without the sample corpora runs it: `env/demo.sh` downloads TinyStories'
//! validation file, BabyLM's 10M-word archive and BLiMP (here from a loopback mirror holding the
//! sample corpora under the real file names, and nothing else), cuts them with `lmeff data mix`,
//! prepares, trains 4 configurations (2 datasets × 2 vocabulary sizes) × 2 seeds (full runs),
//! scores every checkpoint on a subset of BLiMP's paradigms (`LMEFF_DEMO_PARADIGMS`; `make demo`
//! scores all 67), aggregates, and leaves a report whose verdicts rest on enough runs and
//! configurations and which says what the numbers can and cannot say.

use std::path::Path;
use std::process::Command;

use crate::common::{copy_tree, http, repo, shared_data, zip_dir, Scratch};

/// The paradigms the test's demo fetches and scores: two of each of four fields.
const PARADIGMS: [&str; 8] = [
    "anaphor_gender_agreement",
    "anaphor_number_agreement",
    "determiner_noun_agreement_1",
    "regular_plural_subject_verb_agreement_1",
    "wh_questions_object_gap",
    "adjunct_island",
    "existential_there_quantifiers_1",
    "npi_present_1",
];

#[test]
fn make_demo_downloads_trains_evaluates_and_reports() {
    let s = Scratch::new();
    project(&s);

    // The mirror: <source>/<file name>, holding only what the demo should fetch (the samples under
    // the real names; TinyStories' train sample stands in for its validation file).
    let corpora = shared_data().join("corpora");
    let mirror = s.path().join("mirror");
    std::fs::create_dir_all(mirror.join("tinystories")).unwrap();
    std::fs::copy(
        corpora.join("tinystories/train/TinyStories-sample.txt"),
        mirror.join("tinystories/TinyStoriesV2-GPT4-valid.txt"),
    )
    .unwrap();
    std::fs::create_dir_all(mirror.join("babylm3")).unwrap();
    zip_dir(
        &corpora.join("babylm/train"),
        "train_10M",
        &mirror.join("babylm3/train_10M.zip"),
    );
    copy_tree(&shared_data().join("blimp"), &mirror.join("blimp"));
    let server = http::serve(mirror, &[]);

    let out = demo(&s)
        .env("LMEFF_MIRROR", &server.base)
        .env("LMEFF_DEMO_PARADIGMS", PARADIGMS.join(","))
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // One fetch, announced before it starts; the server saw nothing but the demo's files, each
    // asked for its size once and downloaded once.
    assert!(stdout.contains("10 file(s) to download"), "{stdout}");
    let seen = server.seen.lock().unwrap().clone();
    let mut wanted: Vec<String> = [
        "tinystories/TinyStoriesV2-GPT4-valid.txt",
        "babylm3/train_10M.zip",
    ]
    .iter()
    .map(|f| format!("/{f}"))
    .chain(PARADIGMS.iter().map(|p| format!("/blimp/{p}.jsonl")))
    .collect();
    wanted.sort();
    for method in ["HEAD", "GET"] {
        let mut got: Vec<String> = seen
            .iter()
            .filter(|r| r.method == method)
            .map(|r| r.path.clone())
            .collect();
        got.sort();
        assert_eq!(got, wanted, "{method} requests");
    }
    assert_eq!(seen.len(), 2 * wanted.len(), "{seen:?}");
    for step in [
        "data fetch tinystories:TinyStoriesV2-GPT4-valid.txt babylm3:train_10M.zip blimp:anaphor_gender_agreement.jsonl,",
        "data mix --name tinystories",
        "data mix --name babylm",
        "data prepare --dataset tinystories",
        "eval blimp --run",
        "aggregate",
    ] {
        // A command line the demo printed and ran (`$ lmeff … <step>`), not a banner.
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("$ ") && l.contains(&format!(" {step}"))),
            "the demo did not run `{step}`:\n{stdout}"
        );
    }
    // 8 runs × (2 milestones + final), the 8 paradigms each.
    let results = s.path().join("results/demo");
    let summaries = walk(&results.join("blimp"))
        .into_iter()
        .filter(|p| p.ends_with("summary.parquet"))
        .count();
    assert_eq!(summaries, 24, "{stdout}");
    let missing = std::fs::read_to_string(results.join("data/missing.csv")).unwrap();
    assert_eq!(
        missing.lines().count(),
        1,
        "planned checkpoints without results:\n{missing}"
    );
    let report = std::fs::read_to_string(results.join("report.md")).unwrap();
    assert!(report.contains("| `global` | 0.05 | 8 |"), "{report}");
    // The global group has the runs a verdict needs; the per-dataset ones say they do not.
    let answer = report.split("## What these numbers").next().unwrap();
    let global = answer
        .lines()
        .find(|l| l.starts_with("- `global`:"))
        .unwrap();
    assert!(!global.contains("too few runs"), "{global}");
    assert!(answer.contains("- `dataset=tinystories`: too few runs (n = 4, fewer than 5)"));
    assert!(report.contains("## What these numbers can and cannot say"));
    assert!(report.contains("rest on 8 full run(s)"), "{report}");
    // Configurations: four, two seeds each, judged together; two per dataset are too few.
    let decided = report.split("## Which configuration wins").nth(1).unwrap();
    let global = decided
        .lines()
        .find(|l| l.starts_with("- `global`:"))
        .unwrap();
    assert!(
        !global.contains("no verdict")
            && global.contains("4 configurations, at least 2 seeds each"),
        "{global}"
    );
    assert!(
        decided.contains(
            "- `dataset=babylm`: no verdict: too few configurations (n = 2, fewer than 3)"
        ),
        "{decided}"
    );
    assert!(decided.contains("| `global` | 0.05 | 4 | 2 |"), "{decided}");
    // Noise with seeds as replicates, for accuracy and the margin: 4 configurations × 3
    // checkpoints each.
    let chance = std::fs::read_to_string(results.join("data/chance.csv")).unwrap();
    assert_eq!(chance.lines().count(), 1 + 2 * 12, "{chance}");
    assert!(chance
        .lines()
        .skip(1)
        .all(|l| l.contains(",seeds,") || l.contains(",binomial,")));
    let sn = std::fs::read_to_string(results.join("data/signal_noise.csv")).unwrap();
    assert!(sn.contains("blimp_margin,overall,final,4,2,"), "{sn}");
    assert!(results.join("plots/signal_noise.png").is_file());
    assert!(
        results.join("report.html").is_file()
            && results.join("plots/learning_curves.png").is_file()
    );
    // The book's notebook page runs on these results, and pandas, polars and duckdb agree.
    let notebook = Command::new(crate::common::python())
        .arg(repo().join("tests/python/notebook_check.py"))
        .arg(repo().join("docs/src/guide/notebook.md"))
        .arg(&results)
        .output()
        .unwrap();
    assert!(
        notebook.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&notebook.stdout),
        String::from_utf8_lossy(&notebook.stderr)
    );
}

/// `bash env/demo.sh` in the scratch project, as a user without LMEFF_* settings runs it.
fn demo(s: &Scratch) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(s.path().join("env/demo.sh")).current_dir(s.path());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("LMEFF_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("LMEFF_BIN", env!("CARGO_BIN_EXE_lmeff"));
    cmd
}

/// The project as a user has it: the demo script, configs, and env/lmeff.env.
fn project(s: &Scratch) {
    std::fs::create_dir_all(s.path().join("env")).unwrap();
    std::fs::copy(repo().join("env/demo.sh"), s.path().join("env/demo.sh")).unwrap();
    copy_tree(&repo().join("configs"), &s.path().join("configs"));
    s.write(
        "env/lmeff.env",
        &format!("source {}\n", repo().join("env/lmeff.env").display()),
    );
}

#[test]
fn offline_the_demo_stops_at_once_and_says_how_to_use_local_text() {
    let s = Scratch::new();
    project(&s);
    let port = http::dead_port();
    let out = demo(&s)
        .env("LMEFF_MIRROR", format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("cannot reach 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(!stderr.contains("attempt 2"), "no retries: {stderr}");
    assert!(
        stderr.contains("LMEFF_SAMPLE_DATA=DIR make demo"),
        "{stderr}"
    );
    assert!(!s.path().join("data/demo/tinystories").exists());
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
