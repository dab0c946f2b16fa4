//! End-to-end: `lmeff plan` and the settings layers, through the real binary.

use crate::common::{repo, run, Scratch};
use serde_json::Value;

const HEADER: &str =
    "model_config,dataset,epochs,batch_size,grad_accum,seq_length,anchors,tokenizer_vocab_size";

fn plan_json(s: &Scratch, args: &[&str]) -> Vec<Value> {
    let (ok, out, err) = run(s.lmeff().args(["plan", "--format", "json"]).args(args));
    assert!(ok, "lmeff plan failed: {err}");
    serde_json::from_str::<Vec<Value>>(&out).expect("plan --format json is a JSON array")
}

#[test]
fn help_and_version() {
    let s = Scratch::new();
    let (ok, out, _) = run(s.lmeff().arg("--help"));
    assert!(ok);
    for word in [
        "plan",
        "doctor",
        "--config",
        "--verbose",
        "--quiet",
        "--device",
    ] {
        assert!(out.contains(word), "--help lacks {word}:\n{out}");
    }
    let (ok, out, _) = run(s.lmeff().arg("-V"));
    assert!(ok);
    assert_eq!(out.trim(), format!("lmeff {}", env!("CARGO_PKG_VERSION")));
    // --version: the provenance a report or a bug report needs.
    let (ok, out, _) = run(s.lmeff().arg("--version"));
    assert!(ok);
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo())
        .output()
        .unwrap();
    let commit = String::from_utf8_lossy(&commit.stdout).trim().to_owned();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("lmeff {}", env!("CARGO_PKG_VERSION")));
    assert_eq!(lines[1], format!("commit: {commit}"), "{out}");
    assert!(lines[2].starts_with("built: 20"), "{out}");
    assert!(lines[3].starts_with("libtorch: 2.11.0"), "{out}");
    assert_eq!(lines[4], "features: torch,mpi", "{out}");
}

#[test]
fn completions_and_the_man_page_come_from_the_command_line() {
    let s = Scratch::new();
    // bash loads the script and completes lmeff with it; every shell gets one.
    let (ok, script, err) = run(s.lmeff().args(["completions", "bash"]));
    assert!(ok, "{err}");
    s.write("lmeff.bash", &script);
    let check = std::process::Command::new("bash")
        .arg("-c")
        .arg("source lmeff.bash && complete -p lmeff")
        .current_dir(s.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success() && said.contains("_lmeff"), "{said}");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let (ok, out, err) = run(s.lmeff().args(["completions", shell]));
        assert!(
            ok && out.contains("aggregate") && out.contains("race"),
            "{shell}: {err}"
        );
    }
    let (ok, _, err) = run(s.lmeff().args(["completions", "tcsh"]));
    assert!(!ok && err.contains("tcsh"), "{err}");
    // The man page: roff, naming every command.
    let (ok, page, err) = run(s.lmeff().arg("man"));
    assert!(ok, "{err}");
    assert!(page.contains(".TH lmeff 1"), "{page}");
    for command in [
        "plan",
        "data",
        "train",
        "eval",
        "aggregate",
        "race",
        "launch",
        "status",
    ] {
        assert!(
            page.contains(&format!("lmeff\\-{command}")) || page.contains(command),
            "{command}"
        );
    }
}

#[test]
fn shipped_matrix_plans_with_hand_computed_numbers() {
    let s = Scratch::new();
    let configs = repo().join("configs/configs.csv");
    let runs = plan_json(
        &s,
        &["--configs", configs.to_str().unwrap(), "--seeds", "0,1"],
    );
    // Rows: 20m [-1]; 60m [25,50,100,250,500]; 180m [-1,1000] -> 8 runs per seed.
    assert_eq!(runs.len(), 16);
    for key in [
        "run_id",
        "model",
        "dataset",
        "vocab_size",
        "seq_len",
        "seed",
        "anchor_tokens",
        "tokens_per_step",
        "max_steps",
        "milestone_steps",
        "output_dir",
    ] {
        assert!(runs.iter().all(|r| r.get(key).is_some()), "missing {key}");
    }
    let full = &runs[0];
    assert_eq!(full["run_id"], "tinystories_20m_v16000_seed0_full");
    assert!(full["anchor_tokens"].is_null() && full["max_steps"].is_null());
    assert_eq!(full["tokens_per_step"], 64 * 256);
    assert_eq!(full["milestone_steps"]["2000"], 122_071); // ceil(2e9 / 16384)

    let b25 = runs
        .iter()
        .find(|r| r["run_id"] == "babylm_60m_v16000_seed1_budget25M")
        .expect("the 60m 25M run for seed 1");
    assert_eq!(b25["tokens_per_step"], 65_536); // 128 x 2 x 256
    assert_eq!(b25["anchor_tokens"], 25_000_000);
    assert_eq!(b25["max_steps"], 382); // ceil(25e6 / 65536)
    assert_eq!(b25["milestone_steps"], serde_json::json!({"25": 382}));
    assert_eq!(
        b25["output_dir"],
        "output/models/babylm/llama-60m/tokenizer-16000-seed-1/budget-25M"
    );

    let b1000 = runs
        .iter()
        .find(|r| r["run_id"] == "web_180m_v32000_seed0_budget1000M")
        .unwrap();
    // 180m preset defaults (batch 0 / accum 0 in the csv): 256 x 2 x 256 = 131,072 tokens/step.
    assert_eq!(b1000["tokens_per_step"], 131_072);
    assert_eq!(b1000["max_steps"], 7630); // ceil(1e9 / 131072)
    assert_eq!(b1000["milestone_steps"].as_object().unwrap().len(), 8);
    // Task indices are the Slurm array order.
    let idx: Vec<u64> = runs
        .iter()
        .map(|r| r["task_index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, (0..16).collect::<Vec<_>>());
}

#[test]
fn settings_layers_reach_the_plan() {
    let s = Scratch::new();
    s.write(
        "configs/configs.csv",
        &format!("{HEADER}\n20m,tinystories,1,8,1,128,\"[0.05]\",8000\n"),
    );
    s.write(
        "configs/lmeff.toml",
        "milestones = [0.02, 0.05, 0.1]\noutput_dir = \"from-file\"\nseeds = [7]\n",
    );
    let runs = plan_json(&s, &[]);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["seed"], 7);
    // 8 x 1 x 128 = 1024 tokens/step; 0.02M -> ceil(20000/1024) = 20, 0.05M -> 49; 0.1M > budget.
    assert_eq!(
        runs[0]["milestone_steps"],
        serde_json::json!({"0.02": 20, "0.05": 49})
    );
    assert_eq!(runs[0]["max_steps"], 49);
    assert!(runs[0]["output_dir"]
        .as_str()
        .unwrap()
        .starts_with("from-file/"));

    let (ok, out, err) = run(s
        .lmeff()
        .env("LMEFF_OUTPUT_DIR", "from-env")
        .args(["plan", "--format", "json"]));
    assert!(ok, "{err}");
    assert!(out.contains("\"from-env/models/"), "{out}");

    let (ok, out, err) = run(s.lmeff().env("LMEFF_OUTPUT_DIR", "from-env").args([
        "plan",
        "--format",
        "json",
        "--output-dir",
        "from-flag",
    ]));
    assert!(ok, "{err}");
    assert!(out.contains("\"from-flag/models/"), "{out}");

    let (ok, _, err) = run(s.lmeff().args(["--config", "nope.toml", "plan"]));
    assert!(!ok);
    assert!(err.contains("nope.toml"), "{err}");
}

#[test]
fn table_format_lists_every_run() {
    let s = Scratch::new();
    let configs = repo().join("configs/configs.csv");
    let (ok, out, err) = run(s.lmeff().args([
        "plan",
        "--seeds",
        "3",
        "--configs",
        configs.to_str().unwrap(),
    ]));
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1 + 8);
    assert!(lines[0].starts_with("#  run_id"));
    assert!(lines[2].contains("babylm_60m_v16000_seed3_budget25M") && lines[2].contains("25M@382"));
}

/// The 180m row at vocab 32000 is estimated too large for an 80 GiB GPU at micro-batch 256: on
/// CUDA the plan warns and names the `train.max_micro_batch` that fits; with it set, no warning
/// and the GiB column halves. On the CPU nothing is said.
#[test]
fn plans_warn_about_runs_too_large_for_the_gpu() {
    let s = Scratch::new();
    let configs = repo().join("configs/configs.csv");
    let plan = |env: &[(&str, &str)]| {
        let mut cmd = s.lmeff();
        cmd.args([
            "plan",
            "--seeds",
            "0",
            "--configs",
            configs.to_str().unwrap(),
        ]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (ok, out, err) = run(&mut cmd);
        assert!(ok, "{err}");
        let gib = |run_id: &str| -> f64 {
            let line = out.lines().find(|l| l.contains(run_id)).unwrap();
            let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
            let at = header.iter().position(|h| *h == "GiB").unwrap();
            line.split_whitespace().nth(at).unwrap().parse().unwrap()
        };
        (
            gib("web_180m_v32000_seed0_full"),
            gib("tinystories_20m_v16000_seed0_full"),
            err,
        )
    };
    let (big, small, err) = plan(&[("LMEFF_DEVICE", "cuda")]);
    assert!((76.0..84.0).contains(&big) && small < 10.0, "{big} {small}");
    assert!(
        err.contains("warning: 2 run(s) of llama-180m at vocab 32000")
            && err.contains("set train.max_micro_batch = 128"),
        "{err}"
    );
    assert!(!err.contains("llama-20m"), "{err}");
    let (cut, _, err) = plan(&[
        ("LMEFF_DEVICE", "cuda"),
        ("LMEFF_TRAIN__MAX_MICRO_BATCH", "128"),
    ]);
    assert!(cut < 0.6 * big && !err.contains("warning"), "{cut} {err}");
    let (_, _, err) = plan(&[]);
    assert!(!err.contains("warning"), "{err}");
}

/// Each malformed matrix: non-zero exit, an error naming file, line and column, nothing written.
#[test]
fn bad_matrices_are_clear_errors_and_write_nothing() {
    let cases: [(&str, String, &[&str]); 7] = [
        (
            "unknown model",
            format!("{HEADER}\n20m,tinystories,50,64,1,256,\"[-1]\",16000\n30m,tinystories,50,64,1,256,\"[-1]\",16000\n"),
            &[":3: column 1 `model_config`", "unknown model preset"],
        ),
        (
            "bad JSON anchors",
            format!("{HEADER}\n20m,tinystories,50,64,1,256,\"[25,,50]\",16000\n"),
            &[":2: column 7 `anchors`", "JSON"],
        ),
        (
            "vocab size too small",
            format!("{HEADER}\n20m,tinystories,50,64,1,256,\"[-1]\",200\n"),
            &[":2: column 8 `tokenizer_vocab_size`", "vocab size below 259"],
        ),
        (
            "missing column",
            "model_config,dataset,epochs,batch_size,grad_accum,seq_length,tokenizer_vocab_size\n20m,tinystories,50,64,1,256,16000\n".to_string(),
            &[":1: missing column `anchors`"],
        ),
        (
            "negative number",
            format!("{HEADER}\n20m,tinystories,50,64,-1,256,\"[-1]\",16000\n"),
            &[":2: column 5 `grad_accum`", "negative"],
        ),
        (
            "negative anchor",
            format!("{HEADER}\n20m,tinystories,50,64,1,256,\"[-5]\",16000\n"),
            &[":2: column 7 `anchors`", "-1 for a full run"],
        ),
        (
            "duplicate run",
            format!("{HEADER}\n20m,tinystories,50,64,1,256,\"[-1]\",16000\n20m,tinystories,10,32,2,256,\"[-1]\",16000\n"),
            &[":3: duplicate run tinystories_20m_v16000_seed0_full", "line 2"],
        ),
    ];
    for (what, text, expected) in cases {
        let s = Scratch::new();
        let path = s.write("bad.csv", &text);
        let before = s.files();
        let (ok, out, err) =
            run(s
                .lmeff()
                .args(["plan", "--seeds", "0", "--configs", path.to_str().unwrap()]));
        assert!(!ok, "{what}: expected failure, got:\n{out}");
        assert!(out.is_empty(), "{what}: printed a plan anyway");
        assert!(
            err.contains("bad.csv"),
            "{what}: error does not name the file: {err}"
        );
        for e in expected {
            assert!(err.contains(e), "{what}: error lacks `{e}`:\n{err}");
        }
        assert_eq!(s.files(), before, "{what}: files were written");
    }
}

#[test]
fn doctor_trains_a_tiny_model_on_cpu() {
    let s = Scratch::new();
    let (ok, out, err) = run(s.lmeff().args(["doctor", "--steps", "80"]));
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["device"], "cpu");
    let (a, b) = (
        report["initial_loss"].as_f64().unwrap(),
        report["final_loss"].as_f64().unwrap(),
    );
    assert!(b < 0.2 * a, "loss {a} -> {b}");
}

#[test]
fn the_studys_configs_csv_plans_as_written() {
    let s = Scratch::new();
    // The study's columns, `gpus_used` among them, and a row whose batch differs from the preset's
    // (20m: 64 × 1), which the study ignored.
    s.write(
        "configs/configs.csv",
        &format!("{HEADER},gpus_used\n20m,tinystories,1,32,2,256,\"[25]\",16000,2\n"),
    );
    let (ok, out, err) = run(s.lmeff().args(["plan", "--format", "json"]));
    assert!(ok, "{err}");
    let runs: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(runs[0]["gpus"], 2);
    assert_eq!(runs[0]["tokens_per_step"], 32 * 2 * 256);
    assert!(
        err.contains("configs/configs.csv:2: batch_size 32 × grad_accum 2 differ from the 20m preset's 64 × 1")
            && err.contains("the study always used the preset's"),
        "{err}"
    );

    // batch_from = "preset" does what the study did.
    let (ok, out, err) = run(s
        .lmeff()
        .env("LMEFF_BATCH_FROM", "preset")
        .args(["plan", "--format", "json"]));
    assert!(ok, "{err}");
    let runs: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(runs[0]["tokens_per_step"], 64 * 256);
    assert!(err.contains("ignored: batch_from = \"preset\""), "{err}");

    s.write(
        "configs/configs.csv",
        &format!("{HEADER},gpus,gpus_used\n20m,tinystories,1,64,1,256,\"[25]\",16000,1,2\n"),
    );
    let (ok, _, err) = run(s.lmeff().arg("plan"));
    assert!(
        !ok && err.contains("`gpus_used`") && err.contains("disagrees with `gpus` 1"),
        "{err}"
    );
}

#[test]
fn plan_race_gives_the_rungs_and_the_compute_between_best_and_worst() {
    let s = Scratch::new();
    // Three configurations of one size on the same prepared text (under three names).
    let prepared = crate::common::prepared_tinystories().join("tinystories");
    for name in ["ts_a", "ts_b", "ts_c"] {
        crate::common::copy_tree(&prepared, &s.path().join("data").join(name));
    }
    let rows: String = ["ts_a", "ts_b", "ts_c"]
        .iter()
        .map(|d| format!("tiny,{d},1,8,1,64,\"[-1]\",1000\n"))
        .collect();
    s.write("configs/configs.csv", &format!("{HEADER}\n{rows}"));
    let race = |extra: &[&str]| {
        let (ok, out, err) = run(s
            .lmeff()
            .env("LMEFF_MILESTONES", "[0.05, 0.1]")
            .env("LMEFF_VOCAB_SIZES", "[1000]")
            .env("LMEFF_RACE__MIN_ANCHOR", "0.05")
            .env("LMEFF_RACE__KEEP", "1")
            .args(["--data-dir", "data", "plan", "--race", "--seeds", "0,1"])
            .args(extra));
        assert!(ok, "{err}");
        (out, err)
    };
    let (out, _) = race(&[]);
    let header: Value =
        serde_json::from_slice(&std::fs::read(prepared.join("tokens/1000/train.json")).unwrap())
            .unwrap();
    let t = header["tokens"].as_f64().unwrap();
    // Best case: one configuration runs to its end, two stop at 0.05M tokens (same model: the
    // parameters cancel).
    let best = (t + 2.0 * 0.05e6) / (3.0 * t);
    let want = format!(
        "model_size=tiny: 3 configuration(s) × 2 seed(s); rungs 0.05M 0.1M; compute between {:.0}%",
        100.0 * best
    );
    assert!(
        out.contains(
            "race: groups by model_size; rungs from 0.05M tokens; Holm at alpha 0.05; keep 1"
        ),
        "{out}"
    );
    assert!(out.contains(&want), "{want}\n{out}");
    // Beside JSON the outlook goes to stderr; a dataset not prepared leaves the compute unknown.
    s.write(
        "configs/configs.csv",
        &format!("{HEADER}\n{rows}tiny,babylm,1,8,1,64,\"[-1]\",1000\n"),
    );
    let (out, err) = race(&["--format", "json"]);
    assert!(serde_json::from_str::<Vec<Value>>(&out).is_ok());
    assert!(
        err.contains("model_size=tiny: 4 configuration(s) × 2 seed(s); rungs 0.05M 0.1M; compute unknown until the datasets are prepared"),
        "{err}"
    );
}
