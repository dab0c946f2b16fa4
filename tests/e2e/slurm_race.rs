//! `lmeff launch --race` on the real single-node Slurm cluster: three configurations × three
//! seeds of the tiny model, one with a learning rate 100× too small. Its seeds are scored at the
//! first rung while training goes on, the race job stops it there and cancels its tasks
//! mid-training; the other two finish, and `status`, `race.json` and the report say so.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::common::{copy_tree, repo, run, shared_data, Scratch, SLURM_NODE as NODE};
use crate::slurm::{logs, state, study, wait_all};
use lmeff::slurm::Manifest;
use serde_json::Value;

/// The tinystories sample prepared with vocabularies 1000 and 2000.
fn data() -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("data-slurm_race");
        let _ = std::fs::remove_dir_all(&root);
        copy_tree(
            &shared_data().join("corpora/tinystories"),
            &root.join("tinystories"),
        );
        let s = Scratch::new();
        let (ok, _, err) = run(s.lmeff().arg("-q").arg("--data-dir").arg(&root).args([
            "data",
            "prepare",
            "--dataset",
            "tinystories",
            "--vocab-sizes",
            "1000,2000",
        ]));
        assert!(ok, "{err}");
        root
    })
}

#[test]
fn a_race_stops_the_clearly_worse_configuration_mid_training_and_the_others_finish() {
    let _node = NODE.write().unwrap_or_else(|e| e.into_inner());
    // One epoch of the sample is ~600 steps at 512 tokens a step; `tinyslow` (the tiny preset
    // with a learning rate of 1e-5 instead of 1e-3) would train 16 epochs, so it is still training
    // when the race reaches its decision at the 0.1M rung (step 196). Throttled to 3 tasks, the
    // node's fourth CPU is left to evaluations.
    let s = study(
        "race",
        "tiny,tinystories,1,8,1,64,\"[-1]\",1000,,\"[0,1,2]\"\n\
         tiny,tinystories,1,8,1,64,\"[-1]\",2000,,\"[0,1,2]\"\n\
         tinyslow,tinystories,16,8,1,64,\"[-1]\",1000,,\"[0,1,2]\"\n",
        data(),
        "throttle = 3\n\n[race]\ngroup_by = []\nmin_anchor = 0.1\n",
    );
    let models = s.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let tiny = std::fs::read_to_string(repo().join("configs/models/tiny.yaml")).unwrap();
    std::fs::write(models.join("tiny.yaml"), &tiny).unwrap();
    let slow = tiny.replace("learning_rate: 1.0e-3", "learning_rate: 1.0e-5");
    assert_ne!(slow, tiny);
    std::fs::write(models.join("tinyslow.yaml"), slow).unwrap();
    let toml = std::fs::read_to_string(s.path().join("configs/lmeff.toml")).unwrap();
    let toml = toml
        .replace("milestones = [0.01]", "milestones = [0.1]")
        .replace("save_every = 5", "save_every = 200")
        .replace("vocab_sizes = [1000]", "vocab_sizes = [1000, 2000]");
    s.write("configs/lmeff.toml", &toml);

    // The scratch's presets instead of the repository's (jobs inherit the variable).
    let (ok, out, err) = run(s.lmeff().env("LMEFF_MODELS_DIR", &models).args([
        "launch",
        "--configs",
        "configs.csv",
        "--race",
    ]));
    assert!(ok && out.contains("launched"), "{out}\n{err}");
    let m = Manifest::load(&Manifest::latest(&s.path().join("slurm/generated")).unwrap()).unwrap();
    assert_eq!(m.runs.len(), 9);
    let stages: Vec<String> = m
        .submissions
        .iter()
        .map(|x| {
            x.to_string()
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(
        stages,
        [
            "train job",
            "eval job",
            "rung 0.1M",
            "race 0.1M",
            "aggregate job"
        ],
        "{stages:?}"
    );
    let train = &m.submissions[0].job_id;
    assert_eq!(
        m.submissions[2].dependency.as_deref(),
        Some(format!("after:{train}").as_str())
    );
    let st = wait_all(&s, Duration::from_secs(600));

    // The decision: tinyslow out at 0.1M, the others kept.
    let race: Value = serde_json::from_slice(&std::fs::read(m.folder.join("race.json")).unwrap())
        .unwrap_or_else(|e| panic!("no race.json ({e})\n{}", logs(&s)));
    let rung = &race["rungs"][0];
    assert_eq!(rung["rung"], 0.1, "{race}");
    let group = &rung["groups"][0];
    assert_eq!(group["compared"].as_array().unwrap().len(), 3, "{race}");
    let out = group["eliminated"].as_array().unwrap();
    assert_eq!(out.len(), 1, "{race}\n{}", logs(&s));
    assert_eq!(out[0]["configuration"], "tinystories tinyslow 1k");
    assert!(out[0]["p_holm"].as_f64().unwrap() <= 0.05, "{race}");
    assert!(out[0]["gap"].as_f64().unwrap() < -0.05, "{race}");
    let copy = std::fs::read(s.path().join("results/race.json")).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&copy).unwrap(), race);

    // Its runs were cancelled mid-training (past the rung, without their final checkpoint); the
    // others trained and were evaluated to the end.
    for r in st["runs"].as_array().unwrap() {
        let id = r["run_id"].as_str().unwrap();
        if id.contains("tinyslow") {
            assert_eq!(state(&r["train"]), "cancelled", "{r}\n{}", logs(&s));
            assert_eq!(state(&r["eval"]), "cancelled", "{r}");
            assert!(
                r["eliminated"]
                    .as_str()
                    .unwrap()
                    .starts_with("eliminated at 0.1M (\u{2212}"),
                "{r}"
            );
            assert_ne!(r["last_checkpoint"], "final", "{r}");
            let tokens = r["tokens"].as_u64().unwrap();
            assert!((100_000..16 * 300_000).contains(&tokens), "{r}");
        } else {
            assert_eq!(
                (state(&r["train"]), state(&r["eval"])),
                ("done", "done"),
                "{r}\n{}",
                logs(&s)
            );
            assert!(r["eliminated"].is_null(), "{r}");
        }
    }
    assert_eq!(state(&st["aggregate"]), "done", "{}", logs(&s));
    let (ok, table, _) = run(s.lmeff().arg("status"));
    assert!(ok && table.contains("eliminated at 0.1M"), "{table}");
    let report = std::fs::read_to_string(s.path().join("results/report.md")).unwrap();
    assert!(
        report.contains("## Stopped by the race") && report.contains("`tinystories tinyslow 1k`"),
        "{report}"
    );
    // A resubmission never revives the stopped runs.
    let (ok, out, err) = run(s.lmeff().args(["resubmit", "--failed", "--dry-run"]));
    assert!(ok, "{err}");
    assert!(out.contains("left out: tasks 6,7,8"), "{out}");
    assert!(out.contains("nothing failed"), "{out}");
}
