//! End-to-end tests of what a user can rely on: nothing of theirs is deleted, nothing wrong is
//! written as a result, bad input is a clear error before anything is written, a run folder has
//! one owner, and interrupted saves leave nothing behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::{copy_tree, prepared_tinystories, run, shared_data, Scratch};

const RUN: &str = "output/models/tinystories/llama-tiny/tokenizer-1000-seed-2/budget-0.03M";
const PARADIGM: &str = "adjunct_island";

/// A tiny budget run with one milestone, trained once.
fn trained() -> &'static Scratch {
    static RUN_DIR: OnceLock<Scratch> = OnceLock::new();
    RUN_DIR.get_or_init(|| {
        let s = Scratch::new();
        let (ok, _, err) = run(train(&s).args(["--anchor", "0.03", "--seed", "2"]));
        assert!(ok, "{err}");
        s
    })
}

/// `lmeff train` of the tiny model on the prepared tinystories sample (seq 64).
fn train(s: &Scratch) -> Command {
    train_on(s, prepared_tinystories())
}

/// `lmeff train` of the tiny model on the tinystories dataset of `data_dir` (seq 64).
fn train_on(s: &Scratch, data_dir: &Path) -> Command {
    let mut cmd = trainer(s, data_dir);
    cmd.args(["--seq-len", "64"]);
    cmd
}

/// `lmeff train` of the tiny model on the tinystories dataset of `data_dir`.
fn trainer(s: &Scratch, data_dir: &Path) -> Command {
    let mut cmd = s.lmeff();
    cmd.env("LMEFF_MILESTONES", "[0.01]")
        .env("LMEFF_TRAIN__EVAL_TOKENS", "2000")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["train", "--dataset", "tinystories", "--model", "tiny"])
        .args(["--vocab", "1000"]);
    cmd
}

/// A copy of the trained run's `final/` checkpoint in `s`.
fn checkpoint_copy(s: &Scratch) -> PathBuf {
    let ck = s.path().join("ck");
    copy_tree(&trained().path().join(RUN).join("final"), &ck);
    ck
}

/// `lmeff eval blimp --checkpoint ck ARGS`: (success, stdout, stderr).
fn score(s: &Scratch, ck: impl AsRef<Path>, args: &[&str]) -> (bool, String, String) {
    run(eval(s).arg("--checkpoint").arg(ck.as_ref()).args(args))
}

fn eval(s: &Scratch) -> Command {
    let mut cmd = s.lmeff();
    cmd.arg("--blimp-dir")
        .arg(shared_data().join("blimp"))
        .args(["eval", "blimp"]);
    cmd
}

/// Names of the entries of `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Overwrites the first tensor's data in a `.safetensors` file with NaNs (same size).
fn poison_with_nan(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let (_, t) = header
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_str() != "__metadata__")
        .unwrap();
    assert_eq!(t["dtype"], "F32");
    let start = 8 + n + t["data_offsets"][0].as_u64().unwrap() as usize;
    let end = 8 + n + t["data_offsets"][1].as_u64().unwrap() as usize;
    for chunk in bytes[start..end].chunks_exact_mut(4) {
        chunk.copy_from_slice(&f32::NAN.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn eval_out_never_deletes_what_the_folder_held() {
    let s = Scratch::new();
    let ck = checkpoint_copy(&s);
    s.write("keep/thesis.tex", "x");
    let (ok, _, err) = score(&s, &ck, &["--paradigms", PARADIGM, "--out", "keep"]);
    assert!(!ok);
    assert!(
        err.contains("thesis.tex") && err.contains("did not write"),
        "{err}"
    );
    assert_eq!(names(&s.path().join("keep")), ["thesis.tex"]);

    // A results tree (an earlier run's results beside it) is not a checkpoint's result folder.
    s.write("results/blimp/notes.md", "x");
    let (ok, _, err) = score(&s, &ck, &["--paradigms", PARADIGM, "--out", "results"]);
    assert!(!ok && err.contains("results/blimp"), "{err}");
    assert!(s.path().join("results/blimp/notes.md").is_file());

    // A run's milestone folder under --out is checked the same way.
    let run_copy = s.path().join("run");
    copy_tree(&trained().path().join(RUN), &run_copy);
    s.write("byrun/final/mine.csv", "x");
    let (ok, _, err) =
        run(eval(&s)
            .arg("--run")
            .arg(&run_copy)
            .args(["--paradigms", PARADIGM, "--out", "byrun"]));
    assert!(!ok && err.contains("mine.csv"), "{err}");
    assert!(s.path().join("byrun/final/mine.csv").is_file());

    // An earlier result is lmeff's own: it is replaced.
    let (ok, _, err) = score(&s, &ck, &["--paradigms", PARADIGM, "--out", "fresh"]);
    assert!(ok, "{err}");
    let (ok, _, err) = score(
        &s,
        &ck,
        &["--paradigms", PARADIGM, "--out", "fresh", "--force"],
    );
    assert!(ok, "{err}");
    assert_eq!(
        names(&s.path().join("fresh")),
        ["blimp_results.json", "pairs.parquet", "summary.parquet"]
    );
}

#[test]
fn damaged_weights_are_never_scored() {
    let s = Scratch::new();
    let ck = checkpoint_copy(&s);
    poison_with_nan(&ck.join("model.safetensors"));
    let (ok, out, err) = score(&s, &ck, &["--paradigms", PARADIGM, "--out", "res"]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("checksum mismatch") && err.contains("model.safetensors"),
        "{err}"
    );
    assert!(!s.path().join("res").exists());

    // Without checksums.json (a folder from elsewhere), a non-finite log-probability is the error.
    std::fs::remove_file(ck.join("checksums.json")).unwrap();
    let (ok, out, err) = score(&s, &ck, &["--paradigms", PARADIGM, "--out", "res"]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("not finite") && err.contains(PARADIGM) && err.contains("ck"),
        "{err}"
    );
    assert!(!s.path().join("res").exists());
}

#[test]
fn dataset_names_are_folder_names() {
    let s = Scratch::new();
    let data = s.path().join("data");
    s.write("src/a.txt", &"word ".repeat(50));
    for args in [
        vec![
            "mix", "--name", "../evil", "--words", "20", "--source", "a=src:1",
        ],
        vec![
            "mix", "--name", "../data", "--force", "--words", "20", "--source", "a=src:1",
        ],
        vec!["prepare", "--dataset", "../x"],
        vec!["clean", "--dataset", "a/b"],
    ] {
        let (ok, _, err) = run(s
            .lmeff()
            .arg("--data-dir")
            .arg(&data)
            .arg("data")
            .args(&args));
        assert!(!ok);
        assert!(err.contains("must be a folder name"), "{args:?}: {err}");
    }
    let (ok, _, err) = run(s
        .lmeff()
        .args(["train", "--dataset", "../x", "--model", "tiny"])
        .args(["--vocab", "1000"]));
    assert!(!ok && err.contains("must be a folder name"), "{err}");
    assert_eq!(names(s.path()), ["src"], "nothing written anywhere");
}

/// Waits until `run_dir/run.lock` names process `pid`.
fn wait_for_holder(run_dir: &Path, pid: u32) {
    let start = Instant::now();
    let want = format!("pid {pid} on ");
    while !std::fs::read_to_string(run_dir.join("run.lock")).is_ok_and(|t| t.starts_with(&want)) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no lock by {pid}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_run_folder_has_one_owner_and_its_lock_dies_with_it() {
    let s = Scratch::new();
    let long = ["--anchor", "5", "--seed", "7"];
    let run_dir = s
        .path()
        .join("output/models/tinystories/llama-tiny/tokenizer-1000-seed-7/budget-5M");
    let mut first = train(&s)
        .args(long)
        .env("SLURM_ARRAY_JOB_ID", "4242")
        .env("SLURM_ARRAY_TASK_ID", "3")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_holder(&run_dir, first.id());

    // A second trainer (as a requeued task overlapping its predecessor) is turned away.
    let (ok, _, err) = run(train(&s).args(long));
    assert!(!ok);
    assert!(
        err.contains("in use by another lmeff train")
            && err.contains(&format!("pid {}", first.id()))
            && err.contains("Slurm job 4242_3"),
        "{err}"
    );
    assert!(first.try_wait().unwrap().is_none(), "the holder goes on");

    // Killed, the holder's lock vanishes: the next trainer takes the folder.
    first.kill().unwrap();
    first.wait().unwrap();
    let mut next = train(&s).args(long).stderr(Stdio::null()).spawn().unwrap();
    wait_for_holder(&run_dir, next.id());
    next.kill().unwrap();
    next.wait().unwrap();
}

#[test]
fn interrupted_saves_leave_nothing_behind() {
    let s = Scratch::new();
    let args = ["--anchor", "0.02", "--seed", "3"];
    let run_dir = s
        .path()
        .join("output/models/tinystories/llama-tiny/tokenizer-1000-seed-3/budget-0.02M");
    // What a kill during a resume save and during a checkpoint save leaves.
    let stale = run_dir.join(".resume.stage-99999.tmp");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("model.safetensors"), "partial").unwrap();
    std::fs::create_dir_all(run_dir.join(".milestone-0.01M.stage-99998.tmp")).unwrap();

    // A full disk (a file-size limit) during the first resume save: an error, and no staging left.
    let mut full = Command::new("bash");
    full.arg("-c")
        .arg("trap '' XFSZ; ulimit -f 20; exec \"$@\"")
        .arg("bash");
    let t = train(&s);
    full.arg(t.get_program()).args(t.get_args()).args(args);
    full.env("LMEFF_TRAIN__SAVE_EVERY", "5")
        .current_dir(s.path());
    for (k, v) in t.get_envs() {
        match v {
            Some(v) => full.env(k, v),
            None => full.env_remove(k),
        };
    }
    let (ok, _, err) = run(&mut full);
    assert!(!ok, "a 20 KB file limit must stop the save");
    assert!(err.contains("File too large"), "{err}");
    let left: Vec<String> = names(&run_dir)
        .into_iter()
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "staging left: {left:?}");

    // Given room, the run completes with nothing but its own files.
    let (ok, _, err) = run(train(&s).args(args).env("LMEFF_TRAIN__SAVE_EVERY", "5"));
    assert!(ok, "{err}");
    assert_eq!(
        names(&run_dir),
        [
            "final",
            "metrics.jsonl",
            "milestone-0.01M",
            "run.json",
            "run.lock",
            "tb"
        ]
    );
}

#[test]
fn bad_training_input_is_refused_before_anything_is_written() {
    let s = Scratch::new();
    for (args, env, says) in [
        (
            vec!["--seq-len", "129"],
            None,
            "max_position_embeddings 128",
        ),
        (vec!["--seq-len", "0"], None, "--seq-len"),
        (vec!["--batch-size", "0"], None, "--batch-size"),
        (vec!["--grad-accum", "0"], None, "--grad-accum"),
        (vec!["--lr", "0"], None, "not a positive learning rate"),
        (vec!["--lr=-0.1"], None, "not a positive learning rate"),
        (vec!["--lr", "NaN"], None, "not a positive learning rate"),
        (vec!["--max-steps", "0"], None, "--max-steps"),
        (vec!["--epochs", "0"], None, "--epochs"),
        (
            vec![],
            Some(("LMEFF_TRAIN__LOG_EVERY", "0")),
            "train.log_every",
        ),
        (
            vec![],
            Some(("LMEFF_TRAIN__SAVE_EVERY", "0")),
            "train.save_every",
        ),
    ] {
        let mut cmd = trainer(&s, prepared_tinystories());
        if !args.iter().any(|a| a.starts_with("--seq-len")) {
            cmd.args(["--seq-len", "64"]);
        }
        cmd.args(["--anchor", "0.01"]).args(&args);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            matches!(out.status.code(), Some(1 | 2)),
            "{args:?} {env:?}: exit {:?}: {err}",
            out.status.code()
        );
        assert!(
            err.contains(says) && !err.contains("panicked"),
            "{args:?}: {err}"
        );
        assert!(!s.path().join("output").exists(), "{args:?} wrote output");
    }
    let (ok, _, err) = run(s.lmeff().args([
        "train",
        "--dataset",
        "tinystories",
        "--model",
        "nosuch",
        "--vocab",
        "1000",
    ]));
    assert!(!ok);
    assert!(
        err.contains("--model nosuch") && err.contains("tiny") && !err.contains("<command line>"),
        "{err}"
    );

    // A token file of the right size holding an id outside the vocabulary.
    let data = s.path().join("data");
    copy_tree(prepared_tinystories(), &data);
    let bin = data.join("tinystories/tokens/1000/train.bin");
    let mut bytes = std::fs::read(&bin).unwrap();
    bytes[2000..2002].copy_from_slice(&60000u16.to_le_bytes());
    std::fs::write(&bin, bytes).unwrap();
    let (ok, _, err) = run(train_on(&s, &data).args(["--anchor", "0.01"]));
    assert!(!ok);
    assert!(
        err.contains("train.bin: token 1000 has id 60000, outside the vocabulary of 1000"),
        "{err}"
    );
    assert!(!s.path().join("output").exists());
}

#[test]
fn results_over_different_paradigms_are_never_mixed() {
    let s = Scratch::new();
    let run_copy = s.path().join("run");
    copy_tree(&trained().path().join(RUN), &run_copy);
    let two = "adjunct_island,anaphor_gender_agreement";
    let (ok, _, err) = score(&s, run_copy.join("final"), &["--paradigms", two]);
    assert!(ok, "{err}");
    let results = s
        .path()
        .join("results/blimp/tinystories/tiny/seed-2/tok-1000/budget-0.03M/final");
    let before = std::fs::read(results.join("summary.parquet")).unwrap();

    // A subset does not replace the fuller result unasked.
    let (ok, _, err) = score(&s, run_copy.join("final"), &["--paradigms", PARADIGM]);
    assert!(!ok);
    assert!(
        err.contains("result over 2 paradigms")
            && err.contains("anaphor_gender_agreement")
            && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(results.join("summary.parquet")).unwrap(),
        before
    );

    // The milestone scored on one paradigm, the final on two: aggregate refuses to compare them.
    let (ok, _, err) = score(
        &s,
        run_copy.join("milestone-0.01M"),
        &["--paradigms", PARADIGM],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = run(s.lmeff().args(["aggregate", "--bootstrap", "10"]));
    assert!(!ok);
    assert!(
        err.contains("different BLiMP paradigm sets")
            && err.contains("1 checkpoint(s) over 2 paradigm(s)")
            && err.contains("1 checkpoint(s) over 1 paradigm(s)"),
        "{err}"
    );
    assert!(!s.path().join("results/data").exists());
}

#[test]
fn aggregate_puts_its_outputs_in_place_at_once() {
    let s = Scratch::new();
    let table = |rows: &[(&str, f64)]| {
        let mut t = "dataset,model_size,milestone,vocab_size,seed,acc\n".to_owned();
        for seed in 0..3 {
            for (m, acc) in rows {
                t += &format!("ts,20m,{m},16000,{seed},{}\n", acc + seed as f64 / 100.0);
            }
        }
        t
    };
    s.write("a.csv", &table(&[("25", 0.6), ("final", 0.7)]));
    let aggregate = |s: &Scratch, file: &str| {
        let mut cmd = s.lmeff();
        cmd.args([
            "aggregate",
            "--bootstrap",
            "10",
            "--import-csv",
            file,
            "--out",
            "out",
        ]);
        cmd
    };
    let (ok, out, err) = run(&mut aggregate(&s, "a.csv"));
    assert!(ok, "{err}");
    assert!(
        out.contains("missing results not checked (no configs.csv)"),
        "{out}"
    );
    let report = std::fs::read_to_string(s.path().join("out/report.md")).unwrap();
    assert!(
        report.contains("missing results were not checked"),
        "{report}"
    );
    let snapshot = |s: &Scratch| -> Vec<(PathBuf, Vec<u8>)> {
        s.files()
            .into_iter()
            .filter(|f| f.starts_with("out"))
            .map(|f| (f.clone(), std::fs::read(s.path().join(&f)).unwrap()))
            .collect()
    };
    let before = snapshot(&s);
    assert!(before
        .iter()
        .any(|(f, _)| f.ends_with("plots/learning_curves.png")));

    // A full disk half-way (the tables fit, the plots do not): nothing changes, and the error
    // names the file.
    s.write(
        "b.csv",
        &table(&[("25", 0.5), ("50", 0.55), ("final", 0.8)]),
    );
    let inner = aggregate(&s, "b.csv");
    let mut full = Command::new("bash");
    full.arg("-c")
        .arg("trap '' XFSZ; ulimit -f 24; exec \"$@\"")
        .arg("bash")
        .arg(inner.get_program())
        .args(inner.get_args())
        .current_dir(s.path());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => full.env(k, v),
            None => full.env_remove(k),
        };
    }
    let (ok, _, err) = run(&mut full);
    assert!(!ok);
    assert!(
        err.contains("File too large") && err.contains(".png") && !err.contains("Os {"),
        "{err}"
    );
    assert_eq!(snapshot(&s), before, "outputs changed or temporaries left");

    // Something of the user's in the tables folder: refused before any work.
    s.write("out/data/my_notes.txt", "x");
    let (ok, _, err) = run(&mut aggregate(&s, "b.csv"));
    assert!(!ok && err.contains("my_notes.txt"), "{err}");
}

#[test]
fn impossible_imports_are_refused() {
    let s = Scratch::new();
    for bad in ["1.7", "-0.2", "NaN"] {
        s.write(
            "t.csv",
            &format!("dataset,model_size,milestone,vocab_size,seed,acc\nts,20m,25,16000,0,0.5\nts,20m,final,16000,0,{bad}\n"),
        );
        let (ok, _, err) =
            run(s
                .lmeff()
                .args(["aggregate", "--import-csv", "t.csv", "--out", "o"]));
        assert!(!ok);
        assert!(
            err.contains("t.csv: line 3: `acc`") && err.contains("is not an accuracy"),
            "{bad}: {err}"
        );
    }
    // Two values for one result: the message names the run plainly.
    s.write(
        "t.csv",
        "dataset,model_size,milestone,vocab_size,seed,acc\nts,20m,25,16000,0,0.5\nts,20m,25,16000,0,0.6\n",
    );
    let (ok, _, err) = run(s
        .lmeff()
        .args(["aggregate", "--import-csv", "t.csv", "--out", "o"]));
    assert!(!ok);
    assert!(
        err.contains("ts 20m vocab 16000 seed 0") && !err.contains("RunKey"),
        "{err}"
    );
    assert!(!s.path().join("o").exists());
}

#[test]
fn unknown_environment_variables_are_refused() {
    let s = Scratch::new();
    let (ok, _, err) = run(s.lmeff().env("LMEFF_SLURM_PARTITION", "high").arg("plan"));
    assert!(!ok);
    assert!(
        err.contains("LMEFF_SLURM_PARTITION is not a setting")
            && err.contains("LMEFF_SLURM__PARTITION"),
        "{err}"
    );
    let (ok, _, err) = run(s.lmeff().env("LMEFF_TRAIN__LOG_EVRY", "5").arg("plan"));
    assert!(!ok && err.contains("log_evry"), "{err}");
}

#[test]
fn messages_say_what_is_true() {
    let s = Scratch::new();
    // A diverging run before its first save: no resume state to point to.
    let (ok, _, err) = run(train(&s).args(["--anchor", "0.02", "--lr", "1e30"]));
    assert!(!ok);
    assert!(
        err.contains("training loss is") && err.contains("starts over") && !err.contains("resume"),
        "{err}"
    );

    // A number that is only too large.
    s.write(
        "c.csv",
        "model_config,dataset,epochs,batch_size,grad_accum,seq_length,anchors,tokenizer_vocab_size\ntiny,ts,99999999999,0,0,64,[-1],16000\n",
    );
    let (ok, _, err) = run(s.lmeff().args(["plan", "--configs", "c.csv"]));
    assert!(!ok && err.contains("99999999999 is too large"), "{err}");

    // Bad input found while writing is reported as input, not as a write.
    let data = s.path().join("data");
    s.write("data/ts/train/a.txt", "good line\n");
    std::fs::write(data.join("ts/train/b.txt"), b"bad \xff byte\n").unwrap();
    s.write("data/ts/dev/a.txt", "dev line\n");
    let (ok, _, err) =
        run(s
            .lmeff()
            .arg("--data-dir")
            .arg(&data)
            .args(["data", "clean", "--dataset", "ts"]));
    assert!(!ok);
    assert!(
        err.contains("b.txt: invalid UTF-8 at byte offset 4")
            && !err.contains("stage")
            && !err.contains("writing"),
        "{err}"
    );

    // The paradigm hint names the BLiMP folder in use.
    let (ok, _, err) = run(s.lmeff().args([
        "--blimp-dir",
        "/my/blimp",
        "eval",
        "blimp",
        "--checkpoint",
        "x",
        "--paradigms",
        "nope",
    ]));
    assert!(!ok && err.contains("/my/blimp/<paradigm>.jsonl"), "{err}");
}

#[test]
fn help_lists_a_commands_own_options_first() {
    let s = Scratch::new();
    let help = |args: &[&str]| {
        let (ok, out, err) = run(s.lmeff().args(args).arg("--help"));
        assert!(ok, "{err}");
        out
    };
    let train = help(&["train"]);
    let (own, global) = train
        .split_once("Global options:")
        .expect("a global heading");
    assert!(
        own.contains("--run-id") && own.contains("--max-steps"),
        "{own}"
    );
    assert!(
        !own.contains("--data-dir") && global.contains("--data-dir"),
        "{train}"
    );
    assert!(
        train.contains("SIGUSR1") && train.contains("SIGTERM"),
        "{train}"
    );
    let prepare = help(&["data", "prepare"]);
    assert!(prepare.contains("8000,16000,32000,50257"), "{prepare}");
}

/// `lmeff eval glue --checkpoint CK --epochs 1 ARGS` in `s`, `--data glue` unless ARGS say.
fn glue(s: &Scratch, ck: &Path, args: &[&str]) -> (bool, String, String) {
    let data: &[&str] = match args.contains(&"--data") {
        true => &[],
        false => &["--data", "glue"],
    };
    run(s
        .lmeff()
        .args(["eval", "glue", "--checkpoint"])
        .arg(ck)
        .args(data)
        .args(["--epochs", "1"])
        .args(args))
}

fn glue_summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("glue_results.json")).unwrap()).unwrap()
}

#[test]
fn glue_results_are_checked_before_and_after_fine_tuning() {
    let s = Scratch::new();
    common::glue::tasks(&s.path().join("glue"));
    let ck = checkpoint_copy(&s);

    // A user's file in --out is refused before anything trains (heads/ included).
    s.write("mine/sst2.parquet", "my data");
    let (ok, _, err) = glue(
        &s,
        &ck,
        &["--tasks", "sst2", "--out", "mine", "--keep-heads"],
    );
    assert!(
        !ok && err.contains("holds sst2.parquet, which lmeff did not write"),
        "{err}"
    );
    assert!(err.contains("nothing was fine-tuned"), "{err}");
    assert_eq!(names(&s.path().join("mine")), ["sst2.parquet"]);
    assert_eq!(
        std::fs::read_to_string(s.path().join("mine/sst2.parquet")).unwrap(),
        "my data"
    );

    // Results of one checkpoint only: another checkpoint sent to the same --out replaces them.
    let (ok, _, err) = glue(&s, &ck, &["--tasks", "sst2", "--out", "shared"]);
    assert!(ok, "{err}");
    let other = s.path().join("other");
    copy_tree(&trained().path().join(RUN).join("milestone-0.01M"), &other);
    let (ok, _, err) = glue(&s, &other, &["--tasks", "mrpc", "--out", "shared"]);
    assert!(ok, "{err}");
    let summary = glue_summary(&s.path().join("shared"));
    let tasks: Vec<&String> = summary["tasks"].as_object().unwrap().keys().collect();
    assert_eq!(tasks, ["mrpc"], "{summary}");
    assert!(summary["identity"]["checkpoint"]
        .as_str()
        .unwrap()
        .ends_with("other"));
    assert!(!s.path().join("shared/sst2.parquet").exists());

    // Up to date, a task asked for its head or trace is fine-tuned again to give them.
    let (ok, out, err) = glue(
        &s,
        &other,
        &["--tasks", "mrpc", "--out", "shared", "--keep-heads"],
    );
    assert!(ok && !out.contains("up to date"), "{out}{err}");
    assert!(s.path().join("shared/heads/mrpc/config.json").is_file());
    let (ok, out, err) = glue(
        &s,
        &other,
        &["--tasks", "mrpc", "--out", "shared", "--trace", "tr"],
    );
    assert!(ok && !out.contains("up to date"), "{out}{err}");
    assert!(s.path().join("tr/mrpc/steps.jsonl").is_file());
    let (ok, out, _) = glue(
        &s,
        &other,
        &["--tasks", "mrpc", "--out", "shared", "--keep-heads"],
    );
    assert!(ok && out.contains("up to date"), "{out}");

    // Damaged weights are never fine-tuned: by their checksum, else by their values.
    poison_with_nan(&ck.join("model.safetensors"));
    let (ok, _, err) = glue(&s, &ck, &["--tasks", "sst2", "--out", "nan"]);
    assert!(!ok && err.contains("checksum mismatch"), "{err}");
    std::fs::remove_file(ck.join("checksums.json")).unwrap();
    let (ok, _, err) = glue(&s, &ck, &["--tasks", "sst2", "--out", "nan"]);
    assert!(!ok && err.contains("holds NaN or infinity"), "{err}");
    assert!(!s.path().join("nan").exists());

    // A tokenizer that gives ids the model has no embedding for: a clear error, not a crash.
    let big = s.path().join("big");
    copy_tree(&trained().path().join(RUN).join("final"), &big);
    std::fs::remove_file(big.join("checksums.json")).unwrap();
    let mut tok: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(big.join("tokenizer.json")).unwrap())
            .unwrap();
    for (_, id) in tok["model"]["vocab"].as_object_mut().unwrap() {
        if id.as_u64().unwrap() >= 3 {
            *id = (id.as_u64().unwrap() + 4000).into();
        }
    }
    std::fs::write(big.join("tokenizer.json"), tok.to_string()).unwrap();
    let (ok, _, err) = glue(&s, &big, &["--tasks", "sst2", "--out", "big-glue"]);
    assert!(
        !ok && err.contains("but the model has 1000 embeddings"),
        "{err}"
    );
    let (ok, _, err) = score(&s, &big, &["--paradigms", PARADIGM, "--out", "big-blimp"]);
    assert!(
        !ok && err.contains("but the model has 1000 embeddings"),
        "{err}"
    );
    assert!(!s.path().join("big-glue").exists() && !s.path().join("big-blimp").exists());

    // A training set the dev split empties is an error, read or converted.
    s.write(
        "gf/rte.train.jsonl",
        "{\"sentence1\": \"a\", \"sentence2\": \"b\", \"label\": 0}\n",
    );
    s.write(
        "gf/rte.valid.jsonl",
        "{\"sentence1\": \"a\", \"sentence2\": \"b\", \"label\": 0}\n",
    );
    let (ok, _, err) = glue(
        &s,
        &other,
        &["--data", "gf", "--tasks", "rte", "--out", "one"],
    );
    assert!(!ok && err.contains("too few examples"), "{err}");
    let fetch = |dir: &str| {
        run(s
            .lmeff()
            .args(["data", "fetch", "glue", "--dest", "fetched", "--from", dir]))
    };
    let (ok, _, err) = fetch("gf");
    assert!(
        !ok && err.contains("too few to hold out a dev set"),
        "{err}"
    );
    assert!(!s.path().join("fetched/glue/rte").exists());
    // After blank lines, a bad row is named by its own line.
    let row = "{\"sentence1\": \"a\", \"sentence2\": \"b\", \"label\": 1}";
    s.write(
        "gf2/mrpc.train.jsonl",
        &format!("{row}\n\n\n{{\"sentence1\": \"a\", \"sentence2\": \"b\", \"label\": 7}}\n"),
    );
    s.write("gf2/mrpc.valid.jsonl", &format!("{row}\n"));
    let (ok, _, err) = fetch("gf2");
    assert!(!ok && err.contains("mrpc.train.jsonl:4: label 7"), "{err}");
}

#[test]
fn names_from_checkpoint_metadata_are_folder_names() {
    let s = Scratch::new();
    let ck = checkpoint_copy(&s);
    let meta_path = ck.join("milestone_meta.json");
    let meta = std::fs::read_to_string(&meta_path).unwrap();
    for (field, bad) in [
        ("dataset", "../../escaped"),
        ("model", "/abs"),
        ("name", "milestone-../../x"),
    ] {
        let mut m: serde_json::Value = serde_json::from_str(&meta).unwrap();
        m[field] = bad.into();
        std::fs::write(&meta_path, m.to_string()).unwrap();
        std::fs::remove_file(ck.join("checksums.json")).ok();
        let (ok, _, err) = score(&s, &ck, &["--paradigms", PARADIGM]);
        assert!(
            !ok && err.contains("cannot name a results folder"),
            "{field}: {err}"
        );
        common::glue::tasks(&s.path().join("glue"));
        let (ok, _, err) = glue(&s, &ck, &["--tasks", "sst2"]);
        assert!(
            !ok && err.contains("cannot name a results folder"),
            "{field}: {err}"
        );
    }
    assert!(!s.path().join("results").exists() && !s.path().join("escaped").exists());
    assert!(!s.path().parent().unwrap().join("escaped").exists());
}

#[test]
fn names_in_the_report_are_shown_as_they_are() {
    let s = Scratch::new();
    let evil = "ts`<img src=x onerror=alert(1)>|";
    let mut table = String::from("dataset,model_size,milestone,vocab_size,seed,acc\n");
    for dataset in [evil, "web"] {
        for seed in 0..5 {
            for (m, a) in [("25", 0.6), ("final", 0.7)] {
                let acc = a + seed as f64 / 100.0;
                table += &format!("\"{dataset}\",20m,{m},8000,{seed},{acc}\n");
            }
        }
    }
    s.write("a.csv", &table);
    let (ok, _, err) = run(s.lmeff().args([
        "aggregate",
        "--import-csv",
        "a.csv",
        "--out",
        "agg",
        "--bootstrap",
        "20",
    ]));
    assert!(ok, "{err}");
    let html = std::fs::read_to_string(s.path().join("agg/report.html")).unwrap();
    assert!(!html.contains("<img src=x"), "the name runs in the page");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    // Every row naming the group keeps the cells of its table's heading (the decisions and the
    // predictiveness tables).
    let md = std::fs::read_to_string(s.path().join("agg/report.md")).unwrap();
    let cells = |l: &str| l.replace("\\|", "").matches('|').count();
    let (mut heading, mut checked) = ("", Vec::new());
    for l in md.lines().filter(|l| l.starts_with('|')) {
        if l.starts_with("| group |") {
            heading = l;
        } else if l.contains("onerror") {
            assert_eq!(cells(l), cells(heading), "{l}");
            checked.push(heading);
        }
    }
    checked.dedup();
    assert_eq!(checked.len(), 2, "rows of both tables: {md}");
}
