//! End-to-end: Liger-Kernel's fused Triton kernels without a GPU. Under Triton's interpreter each
//! op's forward and backward matches ATen; every kernel lmeff's presets need compiles for sm_80
//! and sm_90 with the torch wheel's Triton; and every launch lmeff plans (`model::kernels`) passes
//! what Liger's own launcher passed (kernel, grid, warps, each argument in order).

use std::path::Path;
use std::process::Command;

use lmeff::config::Presets;
use lmeff::model::kernels::manifest::Manifest;
use lmeff::model::kernels::{self, Arg, Launch, RMS_NORM_ROWS_PER_PROGRAM};
use serde_json::Value;

use crate::common::{python, repo, run, Scratch};

fn liger(args: &[&Path]) -> (bool, String) {
    let o = Command::new(python())
        .arg(repo().join("env/kernels/liger.py"))
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    (o.status.success(), text)
}

/// lmeff's plan of the launch Liger recorded, from the op and shape it was recorded at.
fn plan(launch: &Value) -> Launch {
    let (op, kernel, p, s) = (
        launch["op"].as_str().unwrap(),
        launch["kernel"].as_str().unwrap(),
        &launch["params"],
        &launch["shape"],
    );
    let n = |v: &Value| v.as_u64().unwrap();
    let shape =
        |name: &str| -> Vec<u64> { p[name]["shape"].as_array().unwrap().iter().map(n).collect() };
    match (op, kernel) {
        ("swiglu", "_swiglu_forward_kernel") => {
            kernels::swiglu_forward(n(&launch["grid"][0]), n(&p["n_cols"]))
        }
        ("swiglu", "_swiglu_backward_kernel") => {
            kernels::swiglu_backward(n(&launch["grid"][0]), n(&p["n_cols"]))
        }
        ("add_rms_norm", "_fused_add_rms_norm_forward_kernel") => {
            let x = shape("X_ptr");
            kernels::add_rms_norm_forward(x[0], x[1], p["eps"].as_f64().unwrap())
        }
        ("add_rms_norm", "_fused_add_rms_norm_backward_kernel") => {
            let dtype = match p["X_dtype"]["triton_dtype"].as_str().unwrap() {
                "bf16" => "bf16",
                "fp32" => "fp32",
                other => panic!("activations in {other}"),
            };
            let per_program = n(&p["rows_per_program"]);
            kernels::add_rms_norm_backward(n(&p["n_rows"]), n(&p["n_cols"]), per_program, dtype)
        }
        ("rope", "_triton_rope") => {
            let q = shape("q_ptr");
            kernels::rope(
                q[0],
                q[1],
                q[2],
                q[3],
                p["BACKWARD_PASS"].as_bool().unwrap(),
            )
        }
        ("linear_cross_entropy", "liger_cross_entropy_kernel") => {
            let chunks =
                kernels::linear_cross_entropy(n(&s["rows"]), n(&s["hidden"]), n(&s["vocab"]));
            let rows = n(&launch["grid"][0]);
            chunks.into_iter().find(|c| c.0 .1 == rows).unwrap().1
        }
        other => panic!("no plan for {other:?}"),
    }
}

/// Whether lmeff's argument passes what Liger passed.
fn same(ours: &Arg, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Arg::Tensor(role), Value::Object(t)) if t.contains_key("tensor") => {
            t["tensor"] == "scratch" || t["tensor"] == *role
        }
        (Arg::Dtype(d), Value::Object(t)) => t["triton_dtype"] == *d,
        (Arg::None, Value::Null) => true,
        (Arg::Int(i), Value::Number(x)) => x.as_i64() == Some(*i),
        (Arg::Float(f), Value::Number(x)) => {
            (x.as_f64().unwrap() - f).abs() <= 1e-12 * f.abs().max(1.0)
        }
        (Arg::Bool(b), Value::Bool(x)) => b == x,
        (Arg::Str(s), Value::String(x)) => s == x,
        _ => false,
    }
}

fn holds_every_launch(file: &Path) -> usize {
    let launches: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let launches = launches["launches"].as_array().unwrap();
    for l in launches {
        let ours = plan(l);
        let what = format!("{} {} at {}", l["op"], l["kernel"], l["shape"]);
        assert_eq!(ours.kernel, l["kernel"], "{what}");
        let grid: Vec<u64> = l["grid"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_u64().unwrap())
            .collect();
        assert_eq!(ours.grid.to_vec(), grid, "{what}: grid");
        assert_eq!(
            u64::from(ours.num_warps),
            l["num_warps"].as_u64().unwrap(),
            "{what}: warps"
        );
        let theirs = l["params"].as_object().unwrap();
        let names: Vec<&str> = l["order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        let our_names: Vec<&str> = ours.args.iter().map(|(n, _)| *n).collect();
        assert_eq!(our_names, names, "{what}: parameters");
        for (name, arg) in &ours.args {
            assert!(
                same(arg, &theirs[*name]),
                "{what}: {name} = {arg:?}, Liger passed {}",
                theirs[*name]
            );
        }
    }
    launches.len()
}

#[test]
fn liger_kernels_match_aten_compile_for_sm80_and_sm90_and_launch_as_liger_does() {
    let tmp = tempfile::tempdir().unwrap();
    let small = tmp.path().join("small.json");
    let (ok, out) = liger(&[Path::new("check"), &small]);
    assert!(ok, "{out}");
    for op in ["swiglu", "add_rms_norm", "rope", "linear_cross_entropy"] {
        assert!(
            out.lines().any(|l| l.contains(op) && l.ends_with(" ok")),
            "{op} not checked against ATen:\n{out}"
        );
    }
    assert!(holds_every_launch(&small) >= 8);

    let presets = tmp.path().join("presets.json");
    let (ok, out) = liger(&[Path::new("check"), &presets, Path::new("presets")]);
    assert!(ok, "{out}");
    // Per preset: SwiGLU, RoPE and RMSNorm forward and backward, two chunks of cross-entropy at
    // each of four vocabularies.
    assert!(holds_every_launch(&presets) >= 4 * 14);

    let dir = tmp.path().join("kernels");
    let (ok, out) = liger(&[Path::new("compile"), &presets, &dir]);
    assert!(ok, "{out}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let entries = manifest["kernels"].as_array().unwrap();
    for kernel in [
        "_swiglu_forward_kernel",
        "_swiglu_backward_kernel",
        "_fused_add_rms_norm_forward_kernel",
        "_fused_add_rms_norm_backward_kernel",
        "_triton_rope",
        "liger_cross_entropy_kernel",
    ] {
        assert!(
            entries.iter().any(|e| e["kernel"] == kernel),
            "{kernel} not compiled"
        );
    }
    for e in entries {
        for sm in ["sm_80", "sm_90"] {
            let t = &e["targets"][sm];
            let cubin = std::fs::read(dir.join(t["cubin"].as_str().unwrap())).unwrap();
            // An ELF object for EM_CUDA (190).
            assert_eq!(&cubin[..4], b"\x7fELF", "{} {sm}", e["id"]);
            assert_eq!(
                u16::from_le_bytes([cubin[18], cubin[19]]),
                190,
                "{} {sm}",
                e["id"]
            );
            // Its parameters and Triton's two scratch pointers, these without memory (null).
            let passed = e["params"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["type"] != "constexpr")
                .count();
            assert_eq!(t["kernel_params"], passed + 2, "{} {sm}", e["id"]);
            assert_eq!(t["global_scratch_size"], 0, "{} {sm}", e["id"]);
            assert_eq!(t["profile_scratch_size"], 0, "{} {sm}", e["id"]);
        }
    }

    // Every launch a training step of every preset makes (at its own micro-batch) finds its
    // compiled kernel on both architectures, with values of the right types.
    let manifest = Manifest::load(&dir).unwrap();
    let presets = Presets::load(&repo().join("configs/models")).unwrap();
    for name in ["tiny", "20m", "60m", "180m"] {
        let p = presets.get(name).unwrap();
        let (m, t) = (&p.model, &p.training);
        let tokens = u64::from(t.batch_size) * 256;
        let (h, i, heads) = (
            m.hidden_size as u64,
            m.intermediate_size as u64,
            m.num_attention_heads as u64,
        );
        for vocab in [1000, 8000, 16000, 32000] {
            let mut launches = vec![
                kernels::swiglu_forward(tokens, i),
                kernels::swiglu_backward(tokens, i),
                kernels::add_rms_norm_forward(tokens, h, 1e-6),
                kernels::add_rms_norm_backward(tokens, h, RMS_NORM_ROWS_PER_PROGRAM, "bf16"),
                kernels::rope_tokens(tokens, heads, h / heads, false),
                kernels::rope_tokens(tokens, heads, h / heads, true),
            ];
            launches.extend(
                kernels::linear_cross_entropy(tokens, h, vocab)
                    .into_iter()
                    .map(|c| c.1),
            );
            for l in &launches {
                for arch in ["sm_80", "sm_90"] {
                    if let Err(e) = manifest.find(l, arch) {
                        panic!("{name} at vocab {vocab} on {arch}: {e}");
                    }
                }
            }
        }
    }

    // On the CPU, `doctor --kernels` says the kernels need CUDA, and fails.
    let (ok, _, err) = run(Scratch::new()
        .lmeff()
        .args(["doctor", "--steps", "1", "--kernels"])
        .arg(&dir));
    assert!(!ok && err.contains("fused kernels run on CUDA"), "{err}");
}
