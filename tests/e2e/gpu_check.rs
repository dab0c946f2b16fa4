//! End-to-end: `make gpu-pack` and `make gpu-check` rehearsed on this CPU. The pack holds the
//! binary and its data under the size limit, and is never left half-built; the check runs every
//! step's real command line against the packed binary (the tiny model on the CPU) and passes, so
//! the one GPU call cannot be lost to a wrong flag or a missing file.

use std::path::Path;
use std::process::Command;

use crate::common::{python, repo, shared_data};

fn pack(dir: &Path, limit_mb: &str) -> std::process::Output {
    Command::new("bash")
        .arg(repo().join("env/gpu-pack.sh"))
        .env("GPU_PACK_BIN", env!("CARGO_BIN_EXE_lmeff"))
        .env("GPU_PACK_DIR", dir)
        .env("GPU_PACK_LIMIT_MB", limit_mb)
        // The kernels test compiles them; here the check says they are not in the pack.
        .env("GPU_PACK_KERNELS", "0")
        .env("LMEFF_SHARED", shared_data().parent().unwrap())
        .env("PYTHON", python())
        .output()
        .unwrap()
}

fn check(pack: &Path, out: &Path) -> (bool, String) {
    let o = Command::new("bash")
        .arg(repo().join("env/gpu-check.sh"))
        .env("GPU_CHECK_REHEARSAL", "1")
        .env("GPU_PACK", pack)
        .env("OUT", out)
        .env("TORCH_VENV", python().parent().unwrap().parent().unwrap())
        .output()
        .unwrap();
    let summary = std::fs::read_to_string(out.join("summary.txt")).unwrap_or_default();
    (o.status.success(), summary)
}

#[test]
fn the_gpu_pack_and_check_rehearse_every_step_on_the_cpu() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pack");
    let o = pack(&dir, "60");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let manifest = std::fs::read_to_string(dir.join("MANIFEST")).unwrap();
    for file in [
        "./bin/lmeff",
        "./data/blimp/anaphor_gender_agreement.jsonl",
        "./data/glue/sst2/train.jsonl",
        "./data/tinystories/tokenizers/tokenizer_16000.json",
        "./bench/hf_train_bench.py",
    ] {
        assert!(manifest.contains(file), "{file} not packed:\n{manifest}");
    }

    // Over the limit: refused, the pack already there untouched, nothing half-built beside it.
    let o = pack(&dir, "1");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("over 1 MB"));
    assert_eq!(
        std::fs::read_to_string(dir.join("MANIFEST")).unwrap(),
        manifest
    );
    assert!(!tmp.path().join("pack.partial").exists());

    let out = tmp.path().join("out");
    let (ok, summary) = check(&dir, &out);
    assert!(ok, "{summary}");
    for name in [
        "ldd",
        "doctor",
        "step-bf16",
        "step-fp32",
        "tok-tiny",
        "vocab32k",
        "vocab32k-cut",
        "aten-200",
        "fused-200",
        "fused-tiny",
        "nccl-1rank",
        "init-equal",
        "train",
        "train-final",
        "blimp-fp32-cpu",
        "blimp-fp32-dev",
        "blimp-bf16-dev",
        "glue",
    ] {
        let line = summary
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name));
        assert!(
            line.is_some_and(|l| l.split_whitespace().nth(1) == Some("pass")),
            "{name} did not pass:\n{summary}"
        );
    }
    assert!(
        summary.contains("hf-baseline            SKIPPED"),
        "{summary}"
    );
    assert!(summary.contains("decisions equal 3000/3000"), "{summary}");
    // The fused steps' figures: 20 steps each way (200 on a GPU), then tokens/s beside ATen's.
    assert!(summary.contains("20 steps, mean loss: aten"), "{summary}");
    assert!(summary.contains("lmeff fused tiny:"), "{summary}");
    assert!(
        out.join("profile").read_dir().unwrap().count() == 1,
        "no profile trace"
    );

    // A machine without the pack: stopped at once, saying why, non-zero.
    let (ok, summary) = check(&tmp.path().join("nothing"), &tmp.path().join("out2"));
    assert!(!ok);
    assert!(
        summary.contains("ABORTED") && summary.contains("cannot start"),
        "{summary}"
    );
}
