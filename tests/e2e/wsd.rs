//! End-to-end: a warmup–stable–decay row. Its full run (the trunk) saves the state each budget
//! run branches off at; the budget run trains only its cooldown from there and ends bitwise equal
//! to the same budget run trained straight through; the plan shows it and what it saves.

use crate::common;
use crate::common::{prepared_tinystories, run, Scratch};

/// One WSD row: a full run (cut to 100 steps) and a 0.04M-token budget (79 steps of 8 × 64),
/// a 50% cooldown, so the budget branches off at step 40; a milestone at 0.01M (step 20).
const CONFIGS: &str = "model_config,dataset,epochs,batch_size,grad_accum,seq_length,anchors,tokenizer_vocab_size,seeds,schedule\ntiny,tinystories,1,8,1,64,\"[0.04,-1]\",1000,\"[0]\",wsd\n";
const TRUNK: &str = "output/models/tinystories/llama-tiny/tokenizer-1000-seed-0-wsd";
const BUDGET: &str = "budget-0.04M";

/// `lmeff` in `s` with `env`, then the row's settings (which win over it), and the prepared data.
fn wsd_lmeff(s: &Scratch, env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = s.lmeff();
    cmd.envs(env.iter().copied())
        .env("LMEFF_VOCAB_SIZES", "[1000]")
        .env("LMEFF_MILESTONES", "[0.01]")
        .env("LMEFF_TRAIN__COOLDOWN_FRACTION", "0.5")
        .env("LMEFF_TRAIN__EVAL_TOKENS", "2000")
        .env("LMEFF_THREADS", "1")
        .arg("--data-dir")
        .arg(prepared_tinystories());
    cmd
}

fn lmeff(s: &Scratch, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    run(wsd_lmeff(s, env).args(args))
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

/// `lmeff train --task-index I` of the WSD row in `s` (the trunk, task 0, cut to 100 steps), in
/// the background, its stderr in a file.
fn spawn_task(
    s: &Scratch,
    index: &str,
    env: &[(&str, &str)],
) -> (std::process::Child, std::path::PathBuf) {
    let log = s.path().join(format!("task-{index}.log"));
    let mut cmd = wsd_lmeff(s, env);
    cmd.args(["train", "--configs", "configs.csv", "--task-index", index])
        .args(if index == "0" {
            &["--max-steps", "100"][..]
        } else {
            &[]
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
    (cmd.spawn().unwrap(), log)
}

/// Polls `ready` every 2 ms for at most 120 s, failing if `child` ends first.
fn wait_for(child: &mut std::process::Child, ready: impl Fn() -> bool, what: &str) {
    let start = std::time::Instant::now();
    while !ready() {
        assert!(child.try_wait().unwrap().is_none(), "ended before {what}");
        assert!(
            start.elapsed() < std::time::Duration::from_secs(120),
            "never {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Waits at most 120 s for `child`; kills it and fails after that.
fn finish(mut child: std::process::Child, what: &str) -> (std::process::ExitStatus, String) {
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("{what} did not end within 120 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn step_of(state: &std::path::Path) -> Option<u64> {
    let text = std::fs::read_to_string(state.join("state.json")).ok()?;
    serde_json::from_str::<serde_json::Value>(&text).ok()?["step"].as_u64()
}

#[test]
fn wsd_waits_end_and_stop_and_crashes_at_the_branch_point_lose_nothing() {
    let s = Scratch::new();
    s.write("configs.csv", CONFIGS);
    // A cooldown fraction outside (0, 1) is refused.
    for bad in ["1.5", "-0.1", "0"] {
        let (ok, _, err) = run(s.lmeff().env("LMEFF_TRAIN__COOLDOWN_FRACTION", bad).args([
            "plan",
            "--configs",
            "configs.csv",
        ]));
        assert!(
            !ok && err.contains("train.cooldown_fraction must lie between 0 and 1"),
            "{bad}: {err}"
        );
    }

    // A budget waiting for its trunk stops on SIGTERM with 75, to be requeued.
    let (mut budget, log) = spawn_task(&s, "1", &[("LMEFF_TRAIN__BRANCH_WAIT", "600")]);
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for(
        &mut budget,
        || text().contains("waiting for"),
        "waiting for the trunk",
    );
    unsafe { libc::kill(budget.id() as i32, libc::SIGTERM) };
    let (status, out) = finish(budget, "the waiting budget");
    assert_eq!(status.code(), Some(75), "{}", text());
    assert!(
        out.contains("stopped at step 0; run the same command to resume"),
        "{out}"
    );

    // The trunk is killed at its branch point after saving its own state; the branch state it
    // had not written yet (as runs did before) is written when it resumes there.
    let trunk = s.path().join(TRUNK);
    let (mut t, _) = spawn_task(&s, "0", &[("LMEFF_TRAIN__SAVE_EVERY", "1000")]);
    wait_for(
        &mut t,
        || step_of(&trunk.join("resume")) == Some(40),
        "the branch point's state",
    );
    t.kill().unwrap();
    let _ = t.wait();
    std::fs::remove_dir_all(trunk.join("branch-0.04M")).unwrap();
    if step_of(&trunk.join("resume")) != Some(40) {
        panic!("killed too late to test: the trunk saved past its branch point");
    }
    let (t, _) = spawn_task(&s, "0", &[("LMEFF_TRAIN__SAVE_EVERY", "1000")]);
    let (status, _) = finish(t, "the resumed trunk");
    assert!(status.success());
    assert_eq!(step_of(&trunk.join("branch-0.04M")), Some(40));
    assert!(!trunk.join("branch-0.04M.unreachable").exists());

    // Killed just after branching, the budget still gets the milestone it shares with the trunk.
    let budget_dir = trunk.join(BUDGET);
    let (mut b, _) = spawn_task(&s, "1", &[]);
    wait_for(
        &mut b,
        || budget_dir.join("resume/state.json").is_file(),
        "branching",
    );
    b.kill().unwrap();
    let _ = b.wait();
    let (b, log) = spawn_task(&s, "1", &[]);
    let (status, _) = finish(b, "the resumed budget");
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let meta = std::fs::read_to_string(budget_dir.join("milestone-0.01M/milestone_meta.json"))
        .expect("the shared milestone");
    assert!(meta.contains("budget0.04M"), "{meta}");

    // A run stopped right after writing final/ drops the resume state it left behind.
    copy_dir(&trunk.join("branch-0.04M"), &trunk.join("resume"));
    let trunk_again = [
        "train",
        "--configs",
        "configs.csv",
        "--task-index",
        "0",
        "--max-steps",
        "100",
    ];
    let (ok, out, err) = lmeff(&s, &[], &trunk_again);
    assert!(ok && out.contains("already trained"), "{out}{err}");
    assert!(!trunk.join("resume").exists());

    // A budget added after its trunk finished, or whose branch state was deleted, does not wait
    // for a state that will never come: it trains from the start at once.
    std::fs::remove_dir_all(&budget_dir).unwrap();
    std::fs::remove_dir_all(trunk.join("branch-0.04M")).unwrap();
    let (b, log) = spawn_task(&s, "1", &[("LMEFF_TRAIN__BRANCH_WAIT", "600")]);
    let (status, _) = finish(b, "a budget whose trunk has finished");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{text}");
    assert!(
        text.contains("has finished without a state at step 40: training from the start"),
        "{text}"
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}
