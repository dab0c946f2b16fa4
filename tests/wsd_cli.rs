//! End-to-end: a warmup–stable–decay row. Its full run (the trunk) saves the state each budget
//! run branches off at; the budget run trains only its cooldown from there and ends bitwise equal
//! to the same budget run trained straight through; the plan shows it and what it saves.

mod common;

use common::{prepared_tinystories, run, Scratch};

/// One WSD row: a full run (cut to 100 steps) and a 0.04M-token budget (79 steps of 8 × 64),
/// a 50% cooldown, so the budget branches off at step 40; a milestone at 0.01M (step 20).
const CONFIGS: &str = "model_config,dataset,epochs,batch_size,grad_accum,seq_length,anchors,tokenizer_vocab_size,seeds,schedule\ntiny,tinystories,1,8,1,64,\"[0.04,-1]\",1000,\"[0]\",wsd\n";
const TRUNK: &str = "output/models/tinystories/llama-tiny/tokenizer-1000-seed-0-wsd";
const BUDGET: &str = "budget-0.04M";

fn lmeff(s: &Scratch, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let mut cmd = s.lmeff();
    cmd.envs(env.iter().copied())
        .env("LMEFF_VOCAB_SIZES", "[1000]")
        .env("LMEFF_MILESTONES", "[0.01]")
        .env("LMEFF_TRAIN__COOLDOWN_FRACTION", "0.5")
        .env("LMEFF_TRAIN__EVAL_TOKENS", "2000")
        .env("LMEFF_THREADS", "1")
        .arg("--data-dir")
        .arg(prepared_tinystories())
        .args(args);
    run(&mut cmd)
}

#[test]
fn a_wsd_branch_equals_the_budget_run_trained_straight_through() {
    let s = Scratch::new();
    s.write("configs.csv", CONFIGS);
    let (ok, out, err) = lmeff(&s, &[], &["plan", "--configs", "configs.csv"]);
    assert!(ok, "{err}");
    // The trunk goes first whatever the row's order; the budget trains steps 40..79 from it.
    assert!(out.contains("40..79 from #0"), "{out}");
    assert!(out.contains("epochs (branches at 40)"), "{out}");
    assert!(
        out.contains("WSD budget runs: 0.02M tokens to train")
            && out.contains("0.04M from scratch (0.49×)"),
        "{out}"
    );

    let train = ["train", "--configs", "configs.csv", "--task-index"];
    let (ok, _, err) = lmeff(
        &s,
        &[],
        &[&train[..], &["0", "--max-steps", "100"]].concat(),
    );
    assert!(ok, "{err}");
    assert!(s
        .path()
        .join(TRUNK)
        .join("branch-0.04M/state.json")
        .is_file());
    // The branch, killed part-way through its cooldown, resumes from its own state like any run.
    let metrics_of_budget = s.path().join(TRUNK).join(BUDGET).join("metrics.jsonl");
    let mut child = s.lmeff();
    child
        .env("LMEFF_VOCAB_SIZES", "[1000]")
        .env("LMEFF_MILESTONES", "[0.01]")
        .env("LMEFF_TRAIN__COOLDOWN_FRACTION", "0.5")
        .env("LMEFF_TRAIN__EVAL_TOKENS", "2000")
        .env("LMEFF_TRAIN__SAVE_EVERY", "3")
        .env("LMEFF_TRAIN__LOG_EVERY", "1")
        .env("LMEFF_THREADS", "1")
        .arg("--data-dir")
        .arg(prepared_tinystories())
        .args([&train[..], &["1"]].concat())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = child.spawn().unwrap();
    let start = std::time::Instant::now();
    while std::fs::read_to_string(&metrics_of_budget).map_or(0, |m| m.lines().count()) < 15 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the branch ended before it was killed"
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(120));
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    let killed = child.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&killed.stderr).contains("branching off"));
    let (ok, _, err) = lmeff(
        &s,
        &[
            ("LMEFF_TRAIN__SAVE_EVERY", "3"),
            ("LMEFF_TRAIN__LOG_EVERY", "1"),
        ],
        &[&train[..], &["1"]].concat(),
    );
    assert!(ok, "{err}");
    assert!(
        err.contains("resuming") && !err.contains("branching off"),
        "{err}"
    );
    // Only the cooldown was trained: the run's own metrics start after the branch point.
    let metrics =
        std::fs::read_to_string(s.path().join(TRUNK).join(BUDGET).join("metrics.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
    assert!(first["step"].as_u64().unwrap() > 40, "{first}");

    // The same budget run trained from scratch with the same schedule.
    let straight = [
        ("LMEFF_TRAIN__BRANCHES", "false"),
        ("LMEFF_OUTPUT_DIR", "straight"),
    ];
    let (ok, _, err) = lmeff(&s, &straight, &[&train[..], &["1"]].concat());
    assert!(ok, "{err}");
    assert!(!err.contains("branching off"), "{err}");
    let straight_dir = s
        .path()
        .join("straight/models/tinystories/llama-tiny/tokenizer-1000-seed-0-wsd")
        .join(BUDGET);
    for checkpoint in ["final", "milestone-0.01M"] {
        let weights = |dir: &std::path::Path| {
            std::fs::read(dir.join(checkpoint).join("model.safetensors")).unwrap()
        };
        assert!(
            weights(&s.path().join(TRUNK).join(BUDGET)) == weights(&straight_dir),
            "{checkpoint}: the branch differs from the straight run"
        );
    }
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            s.path()
                .join(TRUNK)
                .join(BUDGET)
                .join("milestone-0.01M/milestone_meta.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        meta["run_id"],
        "tinystories_tiny_v1000_seed0_budget0.04M_wsd"
    );
    assert_eq!(meta["schedule"], "wsd");

    // Scored and aggregated, the branch's results say which schedule made them.
    let budget = format!("{TRUNK}/{BUDGET}");
    let (ok, _, err) = lmeff(
        &s,
        &[],
        &[
            "--blimp-dir",
            common::shared_data().join("blimp").to_str().unwrap(),
            "eval",
            "blimp",
            "--run",
            &budget,
            "--paradigms",
            "adjunct_island",
        ],
    );
    assert!(ok, "{err}");
    let results = s
        .path()
        .join("results/blimp/tinystories/tiny/seed-0/tok-1000-wsd/budget-0.04M");
    assert!(results.join("final/summary.parquet").is_file());
    let (ok, _, err) = lmeff(
        &s,
        &[],
        &[
            "aggregate",
            "--configs",
            "configs.csv",
            "--bootstrap",
            "100",
        ],
    );
    assert!(ok, "{err}");
    let overall = std::fs::read_to_string(s.path().join("results/data/overall.csv")).unwrap();
    let header: Vec<&str> = overall.lines().next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "schedule")
        .expect("a schedule column");
    assert!(
        overall
            .lines()
            .skip(1)
            .all(|l| l.split(',').nth(col) == Some("wsd")),
        "{overall}"
    );
}
