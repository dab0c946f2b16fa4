//! The build for login nodes and laptops: whatever binary the tests were built as, the commands
//! that need no libtorch run (plan, launch --dry-run, aggregate of study tables); in the build
//! without libtorch, the commands that compute refuse with the way to the full build.

use crate::common::{run, Scratch};

#[test]
fn plan_launch_and_aggregate_run_without_computing() {
    let s = Scratch::new();
    s.write(
        "configs.csv",
        "model_config,dataset,epochs,batch_size,grad_accum,seq_length,anchors,tokenizer_vocab_size,seeds\n20m,tinystories,1,32,1,256,\"[25,-1]\",16000,\"[0,1]\"\n",
    );
    let (ok, out, err) =
        run(s
            .lmeff()
            .args(["plan", "--configs", "configs.csv", "--format", "json"]));
    assert!(ok, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = plan
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "tinystories_20m_v16000_seed0_budget25M",
            "tinystories_20m_v16000_seed0_full",
            "tinystories_20m_v16000_seed1_budget25M",
            "tinystories_20m_v16000_seed1_full",
        ]
    );
    assert_eq!(plan[0]["anchor"], "25M");
    assert_eq!(plan[0]["schedule"], "cosine");

    s.write("env/lmeff.env", "# what the compute nodes source\n");
    // A laptop: no sbatch on PATH, so the scripts are written and printed, not tested.
    let (ok, out, err) = run(s.lmeff().env("PATH", s.path()).args([
        "launch",
        "--configs",
        "configs.csv",
        "--dry-run",
    ]));
    assert!(ok, "{err}");
    assert!(out.contains("#SBATCH --array=0-3"), "{out}");
    assert!(out.contains("(no sbatch here to test them with)"), "{out}");

    s.write(
        "blimp.csv",
        "dataset,model_size,milestone,vocab_size,seed,acc\nts,20m,25,8000,0,0.60\nts,20m,final,8000,0,0.70\nts,20m,25,8000,1,0.62\nts,20m,final,8000,1,0.72\nts,60m,25,8000,0,0.64\nts,60m,final,8000,0,0.75\n",
    );
    let (ok, _, err) =
        run(s
            .lmeff()
            .args(["aggregate", "--import-csv", "blimp.csv", "--out", "agg"]));
    assert!(ok, "{err}");
    let overall = std::fs::read_to_string(s.path().join("agg/data/overall.csv")).unwrap();
    assert_eq!(overall.lines().count(), 7, "{overall}");
    assert!(s.path().join("agg/report.md").is_file());
}

#[cfg(not(feature = "torch"))]
#[test]
fn the_commands_that_compute_say_how_to_get_the_full_build() {
    let s = Scratch::new();
    let (ok, version, _) = crate::common::run(s.lmeff().arg("--version"));
    assert!(
        ok && version.contains("libtorch: none (the build without libtorch)\nfeatures: none"),
        "{version}"
    );
    for args in [
        &["train", "--run-index", "0"][..],
        &["eval", "blimp", "--checkpoint", "x"],
        &["bench", "step"],
        &["doctor"],
    ] {
        let (ok, _, err) = run(s.lmeff().args(args));
        assert!(!ok, "{args:?} succeeded");
        assert!(
            err.contains(&format!("`lmeff {}` needs libtorch", args[0]))
                && err.contains("make setup && make build"),
            "{args:?}: {err}"
        );
    }
    let (ok, out, _) = run(s.lmeff().arg("--help"));
    assert!(ok);
    assert!(out.contains("needs the full build"), "{out}");
}
