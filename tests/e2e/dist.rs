//! Data-parallel training across real MPI ranks on the CPU: `mpirun -np 2` equals `-np 1` with
//! the same global batch, `srun --mpi=pmix -n 2` on the local Slurm cluster, kill-and-resume and a
//! stop signal with two ranks, and the world-size check.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::common::{prepared_tinystories, run, Scratch};

const RUN_DIR: &str = "output/models/tinystories/llama-tiny/tokenizer-1000-seed-4/budget-0.03M";
const MPIRUN: [&str; 4] = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np"];

/// A tiny budget run (59 steps of a global batch of 8 × 64), logging every step, 1 thread a rank.
fn train(s: &Scratch, launcher: &[&str]) -> Command {
    let mut cmd = s.launch(launcher);
    cmd.env("LMEFF_MILESTONES", "[0.01]")
        .env("LMEFF_TRAIN__LOG_EVERY", "1")
        .env("LMEFF_TRAIN__SAVE_EVERY", "7")
        .env("LMEFF_TRAIN__EVAL_TOKENS", "2000")
        .env("LMEFF_THREADS", "1")
        .arg("--data-dir")
        .arg(prepared_tinystories())
        .args([
            "train",
            "--dataset",
            "tinystories",
            "--model",
            "tiny",
            "--vocab",
            "1000",
        ])
        .args(["--seq-len", "64", "--anchor", "0.03", "--seed", "4"]);
    cmd
}

fn mpirun(np: &str) -> Vec<&str> {
    let mut v = MPIRUN.to_vec();
    v.push(np);
    v
}

fn losses(s: &Scratch) -> Vec<(u64, f64)> {
    std::fs::read_to_string(s.path().join(RUN_DIR).join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|r| Some((r["step"].as_u64()?, r["loss"].as_f64()?)))
        .collect()
}

fn final_weights(s: &Scratch) -> PathBuf {
    s.path().join(RUN_DIR).join("final/model.safetensors")
}

/// The uninterrupted two-rank run.
fn two_ranks() -> &'static Scratch {
    static S: OnceLock<Scratch> = OnceLock::new();
    S.get_or_init(|| {
        let s = Scratch::new();
        let (ok, out, err) = run(&mut train(&s, &mpirun("2")));
        assert!(ok, "{out}\n{err}");
        s
    })
}

#[test]
fn two_ranks_train_like_one_with_the_same_global_batch() {
    let one = Scratch::new();
    let (ok, _, err) = run(&mut train(&one, &mpirun("1")));
    assert!(ok, "{err}");
    let two = two_ranks();
    let (a, b) = (losses(&one), losses(two));
    assert_eq!(a.len(), 59);
    assert_eq!(
        a.iter().map(|x| x.0).collect::<Vec<_>>(),
        b.iter().map(|x| x.0).collect::<Vec<_>>()
    );
    for ((step, x), (_, y)) in a.iter().zip(&b) {
        assert!(
            (x - y).abs() <= 1e-5 * x.abs(),
            "step {step}: loss {x} with 1 rank, {y} with 2"
        );
    }
    let wa = lmeff::model::weights::load(&final_weights(&one)).unwrap();
    let wb = lmeff::model::weights::load(&final_weights(two)).unwrap();
    assert_eq!(wa.len(), wb.len());
    for (name, x) in &wa {
        let y = &wb[name];
        let diff = (x - y).abs().max().double_value(&[]);
        let scale = x.abs().max().double_value(&[]).max(1e-12);
        assert!(
            diff <= 1e-5 * scale,
            "{name}: max |Δ| {diff} (scale {scale})"
        );
    }
    // Only rank 0 writes: one metrics line per step, one checkpoint per milestone.
    assert!(one
        .path()
        .join(RUN_DIR)
        .join("milestone-0.01M/model.safetensors")
        .is_file());
}

#[test]
fn srun_with_pmix_runs_two_ranks_on_the_local_cluster() {
    let _node = crate::common::SLURM_NODE
        .read()
        .unwrap_or_else(|e| e.into_inner());
    let s = Scratch::new();
    let (ok, out, err) = run(&mut train(
        &s,
        &["srun", "--mpi=pmix", "-n", "2", "--time=5"],
    ));
    assert!(
        ok,
        "srun failed (is the local Slurm cluster up? `make slurm-up`)\n{out}\n{err}"
    );
    // The same ranks and batches as under mpirun: the same losses, bit for bit.
    assert_eq!(losses(&s), losses(two_ranks()));
    assert_eq!(
        std::fs::read(final_weights(&s)).unwrap(),
        std::fs::read(final_weights(two_ranks())).unwrap()
    );
}

/// Starts a two-rank run in its own process group; calls `act(mpirun pid)` once `ready` holds.
fn interrupt(
    s: &Scratch,
    ready: impl Fn(&Path) -> bool,
    act: impl FnOnce(u32),
) -> std::process::ExitStatus {
    let mut child = train(s, &mpirun("2"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !ready(&s.path().join(RUN_DIR)) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("training ended ({status}) before the interruption point");
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "interruption point never reached"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    act(child.id());
    child.wait().unwrap()
}

fn resume_step(run: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(run.join("resume/state.json")).ok()?;
    serde_json::from_str::<serde_json::Value>(&text).ok()?["step"].as_u64()
}

fn kill(args: &[&str]) {
    assert!(
        Command::new("kill").args(args).status().unwrap().success(),
        "kill {args:?}"
    );
}

#[test]
fn killed_with_two_ranks_it_resumes_to_the_same_weights() {
    let s = Scratch::new();
    // SIGKILL to every process of the job (mpirun and both ranks) after the second resume state.
    let status = interrupt(
        &s,
        |r| resume_step(r).is_some_and(|x| x >= 14),
        |pid| kill(&["-KILL", "--", &format!("-{pid}")]),
    );
    assert!(!status.success());
    let (ok, _, err) = run(&mut train(&s, &mpirun("2")));
    assert!(ok, "{err}");
    assert!(err.contains("resuming"), "{err}");
    assert_eq!(
        std::fs::read(final_weights(&s)).unwrap(),
        std::fs::read(final_weights(two_ranks())).unwrap()
    );
}

#[test]
fn sigusr1_to_one_rank_stops_both_with_75() {
    let s = Scratch::new();
    let status = interrupt(
        &s,
        |r| {
            r.join("metrics.jsonl")
                .metadata()
                .is_ok_and(|m| m.len() > 0)
        },
        |pid| {
            // Only the second rank (a child of mpirun) gets the signal.
            let out = Command::new("pgrep")
                .args(["-P", &pid.to_string()])
                .output()
                .unwrap();
            let ranks: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            assert_eq!(ranks.len(), 2, "{ranks:?}");
            kill(&["-USR1", &ranks[1]]);
        },
    );
    assert_eq!(status.code(), Some(75));
    let step = resume_step(&s.path().join(RUN_DIR)).expect("a resume state");
    assert!(step > 0 && step < 59);
    let (ok, _, err) = run(&mut train(&s, &mpirun("2")));
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read(final_weights(&s)).unwrap(),
        std::fs::read(final_weights(two_ranks())).unwrap()
    );
}

#[test]
fn a_world_that_does_not_divide_the_batch_is_refused_unless_allowed() {
    let s = Scratch::new();
    let (ok, out, err) = run(&mut train(&s, &mpirun("3")));
    assert!(!ok);
    assert!(
        (out.clone() + &err)
            .contains("global batch of 8 sequences is not divisible by the 3 ranks"),
        "{out}\n{err}"
    );
    assert!(!s.path().join(RUN_DIR).join("final").exists());
    let (ok, _, err) = run(train(&s, &mpirun("3")).arg("--allow-uneven"));
    assert!(ok, "{err}");
    // Unequal shares weighted to the global mean: the same losses as one rank, to float precision.
    let one = Scratch::new();
    assert!(run(&mut train(&one, &mpirun("1"))).0);
    for ((step, x), (_, y)) in losses(&one).iter().zip(&losses(&s)) {
        assert!((x - y).abs() <= 1e-5 * x.abs(), "step {step}: {x} vs {y}");
    }
}

#[test]
fn a_two_rank_state_resumes_with_one_rank() {
    let s = Scratch::new();
    let status = interrupt(
        &s,
        |r| resume_step(r).is_some_and(|x| x >= 14),
        |pid| {
            let out = Command::new("pgrep")
                .args(["-P", &pid.to_string()])
                .output()
                .unwrap();
            let first = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned();
            kill(&["-USR1", &first]);
        },
    );
    assert_eq!(status.code(), Some(75));
    // The same global batch with one rank: the state carries over; the result equals the
    // two-rank run to float precision.
    let (ok, _, err) = run(&mut train(&s, &mpirun("1")));
    assert!(ok, "{err}");
    assert!(err.contains("resuming"), "{err}");
    let wa = lmeff::model::weights::load(&final_weights(&s)).unwrap();
    let wb = lmeff::model::weights::load(&final_weights(two_ranks())).unwrap();
    for (name, x) in &wa {
        let diff = (x - &wb[name]).abs().max().double_value(&[]);
        let scale = x.abs().max().double_value(&[]).max(1e-12);
        assert!(
            diff <= 1e-5 * scale,
            "{name}: max |Δ| {diff} (scale {scale})"
        );
    }
}

#[test]
fn a_held_run_folder_turns_every_rank_away() {
    let s = Scratch::new();
    let dir = s.path().join(RUN_DIR);
    std::fs::create_dir_all(&dir).unwrap();
    // Another process holds the folder's lock (flock, as lmeff takes it) and names itself.
    let mut holder = Command::new("python3")
        .args([
            "-c",
            "import fcntl, sys, time\n\
             f = open(sys.argv[1], 'a+')\n\
             fcntl.flock(f, fcntl.LOCK_EX)\n\
             f.truncate(0); f.write('pid 12345 on elsewhere, Slurm job 77_1, since then\\n'); f.flush()\n\
             print('held', flush=True)\n\
             time.sleep(120)",
        ])
        .arg(dir.join("run.lock"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "held");
    let start = Instant::now();
    let (ok, out, err) = run(&mut train(&s, &mpirun("2")));
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(!ok, "{out}");
    assert!(
        err.contains("in use by another lmeff train (pid 12345 on elsewhere, Slurm job 77_1"),
        "{err}"
    );
    assert!(
        err.contains("rank 0 could not take the run folder"),
        "rank 1 says why it stops too: {err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "no rank may wait"
    );
    assert!(!dir.join("run.json").exists() && !dir.join("metrics.jsonl").exists());
}
