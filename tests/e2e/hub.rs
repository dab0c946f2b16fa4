//! End-to-end tests of the Hub as a checkpoint store, against a loopback Hub (tests/common/hub.rs):
//! push → revisions → pull → eval round trip, a checkpoint built the study's way in transformers
//! scored from the Hub, pushing while training, and bad input (unknown repository or revision, a
//! private repository without a token, a broken download, a repository that is not a LLaMA).

use std::process::Command;
use std::sync::OnceLock;

use crate::common;
use crate::common::hub::Hub;
use crate::common::{copy_tree, python, run, shared_data, study_checkpoint, train_tiny, Scratch};

const TOKEN: &str = "hf_loopbacksecret42";
const PARADIGMS: &str = "adjunct_island,anaphor_gender_agreement";
const RUN: &str = "output/models/tinystories/llama-tiny/tokenizer-1000-seed-0/budget-0.03M";
const REPO: &str = "tester/tinystories-tiny-tok1000";
/// Scoring the checkpoint built the study's way from its Hub branch.
const STUDY_EVAL: [&str; 8] = [
    "eval",
    "blimp",
    "--hub",
    "lab/babylm3-20m-tok2000",
    "--revision",
    "seed-0-tokens-25M",
    "--paradigms",
    PARADIGMS,
];

fn train(s: &Scratch, extra: &[(&str, &str)]) -> (bool, String, String) {
    let mut envs = vec![("LMEFF_MILESTONES", "[0.01,0.02]")];
    envs.extend_from_slice(extra);
    train_tiny(s, &envs, &["--anchor", "0.03", "--seed", "0"])
}

/// A tiny budget run with two milestones and a final checkpoint, trained once.
fn trained() -> &'static Scratch {
    static DONE: OnceLock<Scratch> = OnceLock::new();
    DONE.get_or_init(|| {
        let s = Scratch::new();
        let (ok, _, err) = train(&s, &[]);
        assert!(ok, "{err}");
        s
    })
}

/// `lmeff` in `s` speaking to `hub`, credentials from `s/.env`, cache in `s/hf`.
fn lmeff(s: &Scratch, hub: &Hub) -> Command {
    let mut cmd = s.lmeff();
    cmd.env("HF_HOME", s.path().join("hf"))
        .env_remove("HF_TOKEN")
        .env_remove("HF_NAMESPACE")
        .env_remove("HF_HUB_OFFLINE")
        .env("HF_ENDPOINT", &hub.base)
        .arg("--blimp-dir")
        .arg(shared_data().join("blimp"));
    cmd
}

fn with_token(s: &Scratch) {
    s.write(".env", &format!("HF_TOKEN={TOKEN}\n"));
}

/// No file under `s` (but `.env`) and no output holds the token.
fn token_nowhere(s: &Scratch, outputs: &[&str]) {
    for o in outputs {
        assert!(!o.contains(TOKEN), "the token leaked into output: {o}");
    }
    for f in s.files() {
        if f.file_name().is_some_and(|n| n == ".env") {
            continue;
        }
        let bytes = std::fs::read(s.path().join(&f)).unwrap();
        assert!(
            !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "the token is in {}",
            f.display()
        );
    }
}

#[test]
fn push_revisions_pull_and_eval_round_trip() {
    let hub = Hub::start("tester", TOKEN);
    let s = Scratch::new();
    copy_tree(&trained().path().join("output"), &s.path().join("output"));
    with_token(&s);

    let (ok, out, err) = run(lmeff(&s, &hub).args(["push", "--run", RUN, "--dry-run"]));
    assert!(ok, "{err}");
    assert_eq!(out.matches("to push").count(), 3, "{out}");
    assert!(
        out.contains("seed-0-budget-0.03M-tokens-0.01M") && out.contains(REPO),
        "{out}"
    );
    assert!(
        hub.seen().iter().all(|r| r.method == "GET"),
        "a dry run changes nothing"
    );

    let (ok, out1, err1) = run(lmeff(&s, &hub).args(["push", "--run", RUN]));
    assert!(ok, "{err1}");
    let repo = hub.repo(REPO).expect("the repository was created");
    assert!(repo.private, "repositories are private by default");
    let run_dir = s.path().join(RUN);
    for (folder, branch) in [
        ("milestone-0.01M", "seed-0-budget-0.03M-tokens-0.01M"),
        ("milestone-0.02M", "seed-0-budget-0.03M-tokens-0.02M"),
        ("final", "seed-0-budget-0.03M"),
    ] {
        let files = &repo.commits[&repo.branches[branch]];
        for f in [
            "model.safetensors",
            "config.json",
            "tokenizer.json",
            "milestone_meta.json",
            "README.md",
            "generation_config.json",
        ] {
            assert_eq!(
                files[f],
                std::fs::read(run_dir.join(folder).join(f)).unwrap(),
                "{branch}/{f}"
            );
        }
    }
    assert!(
        repo.commits[&repo.branches["main"]].contains_key("model.safetensors"),
        "main is initialised"
    );
    let commits = hub
        .seen()
        .iter()
        .filter(|r| r.path.contains("/commit/"))
        .count();
    let (ok, out2, err2) = run(lmeff(&s, &hub).args(["push", "--run", RUN]));
    assert!(ok && out2.matches("pushed").count() == 3, "{out2}{err2}");
    assert_eq!(
        hub.seen()
            .iter()
            .filter(|r| r.path.contains("/commit/"))
            .count(),
        commits,
        "a second push commits nothing"
    );

    let (ok, revs, err3) = run(lmeff(&s, &hub).args(["hub", "revisions", REPO]));
    assert!(ok, "{err3}");
    let order: Vec<&str> = revs
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "seed-0-budget-0.03M-tokens-0.01M",
            "seed-0-budget-0.03M-tokens-0.02M",
            "seed-0-budget-0.03M",
            "main"
        ]
    );

    let (ok, _, err4) =
        run(lmeff(&s, &hub).args(["eval", "blimp", "--hub", REPO, "--paradigms", PARADIGMS]));
    assert!(ok, "{err4}");
    let (ok, _, err5) = run(lmeff(&s, &hub).args([
        "eval",
        "blimp",
        "--run",
        RUN,
        "--out",
        "local",
        "--paradigms",
        PARADIGMS,
    ]));
    assert!(ok, "{err5}");
    let results = s
        .path()
        .join("results/blimp/tinystories/tiny/seed-0/tok-1000/budget-0.03M");
    for (label, local) in [("0.01", "0.01"), ("0.02", "0.02"), ("final", "final")] {
        let pulled =
            std::fs::read_to_string(results.join(label).join("blimp_results.json")).unwrap();
        let here = std::fs::read_to_string(
            s.path()
                .join("local")
                .join(local)
                .join("blimp_results.json"),
        )
        .unwrap();
        let results =
            |t: &str| serde_json::from_str::<serde_json::Value>(t).unwrap()["results"].clone();
        assert_eq!(
            results(&pulled),
            results(&here),
            "{label}: every paradigm's accuracy"
        );
        assert!(pulled.contains(&format!("hf://{REPO}@")), "{pulled}");
    }
    let snapshots = s
        .path()
        .join("hf/hub/models--tester--tinystories-tiny-tok1000/snapshots");
    assert_eq!(
        std::fs::read_dir(&snapshots).unwrap().count(),
        3,
        "one snapshot per revision in the HF cache"
    );
    assert!(s
        .path()
        .join("hf/hub/models--tester--tinystories-tiny-tok1000/refs/seed-0-budget-0.03M")
        .is_file());
    token_nowhere(&s, &[&out, &err, &out1, &err1, &out2, &revs, &err4]);
}

#[test]
fn a_checkpoint_built_the_study_way_is_scored_from_the_hub_as_transformers_scores_it() {
    let hub = Hub::start("tester", TOKEN);
    let s = Scratch::new();
    let built = s.path().join("built");
    study_checkpoint(&built);
    hub.put_folder(
        "lab/babylm3-20m-tok2000",
        false,
        "seed-0-tokens-25M",
        &built,
    );

    // Anonymous: a public repository needs no token.
    let (ok, _, err) = run(lmeff(&s, &hub).args(STUDY_EVAL));
    assert!(ok, "{err}");
    let results = s
        .path()
        .join("results/blimp/babylm3/20m/seed-0/tok-2000/25");
    let check = Command::new(python())
        .arg(common::repo().join("tests/python/hf_blimp_check.py"))
        .arg(&built)
        .arg(&results)
        .arg(shared_data().join("blimp"))
        .arg(PARADIGMS)
        .arg("auto")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout).into_owned()
        + &String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success(), "{report}");
    assert!(report.contains("\"disagreements\": 0"), "{report}");

    // Python's huggingface_hub finds lmeff's download in the cache it shares (offline).
    let reuse = Command::new(python())
        .args(["-c", "import sys; from huggingface_hub import snapshot_download as d; print(d(sys.argv[1], revision=sys.argv[2], local_files_only=True))"])
        .args(["lab/babylm3-20m-tok2000", "seed-0-tokens-25M"])
        .env("HF_HOME", s.path().join("hf"))
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    let found = String::from_utf8_lossy(&reuse.stdout);
    assert!(
        reuse.status.success()
            && found.trim().ends_with(
                &hub.repo("lab/babylm3-20m-tok2000").unwrap().branches["seed-0-tokens-25M"]
            ),
        "{found}{}",
        String::from_utf8_lossy(&reuse.stderr)
    );
    // And lmeff scores from the cache alone when offline.
    let downloads = hub.seen().len();
    let (ok, out, err) = run(lmeff(&s, &hub).env("HF_HUB_OFFLINE", "1").args(STUDY_EVAL));
    assert!(ok && out.contains("up to date"), "{out}{err}");
    assert_eq!(hub.seen().len(), downloads, "offline: no request");
}

#[test]
fn bad_hub_input_is_a_clear_error() {
    let hub = Hub::start("tester", TOKEN);
    let s = Scratch::new();
    let final_dir = trained().path().join(RUN).join("final");
    hub.put_folder("lab/private-tiny-tok1000", true, "seed-0", &final_dir);
    hub.put_folder("lab/public-tiny-tok1000", false, "seed-0", &final_dir);
    let eval = |repo: &str, rev: &str| {
        run(lmeff(&s, &hub).args([
            "eval",
            "blimp",
            "--hub",
            repo,
            "--revision",
            rev,
            "--paradigms",
            PARADIGMS,
        ]))
    };
    let (ok, _, err) = eval("lab/nothing-here", "seed-0");
    assert!(
        !ok && err.contains("lab/nothing-here does not exist"),
        "{err}"
    );
    let (ok, _, err) = eval("lab/public-tiny-tok1000", "seed-9");
    assert!(
        !ok && err.contains("has no revision `seed-9`") && err.contains("lmeff hub revisions"),
        "{err}"
    );
    let (ok, _, err) = eval("lab/private-tiny-tok1000", "seed-0");
    assert!(!ok && err.contains("no token is set"), "{err}");
    with_token(&s);
    let (ok, _, err) = eval("lab/private-tiny-tok1000", "seed-0");
    assert!(ok, "with the token: {err}");

    // A download cut off half-way is tried again; the files already complete are kept.
    hub.put_folder("lab/public-tiny-tok1000", false, "seed-1", &final_dir);
    hub.state
        .lock()
        .unwrap()
        .cut_once
        .insert("lab/public-tiny-tok1000/model.safetensors".into());
    let (ok, _, err) = eval("lab/public-tiny-tok1000", "seed-1");
    assert!(ok, "{err}");
    let gets = |file: &str| {
        hub.seen()
            .iter()
            .filter(|r| {
                r.method == "GET"
                    && r.path.contains("lab/public-tiny-tok1000/resolve/")
                    && r.path.ends_with(file)
            })
            .count()
    };
    assert_eq!(
        gets("/model.safetensors"),
        2,
        "the cut file is fetched again"
    );
    assert_eq!(gets("/config.json"), 1, "a complete file is not");

    // Not a LLaMA: refused before anything is scored or written.
    let gpt2 = s.path().join("gpt2");
    copy_tree(&final_dir, &gpt2);
    let config = std::fs::read_to_string(gpt2.join("config.json"))
        .unwrap()
        .replace("\"llama\"", "\"gpt2\"");
    std::fs::write(gpt2.join("config.json"), config).unwrap();
    hub.put_folder("lab/gpt2-tiny-tok1000", false, "seed-0", &gpt2);
    let (ok, _, err) = eval("lab/gpt2-tiny-tok1000", "seed-0");
    assert!(
        !ok && err.contains("not a LLaMA checkpoint") && err.contains("`gpt2`"),
        "{err}"
    );
    assert!(!s.path().join("results/blimp/gpt2").exists());
    token_nowhere(&s, &[&err]);
}

#[test]
fn a_run_pushes_its_checkpoints_while_it_trains_and_a_failed_push_never_stops_it() {
    // The Hub is down: training finishes all the same; the record lists every checkpoint as
    // not pushed, and `lmeff push` publishes them once the Hub is back.
    let s = Scratch::new();
    with_token(&s);
    let dead = format!("http://127.0.0.1:{}", common::http::dead_port());
    let store = [
        ("LMEFF_TRAIN__MILESTONE_STORE", "hf"),
        ("LMEFF_TRAIN__PUSH_WAIT", "2"),
        ("HF_NAMESPACE", "tester"),
        ("HF_ENDPOINT", dead.as_str()),
    ];
    let (ok, _, err) = train(&s, &store);
    assert!(ok, "{err}");
    assert!(
        err.contains("pushing") || err.contains("still being pushed"),
        "{err}"
    );
    let record = std::fs::read_to_string(s.path().join(RUN).join("hub_push.json")).unwrap();
    assert_eq!(record.trim(), "{}", "nothing was pushed");

    let hub = Hub::start("tester", TOKEN);
    let (ok, out, err) = run(lmeff(&s, &hub).args(["push", "--run", RUN]));
    assert!(ok && out.matches("pushed now").count() == 3, "{out}{err}");

    // The Hub is up: a run publishes each checkpoint as it lands.
    let live = Scratch::new();
    with_token(&live);
    let store = [
        ("LMEFF_TRAIN__MILESTONE_STORE", "hf"),
        ("LMEFF_TRAIN__PUSH_WAIT", "120"),
        ("HF_ENDPOINT", hub.base.as_str()),
    ];
    let (ok, _, err) = train(&live, &store);
    assert!(ok, "{err}");
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(live.path().join(RUN).join("hub_push.json")).unwrap(),
    )
    .unwrap();
    for folder in ["milestone-0.01M", "milestone-0.02M", "final"] {
        assert!(record[folder]["commit"].is_string(), "{folder}: {record}");
    }
    token_nowhere(&live, &[&err]);
}

#[test]
fn names_from_the_hub_never_leave_the_cache_and_only_what_scoring_reads_is_fetched() {
    let hub = Hub::start("tester", TOKEN);
    let s = Scratch::new();
    let folder = s.path().join("ck");
    copy_tree(&trained().path().join(RUN).join("final"), &folder);
    // A large file scoring never reads.
    std::fs::write(folder.join("optimizer.pt"), vec![7u8; 3 << 20]).unwrap();
    hub.put_folder("lab/hostile-tiny-tok1000", false, "seed-0", &folder);
    // `eval blimp --hub` of the hostile repository at `revision`, in `scratch`.
    let eval_in = |scratch: &Scratch, revision: &str| {
        run(lmeff(scratch, &hub).args([
            "eval",
            "blimp",
            "--hub",
            "lab/hostile-tiny-tok1000",
            "--revision",
            revision,
            "--paradigms",
            PARADIGMS,
        ]))
    };
    // The listing names a file five folders up from the snapshot: the user's file stays theirs.
    s.write("victim.txt", "mine");
    hub.state.lock().unwrap().extra_listing = vec!["../../../../../victim.txt".into()];
    let (ok, _, err) = eval_in(&s, "seed-0");
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read_to_string(s.path().join("victim.txt")).unwrap(),
        "mine"
    );
    let fetched: Vec<String> = hub
        .seen()
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/resolve/"))
        .map(|r| r.path.rsplit('/').next().unwrap().to_owned())
        .collect();
    assert!(
        !fetched
            .iter()
            .any(|f| f == "optimizer.pt" || f == "victim.txt"),
        "{fetched:?}"
    );
    assert!(
        fetched.iter().any(|f| f == "model.safetensors"),
        "{fetched:?}"
    );

    // A commit id that is a path is refused before anything is written.
    let s2 = Scratch::new();
    hub.state.lock().unwrap().fake_commit = Some("../../../../../escaped".into());
    let (ok, _, err) = eval_in(&s2, "seed-0");
    assert!(
        !ok && err.contains("which is not one (40 hex digits)"),
        "{err}"
    );
    assert!(!s2.path().join("escaped").exists() && !s2.path().join("results").exists());

    // Every file the listing names answers 404: the error names repository, revision and file.
    let s3 = Scratch::new();
    {
        let mut st = hub.state.lock().unwrap();
        st.fake_commit = None;
        st.all_missing = true;
    }
    let (ok, _, err) = eval_in(&s3, "seed-0");
    assert!(
        !ok && err.contains("lab/hostile-tiny-tok1000@seed-0: config.json: HTTP 404"),
        "{err}"
    );
    // A revision that is a path is refused before any request.
    let (ok, _, err) = eval_in(&s3, "../../x");
    assert!(
        !ok && err.contains("is not a branch, tag or commit name"),
        "{err}"
    );
}

#[test]
fn a_damaged_checkpoint_is_never_pushed_and_a_dry_run_says_what_to_set() {
    let hub = Hub::start("tester", TOKEN);
    let s = Scratch::new();
    copy_tree(&trained().path().join("output"), &s.path().join("output"));
    // Without a namespace or a token, a dry run shows where things go and what to set.
    let (ok, out, err) = run(lmeff(&s, &hub).args(["push", "--run", RUN, "--dry-run"]));
    assert!(ok, "{err}");
    assert!(out.contains("NAMESPACE/tinystories-tiny-tok1000"), "{out}");
    assert!(err.contains("set HF_NAMESPACE (or HF_TOKEN"), "{err}");

    with_token(&s);
    let weights = s.path().join(RUN).join("final/model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&weights, bytes).unwrap();
    let (ok, _, err) = run(lmeff(&s, &hub).args(["push", "--run", RUN]));
    assert!(
        !ok && err.contains("refusing to push a checkpoint that fails its checksums.json"),
        "{err}"
    );
    let pushed =
        std::fs::read_to_string(s.path().join(RUN).join("hub_push.json")).unwrap_or_default();
    assert!(!pushed.contains("\"final\""), "{pushed}");
    let repo = hub.repo(REPO).unwrap();
    assert!(
        !repo.branches.contains_key("seed-0-budget-0.03M"),
        "{:?}",
        repo.branches
    );
    token_nowhere(&s, &[&err]);
}

#[test]
fn the_saved_token_is_found_where_huggingface_hub_saves_it() {
    let hub = Hub::start("tester", TOKEN);
    let final_dir = trained().path().join(RUN).join("final");
    hub.put_folder("lab/private-tiny-tok1000", true, "seed-0", &final_dir);
    let s = Scratch::new();
    let eval = |env: &[(&str, std::path::PathBuf)]| {
        let mut cmd = lmeff(&s, &hub);
        cmd.env_remove("HF_HOME").env_remove("HF_TOKEN_PATH");
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(cmd.args([
            "eval",
            "blimp",
            "--hub",
            "lab/private-tiny-tok1000",
            "--revision",
            "seed-0",
            "--paradigms",
            PARADIGMS,
            "--force",
        ]))
    };
    let xdg = s.path().join("xdg");
    // Saved by `huggingface-cli login` with XDG_CACHE_HOME set (HF_HOME unset).
    s.write("xdg/huggingface/token", &format!("{TOKEN}\n"));
    let (ok, _, err) = eval(&[("XDG_CACHE_HOME", xdg.clone())]);
    assert!(ok, "{err}");
    // lmeff's own credentials find it too: the namespace is the token's owner.
    copy_tree(&trained().path().join("output"), &s.path().join("output"));
    let (ok, out, err) = run(lmeff(&s, &hub)
        .env_remove("HF_HOME")
        .env("XDG_CACHE_HOME", &xdg)
        .args(["push", "--run", RUN, "--dry-run"]));
    assert!(
        ok && out.contains("tester/tinystories-tiny-tok1000"),
        "{out}{err}"
    );
    std::fs::remove_dir_all(s.path().join("output")).unwrap();
    assert!(xdg
        .join("huggingface/hub/models--lab--private-tiny-tok1000")
        .is_dir());
    // Or wherever HF_TOKEN_PATH says.
    std::fs::remove_file(xdg.join("huggingface/token")).unwrap();
    let (ok, _, err) = eval(&[("XDG_CACHE_HOME", xdg.clone())]);
    assert!(!ok && err.contains("no token is set"), "{err}");
    s.write("elsewhere/tok", TOKEN);
    let (ok, _, err) = eval(&[
        ("XDG_CACHE_HOME", xdg.clone()),
        ("HF_TOKEN_PATH", s.path().join("elsewhere/tok")),
    ]);
    assert!(ok, "{err}");
    // The token files are the user's; nothing lmeff wrote holds the token.
    std::fs::remove_file(s.path().join("elsewhere/tok")).unwrap();
    token_nowhere(&s, &[&err]);
}

#[test]
fn large_files_are_pushed_through_lfs_where_the_hub_offers_no_xet() {
    let hub = Hub::start("tester", TOKEN);
    let sha = |b: &[u8]| -> String {
        use sha2::Digest;
        sha2::Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    };
    // An 11 MB file beside the weights: above the 10 MB a regular commit takes.
    let big: Vec<u8> = (0..11u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    for (namespace, chunk) in [("basic-lab", None), ("multi-lab", Some(4usize << 20))] {
        let s = Scratch::new();
        copy_tree(&trained().path().join("output"), &s.path().join("output"));
        std::fs::write(s.path().join(RUN).join("final/big.bin"), &big).unwrap();
        with_token(&s);
        {
            let mut st = hub.state.lock().unwrap();
            st.lfs.clear();
            st.multipart_chunk = chunk;
        }
        let (ok, _, err) = run(lmeff(&s, &hub)
            .env("HF_NAMESPACE", namespace)
            .args(["push", "--run", RUN]));
        assert!(ok, "{namespace}: {err}");
        let st = hub.state.lock().unwrap();
        assert!(
            st.lfs.contains_key(&sha(&big)),
            "{namespace}: the large file went through LFS"
        );
        let weights = std::fs::read(s.path().join(RUN).join("final/model.safetensors")).unwrap();
        assert!(
            st.lfs.contains_key(&sha(&weights)),
            "{namespace}: *.safetensors too"
        );
        assert!(
            st.lfs_parts.is_empty(),
            "{namespace}: every multipart upload completed"
        );
        let repo = &st.repos[&format!("{namespace}/tinystories-tiny-tok1000")];
        let files = &repo.commits[&repo.branches["seed-0-budget-0.03M"]];
        assert!(files["big.bin"] == big, "{namespace}: arrived whole");
        assert_eq!(sha(&files["model.safetensors"]), sha(&weights));
        drop(st);
        token_nowhere(&s, &[&err]);
    }
}
