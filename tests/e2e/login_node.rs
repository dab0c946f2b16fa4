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
    let (ok, out, err) = run(s.lmeff().args([
        "aggregate",
        "--import-csv",
        "blimp.csv",
        "--out",
        "agg",
        "--format",
        "json",
    ]));
    assert!(ok, "{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["overall"], 6, "{out}");
    assert!(summary["earliest"].is_array(), "{out}");
    let overall = std::fs::read_to_string(s.path().join("agg/data/overall.csv")).unwrap();
    assert_eq!(overall.lines().count(), 7, "{overall}");
    assert!(s.path().join("agg/report.md").is_file());
}

/// From an empty folder: the built-in presets, templates and sources stand in for the project's;
/// `lmeff init` writes the skeleton once and never over a file; `lmeff config` names each
/// value's layer.
#[test]
fn lmeff_works_from_an_empty_folder_and_init_writes_an_editable_study() {
    let s = Scratch::new();
    let bare = |args: &[&str]| {
        let mut c = s.lmeff();
        c.env_remove("LMEFF_MODELS_DIR").args(args);
        run(&mut c)
    };
    s.write(
        "my.csv",
        "model_config,dataset,epochs,batch_size,grad_accum,seq_length,anchors,tokenizer_vocab_size\ntiny,tinystories,1,8,1,64,\"[-1]\",16000\n",
    );
    let (ok, out, err) = bare(&["plan", "--configs", "my.csv", "--format", "json"]);
    assert!(ok, "{err}");
    assert!(out.contains("tinystories_tiny_v16000_seed0_full"), "{out}");
    s.write("env/lmeff.env", "");
    // No sbatch on PATH: the built-in templates are rendered, not tested against a cluster.
    let (ok, out, err) = run(s
        .lmeff()
        .env_remove("LMEFF_MODELS_DIR")
        .env("PATH", s.path())
        .args(["launch", "--configs", "my.csv", "--dry-run"]));
    assert!(ok, "{err}");
    assert!(out.contains("lmeff training array"), "{out}");

    let (ok, out, err) = bare(&["init", "study"]);
    assert!(ok, "{err}");
    assert!(out.contains("created a study in study (13 files)"), "{out}");
    let files = s.files();
    for f in [
        "study/configs/lmeff.toml",
        "study/configs/configs.csv",
        "study/configs/sources.toml",
        "study/configs/models/tiny.yaml",
        "study/slurm/train.sbatch",
        "study/slurm/race.sbatch",
    ] {
        assert!(files.contains(&f.into()), "{f}: {files:?}");
    }
    // The skeleton's presets are lmeff's own.
    let tiny = std::fs::read_to_string(s.path().join("study/configs/models/tiny.yaml")).unwrap();
    assert_eq!(
        tiny,
        std::fs::read_to_string(crate::common::repo().join("configs/models/tiny.yaml")).unwrap()
    );
    // A second init changes nothing and says which file is in the way.
    s.write("study/configs/configs.csv", "mine\n");
    let (ok, _, err) = bare(&["init", "study"]);
    assert!(!ok && err.contains("study/configs/configs.csv"), "{err}");
    assert_eq!(
        std::fs::read_to_string(s.path().join("study/configs/configs.csv")).unwrap(),
        "mine\n"
    );

    let (ok, out, err) = run(s
        .lmeff()
        .env_remove("LMEFF_MODELS_DIR")
        .env("LMEFF_TRAIN__SAVE_EVERY", "77")
        .args(["--results-dir", "elsewhere", "config"]));
    assert!(ok, "{err}");
    let line = |key: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("{key}: {out}"))
            .to_owned()
    };
    assert!(
        line("train.save_every").contains("77")
            && line("train.save_every").ends_with("# env LMEFF_TRAIN__SAVE_EVERY"),
        "{out}"
    );
    assert!(line("results_dir").ends_with("# flag"), "{out}");
    assert!(
        line("models_dir").contains("\"configs/models\"")
            && line("models_dir").ends_with("# default"),
        "{out}"
    );
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
