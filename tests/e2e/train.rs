//! End-to-end tests of `lmeff train` on the real tinystories sample: milestones at exact steps,
//! Hugging Face interoperability, exact resume after SIGKILL, SIGUSR1 or Ctrl-C → exit 75 (one
//! TensorBoard run across the resume), bad input.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::{copy_tree, python, run, Scratch};

fn data_dir() -> &'static Path {
    common::prepared_tinystories()
}

const RUN_DIR: &str = "output/models/tinystories/llama-tiny/tokenizer-1000-seed-3/budget-0.03M";

/// `lmeff train` of a tiny budget run (0.03M tokens = 59 steps of 8 × 64) with milestones at
/// 0.01M and 0.02M, resume states every 7 steps, dev loss every 20 steps on 2,000 tokens.
fn train_cmd(s: &Scratch, data: &Path) -> Command {
    let mut cmd = s.lmeff();
    cmd.env("LMEFF_MILESTONES", "[0.01,0.02]")
        .env("LMEFF_TRAIN__SAVE_EVERY", "7")
        .env("LMEFF_TRAIN__LOG_EVERY", "5")
        .env("LMEFF_TRAIN__EVAL_TOKENS", "2000")
        .env("LMEFF_THREADS", "1")
        .arg("--data-dir")
        .arg(data)
        .args([
            "train",
            "--dataset",
            "tinystories",
            "--model",
            "tiny",
            "--vocab",
            "1000",
        ])
        .args(["--seq-len", "64", "--anchor", "0.03", "--seed", "3"]);
    cmd
}

fn metrics(s: &Scratch) -> Vec<serde_json::Value> {
    std::fs::read_to_string(s.path().join(RUN_DIR).join("metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn read(p: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(p.as_ref()).unwrap_or_else(|e| panic!("{}: {e}", p.as_ref().display()))
}

/// The uninterrupted reference run, trained once.
fn reference() -> &'static Scratch {
    static REF: OnceLock<Scratch> = OnceLock::new();
    REF.get_or_init(|| {
        let s = Scratch::new();
        let (ok, out, err) = run(&mut train_cmd(&s, data_dir()));
        assert!(ok, "{err}");
        assert!(
            out.contains("trained tinystories_tiny_v1000_seed3_budget0.03M"),
            "{out}"
        );
        s
    })
}

#[test]
fn a_budget_run_writes_milestones_at_exact_steps_and_learns() {
    let s = reference();
    let dir = s.path().join(RUN_DIR);
    // 10,000 / 512 → step 20; 20,000 / 512 → step 40; the budget 30,000 / 512 → step 59.
    for (name, step, tokens) in [
        ("milestone-0.01M", 20, 10_240),
        ("milestone-0.02M", 40, 20_480),
        ("final", 59, 30_208),
    ] {
        let meta: serde_json::Value =
            serde_json::from_slice(&read(dir.join(name).join("milestone_meta.json"))).unwrap();
        assert_eq!(meta["step"], step, "{name}");
        assert_eq!(meta["tokens_seen"], tokens, "{name}");
        for f in [
            "model.safetensors",
            "config.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "checksums.json",
            "README.md",
            "generation_config.json",
        ] {
            assert!(dir.join(name).join(f).is_file(), "{name}/{f}");
        }
        let card = std::fs::read_to_string(dir.join(name).join("README.md")).unwrap();
        assert!(
            card.contains(&format!("| tokens seen | {tokens} |")) && card.contains("| seed | 3 |"),
            "{card}"
        );
    }
    let cfg: serde_json::Value =
        serde_json::from_slice(&read(dir.join("final/config.json"))).unwrap();
    assert_eq!(cfg["architectures"][0], "LlamaForCausalLM");
    assert_eq!(cfg["vocab_size"], 1000);
    assert_eq!(cfg["bos_token_id"], 1);
    assert!(
        !dir.join("resume").exists(),
        "the resume state is dropped once final/ exists"
    );
    let m = metrics(s);
    let losses: Vec<f64> = m.iter().filter_map(|r| r["loss"].as_f64()).collect();
    assert!(losses.len() >= 10, "{m:?}");
    assert!(
        losses.last().unwrap() < &(losses[0] - 0.5),
        "loss did not fall: {losses:?}"
    );
    assert_eq!(m.last().unwrap()["step"], 59);
    assert!(
        m.last().unwrap()["eval_loss"].as_f64().unwrap() < 6.9,
        "{m:?}"
    );
    // Running it again finds it done and changes nothing.
    let before = read(dir.join("final/model.safetensors"));
    let s2_out = run(&mut train_cmd(s, data_dir()));
    assert!(
        s2_out.0 && s2_out.1.contains("already trained"),
        "{s2_out:?}"
    );
    assert_eq!(read(dir.join("final/model.safetensors")), before);
}

#[test]
fn transformers_loads_the_checkpoint_and_agrees_on_logits() {
    let s = reference();
    let ckpt = s.path().join(RUN_DIR).join("final");
    let (model, _vs) = lmeff::model::Llama::load(&ckpt, tch::Device::Cpu).unwrap();
    let tok = tokenizers::Tokenizer::from_file(ckpt.join("tokenizer.json")).unwrap();
    let dev = std::fs::read_to_string(data_dir().join("tinystories/dev_clean"))
        .or_else(|_| {
            let d = std::fs::read_dir(data_dir().join("tinystories/dev_clean"))
                .unwrap()
                .next()
                .unwrap()
                .unwrap();
            std::fs::read_to_string(d.path())
        })
        .unwrap();
    let lines: Vec<String> = dev
        .lines()
        .filter(|l| l.len() > 200)
        .take(4)
        .map(str::to_owned)
        .collect();
    let t = 48;
    let ids: Vec<Vec<i64>> = lines
        .iter()
        .map(|l| {
            tok.encode(l.as_str(), false).unwrap().get_ids()[..t]
                .iter()
                .map(|&i| i as i64)
                .collect()
        })
        .collect();
    let flat: Vec<i64> = ids.concat();
    let logits =
        tch::no_grad(|| model.forward(&tch::Tensor::from_slice(&flat).view([4, t as i64])));
    let logits: Vec<f32> = Vec::try_from(logits.flatten(0, -1)).unwrap();
    let bytes: Vec<u8> = logits.iter().flat_map(|x| x.to_le_bytes()).collect();
    let logits_file = s.path().join("lmeff_logits.f32");
    std::fs::write(&logits_file, bytes).unwrap();
    let dump = s.write(
        "dump.json",
        &serde_json::json!({"lines": lines, "ids": ids, "logits_file": logits_file}).to_string(),
    );
    let out = Command::new(python())
        .arg(common::repo().join("tests/python/hf_interop.py"))
        .arg(&ckpt)
        .arg(&dump)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["same_ids"], true);
    assert!(report["max_abs_diff"].as_f64().unwrap() <= 1e-4, "{report}");
}

/// Starts training in the background and kills it with `signal` once `ready` holds.
fn interrupt(
    s: &Scratch,
    signal: &str,
    ready: impl Fn(&Scratch) -> bool,
) -> std::process::ExitStatus {
    let mut child = train_cmd(s, data_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !ready(s) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("training ended ({status}) before the interruption point");
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "interruption point never reached"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap()
        .success());
    child.wait().unwrap()
}

fn resume_step(s: &Scratch) -> Option<u64> {
    let text = std::fs::read_to_string(s.path().join(RUN_DIR).join("resume/state.json")).ok()?;
    serde_json::from_str::<serde_json::Value>(&text).ok()?["step"].as_u64()
}

#[test]
fn killed_three_times_and_resumed_it_ends_bitwise_identical() {
    let reference = reference();
    let s = Scratch::new();
    // Three different points: just after the first resume state (mid-run, before a milestone),
    // while the first milestone is being written, and late, after the second milestone.
    let points: [&dyn Fn(&Scratch) -> bool; 3] = [
        &|s| resume_step(s).is_some(),
        &|s| {
            s.path().join(RUN_DIR).join("milestone-0.01M").exists()
                || resume_step(s).is_some_and(|x| x >= 21)
        },
        &|s| resume_step(s).is_some_and(|x| x >= 42),
    ];
    for ready in points {
        let status = interrupt(&s, "-KILL", ready);
        assert!(!status.success());
    }
    let (ok, _, err) = run(&mut train_cmd(&s, data_dir()));
    assert!(ok, "{err}");
    for name in ["milestone-0.01M", "milestone-0.02M", "final"] {
        assert!(
            read(s.path().join(RUN_DIR).join(name).join("model.safetensors"))
                == read(
                    reference
                        .path()
                        .join(RUN_DIR)
                        .join(name)
                        .join("model.safetensors")
                ),
            "{name} differs from the uninterrupted run"
        );
    }
    let losses = |s: &Scratch| {
        metrics(s)
            .iter()
            .map(|r| (r["step"].clone(), r["loss"].clone(), r["eval_loss"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        losses(&s),
        losses(reference),
        "metrics.jsonl replays exactly once"
    );
}

#[test]
fn sigusr1_and_ctrl_c_save_and_exit_75_then_resume_to_the_same_weights_and_one_tensorboard_run() {
    for signal in ["-USR1", "-INT"] {
        let s = Scratch::new();
        let status = interrupt(&s, signal, |s| !metrics(s).is_empty());
        assert_eq!(status.code(), Some(75), "{signal}");
        let step = resume_step(&s).expect("a resume state");
        assert!(step > 0 && step < 59, "{step}");
        let (ok, out, err) = run(train_cmd(&s, data_dir()).args(["--format", "json"]));
        assert!(ok, "{err}");
        assert!(
            err.contains(&format!("step={step}")) && err.contains("resuming"),
            "{err}"
        );
        let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(summary["outcome"], "finished", "{out}");
        assert!(
            summary["checkpoint"].as_str().unwrap().ends_with("final"),
            "{out}"
        );
        assert_eq!(
            read(s.path().join(RUN_DIR).join("final/model.safetensors")),
            read(
                reference()
                    .path()
                    .join(RUN_DIR)
                    .join("final/model.safetensors")
            ),
            "{signal}"
        );
        // Every metrics.jsonl line says when and which run.
        let lines = metrics(&s);
        assert!(lines.iter().all(
            |l| l["run_id"] == "tinystories_tiny_v1000_seed3_budget0.03M"
                && l["time"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("20") && t.ends_with('Z'))
        ));
        if signal == "-INT" {
            tensorboard_is_one_run(&s, &lines);
        }
    }
}

/// TensorBoard's reader sees one run: training's scalars once per logged step (the resumed
/// process's START dropped what the interrupted one logged past it) at their token counts, equal
/// to metrics.jsonl, and BLiMP's accuracy at each evaluated checkpoint's tokens.
fn tensorboard_is_one_run(s: &Scratch, lines: &[serde_json::Value]) {
    let (ok, out, err) = run(s
        .lmeff()
        .arg("--blimp-dir")
        .arg(common::shared_data().join("blimp"))
        .args([
            "eval",
            "blimp",
            "--run",
            RUN_DIR,
            "--paradigms",
            "anaphor_gender_agreement",
            "--format",
            "json",
        ]));
    assert!(ok, "{err}");
    let evaluated: serde_json::Value = serde_json::from_str(&out).unwrap();
    let evaluated = evaluated.as_array().unwrap();
    assert_eq!(evaluated.len(), 3, "{out}");
    assert!(evaluated
        .iter()
        .all(|e| e["accuracy"].is_number() && e["up_to_date"] == false));
    let out = Command::new(python())
        .arg(common::repo().join("tests/python/tensorboard_check.py"))
        .arg(s.path().join(RUN_DIR))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tags: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let points = |tag: &str| -> Vec<(u64, f64)> {
        tags[tag]
            .as_array()
            .unwrap_or_else(|| panic!("no {tag} in {tags}"))
            .iter()
            .map(|p| (p[0].as_u64().unwrap(), p[1].as_f64().unwrap()))
            .collect()
    };
    let want: Vec<(u64, f64)> = lines
        .iter()
        .filter(|l| l["loss"].is_number())
        .map(|l| (l["tokens"].as_u64().unwrap(), l["loss"].as_f64().unwrap()))
        .collect();
    let got = points("train/loss");
    assert_eq!(got.len(), want.len(), "{got:?}\n{want:?}");
    for ((gs, gv), (ws, wv)) in got.iter().zip(&want) {
        assert_eq!(gs, ws);
        assert!((gv - wv).abs() < 1e-5 * wv.abs(), "{gv} vs {wv}");
    }
    for tag in [
        "train/lr",
        "train/grad_norm",
        "train/tokens_per_s",
        "eval/loss",
    ] {
        assert!(!points(tag).is_empty(), "{tag}");
    }
    // The milestones at 0.01M and 0.02M (steps 20 and 40 of 512 tokens) and the final (step 59).
    let mut blimp = points("blimp/accuracy");
    blimp.sort_by_key(|p| p.0);
    let steps: Vec<u64> = blimp.iter().map(|p| p.0).collect();
    assert_eq!(steps, [10_240, 20_480, 30_208], "{blimp:?}");
    assert!(blimp.iter().all(|p| (0.0..=1.0).contains(&p.1)));
}

#[test]
fn a_corrupt_resume_state_is_refused_clearly() {
    let s = Scratch::new();
    let status = interrupt(&s, "-KILL", |s| resume_step(s).is_some());
    assert!(!status.success());
    let resume = s.path().join(RUN_DIR).join("resume");
    let _ = std::fs::remove_dir_all(s.path().join(RUN_DIR).join("resume.prev"));
    std::fs::write(resume.join("model.safetensors"), b"garbage").unwrap();
    let (ok, _, err) = run(&mut train_cmd(&s, data_dir()));
    assert!(!ok);
    assert!(
        err.contains("checksum mismatch") && err.contains("no usable resume state"),
        "{err}"
    );
    assert!(!s.path().join(RUN_DIR).join("final").exists());
}

#[test]
fn bad_input_is_a_clear_error() {
    let s = Scratch::new();
    // Unknown run id in configs.csv.
    let csv = s.write(
        "configs.csv",
        "model_config,dataset,epochs,batch_size,grad_accum,seq_length,anchors,tokenizer_vocab_size\ntiny,tinystories,1,8,1,64,\"[0.03]\",1000\n",
    );
    let planned = |s: &Scratch| {
        let mut cmd = s.lmeff();
        cmd.env("LMEFF_VOCAB_SIZES", "[1000]")
            .args(["train", "--configs"])
            .arg(&csv)
            .args(["--seeds", "0"]);
        cmd
    };
    let (ok, _, err) = run(planned(&s).args(["--run-id", "nope"]));
    assert!(!ok);
    assert!(err.contains("no run nope in the plan"), "{err}");
    let (ok, _, err) = run(planned(&s).args(["--task-index", "5"]));
    assert!(!ok);
    assert!(
        err.contains("task index 5 is out of range: the plan has 1 runs"),
        "{err}"
    );

    // Missing token files.
    let data = s.path().join("data");
    copy_tree(data_dir(), &data);
    std::fs::remove_dir_all(data.join("tinystories/tokens")).unwrap();
    let (ok, _, err) = run(&mut train_cmd(&s, &data));
    assert!(!ok);
    assert!(
        err.contains("train.bin not found")
            && err.contains("lmeff data prepare --dataset tinystories --vocab-sizes 1000"),
        "{err}"
    );

    // Token file made by another tokenizer / with another vocabulary.
    copy_tree(
        &data_dir().join("tinystories/tokens"),
        &data.join("tinystories/tokens"),
    );
    let header = data.join("tinystories/tokens/1000/train.json");
    let mut h: serde_json::Value = serde_json::from_slice(&read(&header)).unwrap();
    h["vocab_size"] = 2000.into();
    std::fs::write(&header, h.to_string()).unwrap();
    let (ok, _, err) = run(&mut train_cmd(&s, &data));
    assert!(!ok);
    assert!(
        err.contains("encoded with a vocabulary of 2000 tokens"),
        "{err}"
    );
    h["vocab_size"] = 1000.into();
    h["tokenizer_sha256"] = "0".repeat(64).into();
    std::fs::write(&header, h.to_string()).unwrap();
    let (ok, _, err) = run(&mut train_cmd(&s, &data));
    assert!(!ok);
    assert!(err.contains("tokenizer"), "{err}");

    // A diverging run stops with a clear error instead of saving NaN weights.
    let nan = Scratch::new();
    let (ok, _, err) = run(train_cmd(&nan, data_dir()).args(["--lr", "1e30"]));
    assert!(!ok);
    assert!(
        err.contains("loss is not finite")
            || err.contains("training loss is NaN")
            || err.contains("training loss is inf"),
        "{err}"
    );
    assert!(!nan.path().join(RUN_DIR).join("final").exists());

    // An output folder holding a finished, different run.
    let done = Scratch::new();
    copy_tree(
        &reference().path().join("output"),
        &done.path().join("output"),
    );
    let (ok, _, err) = run(train_cmd(&done, data_dir()).args(["--lr", "0.01"]));
    assert!(!ok);
    assert!(
        err.contains("trained with a different configuration"),
        "{err}"
    );
}

#[test]
fn a_full_run_stops_early_and_its_final_is_the_best_evaluation() {
    let s = Scratch::new();
    // Early stopping from 0.01M tokens (step 20), patience 2 evaluations, and an improvement must
    // exceed 5 nats (none will): evaluations at 20, 40, 60 → stop at 60, long before --max-steps 400.
    let (ok, _, err) = run(s
        .lmeff()
        .env("LMEFF_MILESTONES", "[0.01]")
        .env("LMEFF_TRAIN__EVAL_TOKENS", "2000")
        .env("LMEFF_TRAIN__EARLY_STOPPING_AFTER", "0.01")
        .env("LMEFF_TRAIN__EARLY_STOPPING_PATIENCE", "2")
        .env("LMEFF_TRAIN__EARLY_STOPPING_THRESHOLD", "5.0")
        .arg("--data-dir")
        .arg(data_dir())
        .args([
            "train",
            "--dataset",
            "tinystories",
            "--model",
            "tiny",
            "--vocab",
            "1000",
        ])
        .args([
            "--seq-len",
            "64",
            "--anchor",
            "-1",
            "--seed",
            "1",
            "--max-steps",
            "400",
        ]));
    assert!(ok, "{err}");
    assert!(err.contains("early stopping"), "{err}");
    let dir = s
        .path()
        .join("output/models/tinystories/llama-tiny/tokenizer-1000-seed-1");
    let evals: Vec<(u64, f64)> = std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|r| Some((r["step"].as_u64()?, r["eval_loss"].as_f64()?)))
        .collect();
    assert_eq!(evals.iter().map(|e| e.0).collect::<Vec<_>>(), [20, 40, 60]);
    let best = evals
        .iter()
        .cloned()
        .fold((0, f64::INFINITY), |b, e| if e.1 < b.1 { e } else { b });
    let meta: serde_json::Value =
        serde_json::from_slice(&read(dir.join("final/milestone_meta.json"))).unwrap();
    assert_eq!(meta["step"], best.0);
    assert!(
        (meta["eval_loss"].as_f64().unwrap() - best.1).abs() < 1e-12,
        "{meta} vs {best:?}"
    );
    assert!(dir.join("milestone-0.01M/model.safetensors").is_file());
}

#[test]
fn init_only_writes_the_seeded_initialisation() {
    let a = Scratch::new();
    let b = Scratch::new();
    for s in [&a, &b] {
        let (ok, out, err) = run(train_cmd(s, data_dir()).arg("--init-only"));
        assert!(ok && out.contains("initial weights"), "{err}");
    }
    let init = |s: &Scratch| read(s.path().join(RUN_DIR).join("init/model.safetensors"));
    assert_eq!(
        init(&a),
        init(&b),
        "the same seed gives the same initial weights"
    );
    let tensors =
        lmeff::model::weights::load(&a.path().join(RUN_DIR).join("init/model.safetensors"))
            .unwrap();
    let embed = &tensors["model.embed_tokens.weight"];
    assert_eq!(embed.size(), [1000, 64]);
    let std = embed.narrow(0, 1, 999).std(true).double_value(&[]);
    assert!((std - 0.02).abs() < 0.002, "init std {std}");
    assert_eq!(
        tensors["model.norm.weight"]
            .sum(tch::Kind::Float)
            .double_value(&[]),
        64.0
    );
}

/// (step, loss) of every logged training step of a run's metrics.
fn logged_losses(m: Vec<serde_json::Value>) -> Vec<(u64, f64)> {
    m.iter()
        .filter_map(|r| Some((r["step"].as_u64()?, r["loss"].as_f64()?)))
        .collect()
}

/// `train.max_micro_batch = 3` cuts the run's micro-batches of 8 into 4 passes of 2 over the same
/// windows: every logged loss equals the reference run's up to float order. `--profile` records
/// two steps after a warm-up step into a Chrome trace of the trainer's operators.
#[test]
fn smaller_micro_batches_train_the_same_run_and_profiles_are_traces() {
    let s = Scratch::new();
    let prof = s.path().join("prof");
    let (ok, _, err) = run(train_cmd(&s, data_dir())
        .env("LMEFF_TRAIN__MAX_MICRO_BATCH", "3")
        .arg("--profile")
        .arg(&prof)
        .args(["--profile-steps", "2"]));
    assert!(ok, "{err}");
    assert!(err.contains("cut in 4"), "{err}");
    let (cut, whole) = (
        logged_losses(metrics(&s)),
        logged_losses(metrics(reference())),
    );
    assert_eq!(cut.len(), whole.len());
    assert!(cut.len() > 5);
    for ((step, a), (_, b)) in cut.iter().zip(&whole) {
        assert!((a - b).abs() < 1e-4 * b.abs(), "step {step}: {a} vs {b}");
    }
    let trace = prof.join("trace-rank0-steps-2-3.json");
    let json: serde_json::Value = serde_json::from_slice(&read(&trace)).unwrap();
    let events = json["traceEvents"].as_array().unwrap();
    for op in [
        "aten::embedding",
        "aten::scaled_dot_product_attention",
        "aten::_fused_adamw_",
    ] {
        assert!(
            events.iter().any(|e| e["name"] == op),
            "{op} missing from {}",
            trace.display()
        );
    }
}

/// `train.kernels = "fused"` trains the reference run through the shim's fused ops (on the CPU,
/// ATen computing each kernel step): every logged loss equals the ATen run's up to float order.
#[test]
fn fused_kernels_train_the_same_run() {
    let s = Scratch::new();
    let (ok, _, err) = run(train_cmd(&s, data_dir()).env("LMEFF_TRAIN__KERNELS", "fused"));
    assert!(ok, "{err}");
    assert!(err.contains("through the fused ops"), "{err}");
    let (fused, aten) = (
        logged_losses(metrics(&s)),
        logged_losses(metrics(reference())),
    );
    assert_eq!(fused.len(), aten.len());
    assert!(fused.len() > 5);
    for ((step, a), (_, b)) in fused.iter().zip(&aten) {
        assert!((a - b).abs() < 1e-3 * b.abs(), "step {step}: {a} vs {b}");
    }
}
