//! Builds the small C++ shim (`src/shim/aten_shim.cpp`) against the libtorch that tch links, found
//! through `LIBTORCH` (set by `env/lmeff.env`); nothing to do without the `torch` feature.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/shim/aten_shim.cpp");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_none() {
        return; // the build without libtorch has no shim to compile
    }
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let libtorch = PathBuf::from(
        std::env::var("LIBTORCH").expect("LIBTORCH must point at libtorch: source env/lmeff.env"),
    );
    cc::Build::new()
        .cpp(true)
        .file("src/shim/aten_shim.cpp")
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
