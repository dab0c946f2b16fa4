//! The study on the real single-node Slurm cluster (`make setup` / `make slurm-up`): `lmeff launch`
//! end to end, a two-rank run through `srun --mpi=pmix`, a preempted training task that requeues
//! and resumes to the same weights as an undisturbed run, and a failed task that `lmeff status`
//! reports and `lmeff resubmit --failed` reruns alone.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::{copy_tree, repo, run, shared_data, Scratch};
use lmeff::slurm::Manifest;
use serde_json::Value;

/// The preemption test takes the whole node; the others (and dist's srun test) share it.
use crate::common::SLURM_NODE as NODE;

const PARADIGMS: &str = "anaphor_gender_agreement,regular_plural_subject_verb_agreement_1";
const HEADER: &str = "model_config,dataset,epochs,batch_size,grad_accum,seq_length,anchors,tokenizer_vocab_size,gpus,seeds\n";

/// tinystories and babylm samples prepared once (vocab 1000) for this test binary.
fn data() -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("data-slurm_cli");
        let _ = std::fs::remove_dir_all(&root);
        for d in ["tinystories", "babylm"] {
            copy_tree(&shared_data().join("corpora").join(d), &root.join(d));
            let s = Scratch::new();
            let (ok, _, err) = run(s.lmeff().arg("-q").arg("--data-dir").arg(&root).args([
                "data",
                "prepare",
                "--dataset",
                d,
                "--vocab-sizes",
                "1000",
            ]));
            assert!(ok, "{err}");
        }
        root
    })
}

/// A scratch study: configs.csv plus configs/lmeff.toml with tiny settings for this cluster.
pub(crate) fn study(name: &str, configs: &str, data_dir: &Path, extra: &str) -> Scratch {
    let s = Scratch::new();
    s.write("configs.csv", &format!("{HEADER}{configs}"));
    s.write(
        "configs/lmeff.toml",
        &format!(
            r#"data_dir = "{data}"
blimp_dir = "{blimp}"
threads = 1
milestones = [0.01]
vocab_sizes = [1000]

[train]
log_every = 1
save_every = 5
eval_tokens = 2000

[slurm]
job_name = "{name}"
env_file = "{env}"
cpus_per_task = 1
time = "10:00"
eval_time = "10:00"
aggregate_time = "10:00"
grace = 30
eval_args = ["--paradigms", "{PARADIGMS}"]
aggregate_args = ["--bootstrap", "200"]
{extra}"#,
            data = data_dir.display(),
            blimp = shared_data().join("blimp").display(),
            env = repo().join("env/lmeff.env").display(),
        ),
    );
    s
}

pub(crate) fn launch(s: &Scratch, args: &[&str]) -> Manifest {
    let (ok, out, err) = run(s
        .lmeff()
        .args(["launch", "--configs", "configs.csv"])
        .args(args));
    assert!(
        ok,
        "lmeff launch failed (is the local cluster up? `make slurm-up`)\n{out}\n{err}"
    );
    assert!(out.contains("launched"), "{out}");
    let path = Manifest::latest(&s.path().join("slurm/generated")).unwrap();
    let m = Manifest::load(&path).unwrap();
    // lmeff's own revision beside the launch folder's.
    let commit = m.lmeff_commit.as_deref().unwrap_or_default();
    assert!(
        commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit()),
        "{commit}"
    );
    m
}

pub(crate) fn status(s: &Scratch) -> Value {
    let (ok, out, err) = run(s.lmeff().args(["status", "--format", "json"]));
    assert!(ok, "{err}");
    serde_json::from_str(&out).unwrap()
}

pub(crate) fn state(v: &Value) -> &str {
    v["state"].as_str().unwrap()
}

pub(crate) fn settled(v: &Value) -> bool {
    ["done", "failed", "cancelled", "not_submitted"].contains(&state(v))
}

/// Polls `lmeff status` until every task and the aggregate job have ended.
pub(crate) fn wait_all(s: &Scratch, limit: Duration) -> Value {
    let start = Instant::now();
    loop {
        let st = status(s);
        let runs = st["runs"].as_array().unwrap();
        let glue_settled = |r: &Value| {
            r["glue"]
                .as_object()
                .is_none_or(|tasks| tasks.values().all(settled))
        };
        let done = runs
            .iter()
            .all(|r| settled(&r["train"]) && settled(&r["eval"]) && glue_settled(r))
            && (st["aggregate"].is_null() || settled(&st["aggregate"]));
        if done {
            return st;
        }
        if start.elapsed() > limit {
            let (_, table, _) = run(s.lmeff().arg("status"));
            panic!(
                "jobs did not finish in {limit:?}:\n{table}\nlogs:\n{}",
                logs(s)
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

pub(crate) fn logs(s: &Scratch) -> String {
    let mut out = String::new();
    for f in s.files().iter().filter(|f| f.starts_with("logs")) {
        out += &format!(
            "--- {}\n{}\n",
            f.display(),
            std::fs::read_to_string(s.path().join(f)).unwrap_or_default()
        );
    }
    out
}

fn log_files(s: &Scratch, stage: &str) -> Vec<PathBuf> {
    s.files()
        .into_iter()
        .filter(|f| {
            f.starts_with("logs") && f.file_name().unwrap().to_string_lossy().starts_with(stage)
        })
        .collect()
}

#[test]
fn a_launch_trains_evaluates_every_checkpoint_and_reports() {
    let _node = NODE.read().unwrap_or_else(|e| e.into_inner());
    let s = study(
        "e2e",
        "tiny,tinystories,1,8,1,64,\"[-1,0.02]\",1000,,\"[0,1]\"\ntiny,babylm,1,8,1,64,\"[-1,0.02]\",1000,,\"[0,1]\"\n",
        data(),
        // Full runs stop after 60 steps here (their milestone is at step 20).
        "train_args = [\"--max-steps\", \"60\"]\n",
    );
    // The runs publish to the Hub, which they cannot reach without a token: they train all the
    // same, and status lists their checkpoints as not pushed.
    let toml = std::fs::read_to_string(s.path().join("configs/lmeff.toml")).unwrap();
    s.write(
        "configs/lmeff.toml",
        &toml.replace(
            "eval_tokens = 2000\n",
            "eval_tokens = 2000\nmilestone_store = \"hf\"\npush_wait = 1\n",
        ),
    );
    let m = launch(&s, &[]);
    assert_eq!(m.runs.len(), 8);
    assert_eq!(m.submissions.len(), 3, "one group: train, eval, aggregate");
    assert_eq!(
        m.submissions[1].dependency.as_deref(),
        Some(format!("aftercorr:{}", m.submissions[0].job_id).as_str())
    );
    let st = wait_all(&s, Duration::from_secs(300));
    for r in st["runs"].as_array().unwrap() {
        assert_eq!(
            (state(&r["train"]), state(&r["eval"])),
            ("done", "done"),
            "{r}\n{}",
            logs(&s)
        );
        assert_eq!(r["last_checkpoint"], "final");
        assert!(
            r["last_eval"].as_str().unwrap().starts_with("final 0."),
            "{r}"
        );
        assert_eq!(r["unpushed"].as_array().map(Vec::len), Some(2), "{r}");
    }
    assert_eq!(state(&st["aggregate"]), "done", "{}", logs(&s));
    // Every checkpoint of every run has its BLiMP results; budget-0.02M runs have two.
    let mut evaluated = 0;
    for run in &m.runs {
        let dir = s.path().join(&run.output_dir);
        for ck in lmeff::config::layout::checkpoint::run_checkpoints(&dir).unwrap() {
            let label = ck
                .dir
                .file_name()
                .unwrap()
                .to_string_lossy()
                .replace("milestone-", "")
                .trim_end_matches('M')
                .to_owned();
            let anchor = if run.key.anchor.to_string() == "full" {
                String::new()
            } else {
                format!("budget-{}/", run.key.anchor)
            };
            let res = s.path().join(format!(
                "results/blimp/{}/tiny/seed-{}/tok-1000/{anchor}{label}/summary.parquet",
                run.key.dataset, run.key.seed
            ));
            assert!(res.is_file(), "{} missing", res.display());
            evaluated += 1;
        }
    }
    assert_eq!(
        evaluated,
        8 * 2,
        "a milestone and the final checkpoint per run"
    );
    let report = std::fs::read_to_string(s.path().join("results/report.md")).unwrap();
    assert!(
        report.contains("tinystories") && report.contains("babylm"),
        "{report}"
    );
    assert_eq!(log_files(&s, "train_").len(), 8);
    assert_eq!(log_files(&s, "eval_").len(), 8);
    let (ok, table, _) = run(s.lmeff().arg("status"));
    assert!(ok && table.contains("aggregate: done"), "{table}");
    assert!(table.contains("hub: 2 not pushed (milestone-"), "{table}");
}

#[test]
fn glue_tasks_fine_tune_side_by_side_after_training_and_are_reported() {
    let _node = NODE.read().unwrap_or_else(|e| e.into_inner());
    let s = study(
        "glue",
        "tiny,tinystories,1,8,1,64,\"[-1]\",1000,,\"[0]\"\n",
        data(),
        "train_args = [\"--max-steps\", \"30\"]\nbenchmarks = [\"blimp\", \"glue\"]\nglue_tasks = [\"sst2\", \"mrpc\"]\nglue_args = [\"--data\", \"glue\", \"--epochs\", \"1\"]\n",
    );
    common::glue::tasks(&s.path().join("glue"));
    let m = launch(&s, &[]);
    let jobs: Vec<(String, Option<String>, Option<String>)> = m
        .submissions
        .iter()
        .map(|j| (j.script.clone(), j.glue_task.clone(), j.dependency.clone()))
        .collect();
    let train = &m.submissions[0].job_id;
    let after_train = Some(format!("aftercorr:{train}"));
    assert_eq!(jobs.len(), 5, "{jobs:?}");
    assert_eq!(
        jobs[2],
        (
            "glue-0-sst2.sbatch".into(),
            Some("sst2".into()),
            after_train.clone()
        )
    );
    assert_eq!(
        jobs[3],
        (
            "glue-0-mrpc.sbatch".into(),
            Some("mrpc".into()),
            after_train
        )
    );
    let st = wait_all(&s, Duration::from_secs(300));
    let r = &st["runs"][0];
    for t in ["sst2", "mrpc"] {
        assert_eq!(state(&r["glue"][t]), "done", "{r}\n{}", logs(&s));
    }
    assert_eq!(state(&r["eval"]), "done", "{r}");
    assert_eq!(r["last_glue"], "final 2/2", "{r}");
    assert_eq!(state(&st["aggregate"]), "done", "{}", logs(&s));
    // Both tasks are in the summary of both checkpoints, though their arrays wrote it side by side.
    for milestone in ["0.01", "final"] {
        let dir = s.path().join(format!(
            "results/glue/tinystories/tiny/seed-0/tok-1000/{milestone}"
        ));
        let summary: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("glue_results.json")).unwrap())
                .unwrap();
        let tasks: Vec<&String> = summary["tasks"].as_object().unwrap().keys().collect();
        assert_eq!(tasks, ["mrpc", "sst2"], "{}", dir.display());
    }
    assert_eq!(log_files(&s, "glue-sst2_").len(), 1);
    assert_eq!(log_files(&s, "glue-mrpc_").len(), 1);
    let report = std::fs::read_to_string(s.path().join("results/report.md")).unwrap();
    assert!(report.contains("## GLUE"), "{report}");
    let (ok, table, _) = run(s.lmeff().arg("status"));
    assert!(
        ok && table.contains("last glue") && table.contains("final 2/2"),
        "{table}"
    );
}

#[test]
fn a_wsd_row_branches_its_budget_off_the_trunk_and_evaluates_every_checkpoint() {
    let _node = NODE.read().unwrap_or_else(|e| e.into_inner());
    let s = study(
        "wsd",
        "",
        data(),
        "train_args = [\"--max-steps\", \"60\"]\n",
    );
    // The budget first in the row: the plan puts the trunk (the full run) first anyway.
    s.write(
        "configs.csv",
        &format!(
            "{},schedule\ntiny,tinystories,1,8,1,64,\"[0.02,-1]\",1000,,\"[0]\",wsd\n",
            HEADER.trim_end()
        ),
    );
    let m = launch(&s, &[]);
    assert_eq!(m.runs.len(), 2);
    assert_eq!(m.runs[0].key.anchor.to_string(), "full");
    let st = wait_all(&s, Duration::from_secs(300));
    for r in st["runs"].as_array().unwrap() {
        assert_eq!(
            (state(&r["train"]), state(&r["eval"])),
            ("done", "done"),
            "{r}\n{}",
            logs(&s)
        );
    }
    assert_eq!(state(&st["aggregate"]), "done", "{}", logs(&s));
    // The budget trained its cooldown from the trunk's step 32 (⌈0.8 × 40⌉) and shares the
    // trunk's milestone before it; both of its checkpoints were evaluated.
    let train_logs: String = log_files(&s, "train_")
        .iter()
        .map(|f| std::fs::read_to_string(s.path().join(f)).unwrap())
        .collect();
    assert!(train_logs.contains("branching off"), "{}", logs(&s));
    let budget = "results/blimp/tinystories/tiny/seed-0/tok-1000-wsd/budget-0.02M";
    for label in ["0.01", "final"] {
        let res = s.path().join(budget).join(label).join("summary.parquet");
        assert!(res.is_file(), "{} missing\n{}", res.display(), logs(&s));
    }
}

#[test]
fn a_two_rank_run_trains_through_srun_with_pmix() {
    let _node = NODE.read().unwrap_or_else(|e| e.into_inner());
    let s = study(
        "ranks",
        "tiny,tinystories,1,8,1,64,\"[0.02]\",1000,2,\"[3]\"\n",
        data(),
        "",
    );
    let m = launch(&s, &["--stages", "train"]);
    let script = std::fs::read_to_string(m.folder.join("train-0.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --ntasks-per-node=2"), "{script}");
    // `lmeff status --wait` blocks until the task ended and exits 0 when everything succeeded.
    let (ok, table, err) =
        run(s
            .launch(&["timeout", "300"])
            .args(["status", "--wait", "--interval", "2"]));
    assert!(ok && table.contains("done"), "{table}\n{err}\n{}", logs(&s));
    let st = status(&s);
    let r = &st["runs"][0];
    assert_eq!(state(&r["train"]), "done", "{r}\n{}", logs(&s));
    let log = logs(&s);
    assert!(log.contains("world=2"), "{log}");
    let metrics =
        std::fs::read_to_string(s.path().join(&m.runs[0].output_dir).join("metrics.jsonl"))
            .unwrap();
    assert!(
        metrics.contains("allreduce_share"),
        "two ranks all-reduce gradients"
    );
}

fn metrics_step(run_dir: &Path) -> u64 {
    std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok()?["step"].as_u64())
        .max()
        .unwrap_or(0)
}

#[test]
fn a_preempted_task_requeues_and_resumes_to_the_undisturbed_weights() {
    let _node = NODE.write().unwrap_or_else(|e| e.into_inner());
    // 0.4M tokens at 512 tokens a step: 782 steps, long enough to be preempted mid-run.
    let s = study(
        "preempt",
        "tiny,tinystories,1,8,1,64,\"[0.4]\",1000,,\"[5]\"\n",
        data(),
        "",
    );
    let m = launch(&s, &["--stages", "train"]);
    let run_dir = s.path().join(&m.runs[0].output_dir);
    let start = Instant::now();
    while metrics_step(&run_dir) < 100 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "training did not start\n{}",
            logs(&s)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // A job in the higher-priority partition that needs the whole node preempts the task: Slurm
    // sends it USR1 (its --signal) at once, SIGTERM after the partition's grace time, then requeues.
    let out = Command::new("sbatch")
        .args([
            "--parsable",
            "-p",
            "high",
            "-c",
            "4",
            "-J",
            "preemptor",
            "-o",
            "/dev/null",
            "--wrap",
            "sleep 2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Meanwhile the same run, undisturbed, outside Slurm.
    let (ok, _, err) = run(s.lmeff().args([
        "-q",
        "train",
        "--configs",
        "configs.csv",
        "--task-index",
        "0",
        "--output-dir",
        "undisturbed",
    ]));
    assert!(ok, "{err}");
    let st = wait_all(&s, Duration::from_secs(300));
    let r = &st["runs"][0];
    assert_eq!(state(&r["train"]), "done", "{r}\n{}", logs(&s));
    assert!(
        r["train"]["restarts"].as_u64().unwrap() >= 1,
        "the task was not requeued: {r}\n{}",
        logs(&s)
    );
    let log = logs(&s);
    assert!(log.contains("asking the run to save and stop"), "{log}");
    assert!(
        log.contains("stopped at step")
            && log.contains("restart 1")
            && log.contains("resuming from"),
        "{log}"
    );
    let reference = s
        .path()
        .join("undisturbed")
        .join(m.runs[0].output_dir.strip_prefix("output").unwrap());
    let a = std::fs::read(run_dir.join("final/model.safetensors")).unwrap();
    let b = std::fs::read(reference.join("final/model.safetensors")).unwrap();
    assert!(
        a == b,
        "the preempted run's final weights differ from the undisturbed run's"
    );
}

#[test]
fn a_failed_task_is_reported_and_resubmitted_alone() {
    let _node = NODE.read().unwrap_or_else(|e| e.into_inner());
    // `web` has no data yet: its training fails for bad input, the tinystories run completes.
    let s = study(
        "failure",
        "tiny,tinystories,1,8,1,64,\"[0.02]\",1000,,\"[0]\"\ntiny,web,1,8,1,64,\"[0.02]\",1000,,\"[0]\"\n",
        Path::new("data"),
        "",
    );
    let study = &s;
    let data_dir = s.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    std::os::unix::fs::symlink(data().join("tinystories"), data_dir.join("tinystories")).unwrap();
    let m = launch(study, &[]);
    // `lmeff status --wait` returns once everything ended, with exit 1: a task failed.
    let out = study
        .launch(&["timeout", "300"])
        .args(["status", "--wait", "--interval", "2"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{table}");
    assert!(table.contains("failed"), "{table}");
    let st = wait_all(study, Duration::from_secs(60));
    let (good, bad) = (&st["runs"][0], &st["runs"][1]);
    assert_eq!(
        (state(&good["train"]), state(&good["eval"])),
        ("done", "done"),
        "{good}"
    );
    assert_eq!(state(&bad["train"]), "failed", "{bad}");
    assert_eq!(state(&bad["eval"]), "cancelled", "{bad}");
    let bad_eval_log = study
        .path()
        .join(format!("logs/eval_{}_1.out", m.submissions[1].job_id));
    assert!(
        !bad_eval_log.exists(),
        "the failed run's evaluation must never start"
    );
    let train_log = std::fs::read_to_string(
        study
            .path()
            .join(format!("logs/train_{}_1.out", m.submissions[0].job_id)),
    )
    .unwrap();
    assert!(train_log.contains("web"), "{train_log}");

    // Fix the input, then resubmit: only task 1 runs again.
    copy_tree(&shared_data().join("corpora/web"), &data_dir.join("web"));
    let (ok, _, err) = run(study.lmeff().args([
        "-q",
        "data",
        "prepare",
        "--dataset",
        "web",
        "--vocab-sizes",
        "1000",
    ]));
    assert!(ok, "{err}");
    let good_final = study
        .path()
        .join(&m.runs[0].output_dir)
        .join("final/model.safetensors");
    let before = std::fs::metadata(&good_final).unwrap().modified().unwrap();
    let (ok, out, err) = run(study.lmeff().args(["resubmit", "--failed"]));
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("training (and its evaluation) of tasks 1"),
        "{out}"
    );
    let m = Manifest::load(&m.folder).unwrap();
    let round1: Vec<_> = m.submissions.iter().filter(|s| s.round == 1).collect();
    assert_eq!(round1.len(), 3, "train, eval, aggregate");
    assert!(round1[..2]
        .iter()
        .all(|s| s.array.as_ref().map(ToString::to_string).as_deref() == Some("1")));
    let st = wait_all(study, Duration::from_secs(240));
    for r in st["runs"].as_array().unwrap() {
        assert_eq!(
            (state(&r["train"]), state(&r["eval"])),
            ("done", "done"),
            "{r}\n{}",
            logs(study)
        );
    }
    assert_eq!(
        std::fs::metadata(&good_final).unwrap().modified().unwrap(),
        before,
        "the good run was not retrained"
    );
    assert_eq!(
        log_files(study, "train_").len(),
        3,
        "task 0 once, task 1 twice"
    );
}

#[test]
fn a_dry_run_writes_prints_and_tests_the_scripts_but_submits_nothing() {
    let s = study(
        "dry",
        "tiny,tinystories,1,8,1,64,\"[0.01,0.02]\",1000,,\"[0]\"\n",
        Path::new("data"),
        "",
    );
    let (ok, out, err) = run(s
        .lmeff()
        .args(["launch", "--configs", "configs.csv", "--dry-run"]));
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("#SBATCH --array=0-1") && out.contains("aggregate --configs"),
        "{out}"
    );
    assert_eq!(out.matches("# sbatch --test-only: ").count(), 3, "{out}");
    assert!(out.contains("nothing submitted"), "{out}");
    let folder = std::fs::read_dir(s.path().join("slurm/generated"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let m = Manifest::load(&folder).unwrap();
    assert!(m.dry_run && m.submissions.is_empty());
    for f in [
        "train-0.sbatch",
        "eval-0.sbatch",
        "aggregate.sbatch",
        "configs.csv",
        "settings.toml",
    ] {
        assert!(folder.join(f).is_file(), "{f}");
    }
    let queue = Command::new("squeue")
        .args(["-h", "-t", "all", "-n", "dry-train-0"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&queue.stdout).trim().is_empty(),
        "a dry run submitted a job"
    );
    // A dry run is not a launch `lmeff status` follows.
    let (ok, _, err) = run(s.lmeff().arg("status"));
    assert!(!ok && err.contains("no submitted launch"), "{err}");
}

#[test]
fn bad_input_is_refused_before_anything_is_submitted() {
    let s = study("bad", "tiny,tinystories,1,8,1,64,\"[0.01]\",1000,,\"[0]\"\nnope,babylm,1,8,1,64,\"[0.01]\",1000,,\n", Path::new("data"), "");
    let (ok, _, err) = run(s.lmeff().args(["launch", "--configs", "configs.csv"]));
    assert!(
        !ok && err.contains("configs.csv:3") && err.contains("nope"),
        "{err}"
    );
    assert!(
        !s.path().join("slurm/generated").exists(),
        "nothing may be written"
    );

    s.write(
        "configs.csv",
        &format!("{HEADER}tiny,tinystories,1,8,1,64,\"[0.01]\",1000,,\"[0]\"\n"),
    );
    let (ok, _, err) = run(s.lmeff().env("LMEFF_SLURM__PARTITION", "gpu a100").args([
        "launch",
        "--configs",
        "configs.csv",
    ]));
    assert!(!ok && err.contains("slurm.partition"), "{err}");
    let (ok, _, err) = run(s.lmeff().args([
        "launch",
        "--configs",
        "configs.csv",
        "--stages",
        "train,evaluate",
    ]));
    assert!(!ok && err.contains("evaluate"), "{err}");

    // A partition the cluster does not have: the dry run says Slurm would refuse; a real launch
    // fails at the first sbatch and leaves no job behind and no submission recorded.
    let nosuch = |c: &mut Command| {
        c.env("LMEFF_SLURM__PARTITION", "nosuch")
            .args(["launch", "--configs", "configs.csv"]);
    };
    let mut c = s.lmeff();
    nosuch(&mut c);
    let (ok, _, err) = run(c.arg("--dry-run"));
    assert!(!ok && err.contains("would refuse"), "{err}");
    let mut c = s.lmeff();
    nosuch(&mut c);
    let (ok, _, err) = run(&mut c);
    assert!(
        !ok && err.contains("sbatch") && err.contains("nosuch"),
        "{err}"
    );
    let queue = Command::new("squeue")
        .args(["-h", "-t", "all", "-n", "bad-train-0"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&queue.stdout).trim().is_empty());
    // That launch submitted nothing, so it is not "the newest launch" of status or resubmit.
    for cmd in [vec!["status"], vec!["resubmit", "--failed", "--dry-run"]] {
        let (ok, out, err) = run(s.lmeff().args(&cmd));
        assert!(
            !ok && err.contains("no submitted launch"),
            "{cmd:?}: {out}\n{err}"
        );
    }
}
