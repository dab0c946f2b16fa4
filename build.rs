//! Records the build's provenance for `lmeff --version` (git commit, build date, libtorch's version,
//! features), and builds the small C++ shim (`src/shim/aten_shim.cpp`, `src/shim/fused_ops.cpp`) against the libtorch that
//! tch links, found through `LIBTORCH` (set by `env/lmeff.env`); no shim without `torch`.
use std::path::PathBuf;
use std::process::Command;

/// A command's trimmed output, when it ran and succeeded.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let o = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    (o.status.success() && !text.is_empty()).then_some(text)
}

/// The values go to rustc as `BUILD_LMEFF_*` (cargo also sets them for `cargo test` runs, where an
/// `LMEFF_` name would be refused as an unknown setting).
fn provenance(torch: bool) {
    // A path that does not exist would rerun this script (and the shim's build) on every build.
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let commit = output("git", &["rev-parse", "--short=12", "HEAD"]).unwrap_or("unknown".into());
    let date = output("date", &["-u", "+%Y-%m-%d"]).unwrap_or("unknown".into());
    let libtorch = match torch {
        false => "none (the build without libtorch)".to_owned(),
        true => std::env::var("LIBTORCH")
            .ok()
            .and_then(|dir| std::fs::read_to_string(PathBuf::from(dir).join("version.py")).ok())
            .and_then(|text| {
                let line = text.lines().find(|l| l.starts_with("__version__"))?;
                Some(line.split('\'').nth(1)?.to_owned())
            })
            .unwrap_or("unknown".into()),
    };
    let mut features: Vec<&str> = Vec::new();
    for (var, name) in [
        ("CARGO_FEATURE_TORCH", "torch"),
        ("CARGO_FEATURE_MPI", "mpi"),
    ] {
        if std::env::var_os(var).is_some() {
            features.push(name);
        }
    }
    println!("cargo:rustc-env=BUILD_LMEFF_COMMIT={commit}");
    println!("cargo:rustc-env=BUILD_LMEFF_DATE={date}");
    println!("cargo:rustc-env=BUILD_LMEFF_LIBTORCH={libtorch}");
    let features = match features.is_empty() {
        true => "none".to_owned(),
        false => features.join(","),
    };
    println!("cargo:rustc-env=BUILD_LMEFF_FEATURES={features}");
}

fn main() {
    println!("cargo:rerun-if-changed=src/shim/aten_shim.cpp");
    println!("cargo:rerun-if-changed=src/shim/fused_ops.cpp");
    println!("cargo:rerun-if-changed=src/shim/guarded.h");
    let torch = std::env::var_os("CARGO_FEATURE_TORCH").is_some();
    provenance(torch);
    if !torch {
        return; // the build without libtorch has no shim to compile
    }
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let libtorch = PathBuf::from(
        std::env::var("LIBTORCH").expect("LIBTORCH must point at libtorch: source env/lmeff.env"),
    );
    cc::Build::new()
        .cpp(true)
        .file("src/shim/aten_shim.cpp")
        .file("src/shim/fused_ops.cpp")
        .include(libtorch.join("include"))
        .include(libtorch.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag_if_supported("-Wno-unused-parameter")
        .warnings(false)
        .compile("lmeff_aten_shim");
    println!(
        "cargo:rustc-link-search=native={}",
        libtorch.join("lib").display()
    );
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}
