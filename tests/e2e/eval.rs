//! End-to-end tests of `lmeff eval blimp` on a tiny trained run and the real BLiMP files: the
//! three outputs per checkpoint, the transformers cross-check (the study's loop), skipping,
//! foreign checkpoints and bad input.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use crate::common;
use crate::common::{copy_tree, python, run, shared_data, train_tiny, Scratch};

const PARADIGMS: &str =
    "adjunct_island,anaphor_gender_agreement,regular_plural_subject_verb_agreement_1";
const RUN: &str = "output/models/tinystories/llama-tiny/tokenizer-1000-seed-2/budget-0.03M";
const RESULTS: &str = "results/blimp/tinystories/tiny/seed-2/tok-1000/budget-0.03M";

/// A tiny budget run with two milestones, trained once.
fn trained() -> &'static Scratch {
    static RUN_DIR: OnceLock<Scratch> = OnceLock::new();
    RUN_DIR.get_or_init(|| {
        let s = Scratch::new();
        let (ok, _, err) = train_tiny(
            &s,
            &[("LMEFF_MILESTONES", "[0.01,0.02]")],
            &["--anchor", "0.03", "--seed", "2"],
        );
        assert!(ok, "{err}");
        s
    })
}

fn eval(s: &Scratch, blimp: &Path) -> Command {
    let mut cmd = s.lmeff();
    cmd.arg("--blimp-dir").arg(blimp).args(["eval", "blimp"]);
    cmd
}

#[test]
fn a_run_is_scored_per_checkpoint_and_agrees_with_transformers() {
    let s = Scratch::new();
    copy_tree(&trained().path().join("output"), &s.path().join("output"));
    let (ok, out, err) =
        run(eval(&s, &shared_data().join("blimp")).args(["--run", RUN, "--paradigms", PARADIGMS]));
    assert!(ok, "{err}");
    assert_eq!(out.matches("BLiMP accuracy").count(), 3, "{out}");
    for anchor in ["0.01", "0.02", "final"] {
        for f in ["pairs.parquet", "summary.parquet", "blimp_results.json"] {
            assert!(
                s.path().join(RESULTS).join(anchor).join(f).is_file(),
                "{anchor}/{f}"
            );
        }
    }
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.path().join(RESULTS).join("final/blimp_results.json")).unwrap(),
    )
    .unwrap();
    let acc = json["results"]["blimp"]["acc,none"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    assert_eq!(json["groups"]["blimp"]["acc,none"].as_f64().unwrap(), acc);
    assert!(
        json["results"]["blimp_adjunct_island"]["acc_stderr,none"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert_eq!(json["lmeff"]["identity"]["tokens_seen"], 30_208);
    // lm-evaluation-harness' own table reads it: a row per paradigm (version 1, zero-shot) and
    // the group's.
    let out = Command::new(python())
        .arg(common::repo().join("tests/python/lm_eval_table.py"))
        .arg(s.path().join(RESULTS).join("final/blimp_results.json"))
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = table
        .lines()
        .find(|l| l.contains("blimp_adjunct_island"))
        .unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(&cells[2..6], ["1", "none", "0", "acc"], "{row}");
    assert!(
        table.contains("|Groups|") && table.matches("|blimp ").count() == 2,
        "{table}"
    );

    // The study's loop in transformers gives the same log-probs and decisions; pyarrow reads the files.
    let out = Command::new(python())
        .arg(common::repo().join("tests/python/hf_blimp_check.py"))
        .arg(s.path().join(RUN).join("final"))
        .arg(s.path().join(RESULTS).join("final"))
        .arg(shared_data().join("blimp"))
        .arg(PARADIGMS)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["pairs"], 3000);
    assert_eq!(report["disagreements"], 0);

    // Unchanged checkpoints are skipped; --force re-evaluates to the same numbers.
    let before = std::fs::read(s.path().join(RESULTS).join("final/pairs.parquet")).unwrap();
    let (ok, out, _) =
        run(eval(&s, &shared_data().join("blimp")).args(["--run", RUN, "--paradigms", PARADIGMS]));
    assert!(ok && out.matches("up to date").count() == 3, "{out}");
    let (ok, out, err) = run(eval(&s, &shared_data().join("blimp")).args([
        "--checkpoint",
        &format!("{RUN}/final"),
        "--paradigms",
        PARADIGMS,
        "--force",
    ]));
    assert!(ok && out.contains("BLiMP accuracy"), "{err}");
    assert_eq!(
        std::fs::read(s.path().join(RESULTS).join("final/pairs.parquet")).unwrap(),
        before
    );
}

#[test]
fn a_foreign_checkpoint_needs_out_and_gets_it() {
    let s = Scratch::new();
    let hf = s.path().join("hf-llama");
    copy_tree(&trained().path().join(RUN).join("final"), &hf);
    std::fs::remove_file(hf.join("milestone_meta.json")).unwrap();
    let blimp = shared_data().join("blimp");
    let (ok, _, err) =
        run(eval(&s, &blimp).args(["--checkpoint", "hf-llama", "--paradigms", "adjunct_island"]));
    assert!(!ok);
    assert!(
        err.contains("has no lmeff milestone_meta.json") && err.contains("--out"),
        "{err}"
    );
    let (ok, _, err) = run(eval(&s, &blimp).args([
        "--checkpoint",
        "hf-llama",
        "--paradigms",
        "adjunct_island",
        "--out",
        "res",
    ]));
    assert!(ok, "{err}");
    assert!(s.path().join("res/pairs.parquet").is_file());
}

#[test]
fn a_checkpoint_is_encoded_as_transformers_loads_its_tokenizer() {
    // As the study released its checkpoints: a GPT2TokenizerFast, which turns the prefix space
    // off, and no lmeff files. lmeff scores `<s>` + sentence without the space, as transformers
    // does for this folder; the study's loop agrees on every pair.
    let s = Scratch::new();
    let released = s.path().join("released");
    copy_tree(&trained().path().join(RUN).join("final"), &released);
    for f in [
        "milestone_meta.json",
        "checksums.json",
        "special_tokens_map.json",
    ] {
        std::fs::remove_file(released.join(f)).unwrap();
    }
    std::fs::write(
        released.join("tokenizer_config.json"),
        r#"{"tokenizer_class": "GPT2TokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}"#,
    )
    .unwrap();
    let (ok, _, err) = run(eval(&s, &shared_data().join("blimp")).args([
        "--checkpoint",
        "released",
        "--out",
        "res",
        "--paradigms",
        PARADIGMS,
    ]));
    assert!(ok, "{err}");
    let check = |results: &str| {
        let out = Command::new(python())
            .arg(common::repo().join("tests/python/hf_blimp_check.py"))
            .arg(&released)
            .arg(s.path().join(results))
            .arg(shared_data().join("blimp"))
            .arg(PARADIGMS)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), report)
    };
    let (ok, report) = check("res");
    assert!(ok, "{report}");
    // With lmeff's own setting (the prefix space on), the same weights score differently: the
    // check above could fail.
    std::fs::write(
        released.join("tokenizer_config.json"),
        r#"{"tokenizer_class": "PreTrainedTokenizerFast", "add_prefix_space": true, "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}"#,
    )
    .unwrap();
    let (ok, out, err) = run(eval(&s, &shared_data().join("blimp")).args([
        "--checkpoint",
        "released",
        "--out",
        "res-space",
        "--paradigms",
        PARADIGMS,
    ]));
    assert!(ok && out.contains("BLiMP accuracy"), "{err}");
    let ours = |dir: &str| std::fs::read(s.path().join(dir).join("pairs.parquet")).unwrap();
    assert_ne!(ours("res"), ours("res-space"));
    let (ok, report) = check("res-space");
    assert!(ok, "transformers follows the file too: {report}");
}

#[test]
fn bad_blimp_input_is_a_clear_error_and_writes_nothing() {
    let s = Scratch::new();
    let ck = trained().path().join(RUN).join("final");
    let blimp = s.path().join("blimp");
    std::fs::create_dir_all(&blimp).unwrap();
    let src = std::fs::read_to_string(shared_data().join("blimp/adjunct_island.jsonl")).unwrap();
    let mut lines: Vec<&str> = src.lines().collect();
    lines[4] = r#"{"sentence_good": "x""#;
    std::fs::write(blimp.join("adjunct_island.jsonl"), lines.join("\n")).unwrap();
    let bad = |args: &[&str]| {
        let mut cmd = eval(&s, &blimp);
        cmd.arg("--checkpoint")
            .arg(&ck)
            .args(["--out", "res"])
            .args(args);
        run(&mut cmd)
    };
    let (ok, _, err) = bad(&["--paradigms", "adjunct_island"]);
    assert!(!ok);
    assert!(
        err.contains("adjunct_island.jsonl:5") && err.contains("not a BLiMP pair"),
        "{err}"
    );
    let (ok, _, err) = bad(&["--paradigms", "left_branch_island_simple_question"]);
    assert!(!ok);
    assert!(
        err.contains("left_branch_island_simple_question.jsonl"),
        "{err}"
    );
    let (ok, _, err) = bad(&["--paradigms", "not_a_paradigm"]);
    assert!(!ok);
    assert!(
        err.contains("not_a_paradigm\" is not a BLiMP paradigm"),
        "{err}"
    );
    std::fs::write(
        blimp.join("adjunct_island.jsonl"),
        src.lines().take(10).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    let (ok, _, err) = bad(&["--paradigms", "adjunct_island"]);
    assert!(!ok);
    assert!(err.contains("10 pairs, expected 1000"), "{err}");
    assert!(!s.path().join("res").exists());
    let (ok, _, err) = run(eval(&s, &blimp).args(["--checkpoint", "nowhere", "--out", "res"]));
    assert!(!ok);
    assert!(err.contains("not a checkpoint folder"), "{err}");
}
