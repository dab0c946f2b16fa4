//! The compiled kernels (`manifest.json` and the cubins `env/kernels/liger.py compile` writes):
//! which one a planned [`Launch`] needs on a GPU, and the parameters the driver is handed for it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;

use super::{Arg, Launch};

/// One compiled specialisation of a kernel.
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    pub op: String,
    pub kernel: String,
    pub id: String,
    pub params: Vec<Param>,
    pub constexprs: BTreeMap<String, Value>,
    pub num_warps: u32,
    pub targets: BTreeMap<String, Target>,
}

/// A kernel parameter: its name and Triton type (`*bf16`, `i32`, `fp32`, …, or `constexpr`).
#[derive(Debug, Clone, Deserialize)]
pub struct Param {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

/// The cubin of one entry for one GPU architecture.
#[derive(Debug, Clone, Deserialize)]
pub struct Target {
    pub cubin: PathBuf,
    pub function: String,
    pub shared: u32,
    pub num_warps: u32,
    /// The parameters the compiled kernel takes in all (its PTX entry's).
    pub kernel_params: usize,
    pub global_scratch_size: u64,
    pub profile_scratch_size: u64,
}

/// A launch parameter as the driver takes it (constexprs are compiled in, not passed). Triton's
/// two scratch pointers follow the last one ([`SCRATCH_POINTERS`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KernelValue {
    /// A device pointer, bound to the tensor of this role at launch.
    Pointer(&'static str),
    I32(i32),
    I64(i64),
    F32(f32),
    I1(bool),
}

/// The pointers Triton appends to every kernel's parameters: global and profile scratch.
pub const SCRATCH_POINTERS: usize = 2;

#[derive(Debug, Deserialize)]
struct File {
    liger_kernel: String,
    kernels: Vec<Entry>,
}

/// The compiled kernels of one folder.
#[derive(Debug)]
pub struct Manifest {
    pub dir: PathBuf,
    pub liger_kernel: String,
    pub kernels: Vec<Entry>,
}

/// The cubin architecture for a device of compute capability `major.minor`: sm_80 code runs on
/// every 8.x device, sm_90 on 9.0.
pub fn arch_for((major, minor): (u32, u32)) -> Option<&'static str> {
    match (major, minor) {
        (8, _) => Some("sm_80"),
        (9, 0) => Some("sm_90"),
        _ => None,
    }
}

impl Manifest {
    /// Reads `dir/manifest.json`.
    pub fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join("manifest.json");
        let text = fs_err::read_to_string(&path)
            .map_err(|e| anyhow!("{e} (build the kernels: env/kernels/liger.py compile)"))?;
        let file: File =
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        Ok(Manifest {
            dir: dir.to_path_buf(),
            liger_kernel: file.liger_kernel,
            kernels: file.kernels,
        })
    }

    /// The compiled kernel `launch` needs on `arch`, and the values it is passed in order: the
    /// same kernel with the same constexprs, the launch's other arguments matching its parameters
    /// name for name and type for type.
    pub fn find(&self, launch: &Launch, arch: &str) -> Result<(&Entry, &Target, Vec<KernelValue>)> {
        let mut tried = 0;
        for e in self.kernels.iter().filter(|e| e.kernel == launch.kernel) {
            tried += 1;
            if e.num_warps != launch.num_warps || !constexprs_match(e, launch) {
                continue;
            }
            let target = e.targets.get(arch).ok_or_else(|| {
                anyhow!(
                    "{}: {} is not compiled for {arch}",
                    self.dir.display(),
                    e.id
                )
            })?;
            let values = values(e, launch)?;
            if values.len() + SCRATCH_POINTERS != target.kernel_params {
                bail!(
                    "{}: {} takes {} parameters, the launch would pass {} and {SCRATCH_POINTERS} scratch pointers",
                    self.dir.display(),
                    e.id,
                    target.kernel_params,
                    values.len()
                );
            }
            return Ok((e, target, values));
        }
        bail!(
            "{}: no compiled {} for {} ({tried} specialisations of it there); compile the kernels for this model and vocabulary",
            self.dir.display(),
            launch.kernel,
            constexpr_text(launch)
        )
    }
}

fn as_json(arg: &Arg) -> Value {
    match arg {
        Arg::Tensor(_) => Value::Null,
        Arg::Int(i) => Value::from(*i),
        Arg::Float(f) => Value::from(*f),
        Arg::Bool(b) => Value::from(*b),
        Arg::Str(s) => Value::from(*s),
        Arg::None => Value::Null,
        Arg::Dtype(d) => serde_json::json!({ "triton_dtype": d }),
    }
}

fn constexprs_match(e: &Entry, launch: &Launch) -> bool {
    e.constexprs
        .iter()
        .all(|(name, want)| launch.arg(name).is_some_and(|a| same(&as_json(a), want)))
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn constexpr_text(launch: &Launch) -> String {
    let names = ["n_cols", "BLOCK_SIZE", "hd", "n_qh", "bs", "X_dtype"];
    let parts: Vec<String> = launch
        .args
        .iter()
        .filter(|(n, _)| names.contains(n))
        .map(|(n, a)| format!("{n} = {}", as_json(a)))
        .collect();
    parts.join(", ")
}

/// The launch's values for the entry's passed parameters, in order.
fn values(e: &Entry, launch: &Launch) -> Result<Vec<KernelValue>> {
    let passed: Vec<&Param> = e.params.iter().filter(|p| p.ty != "constexpr").collect();
    let mut out = Vec::with_capacity(passed.len());
    for p in passed {
        let arg = launch
            .arg(&p.name)
            .ok_or_else(|| anyhow!("{}: the launch has no argument {}", e.id, p.name))?;
        let v = match (p.ty.as_str(), arg) {
            (t, Arg::Tensor(role)) if t.starts_with('*') => KernelValue::Pointer(role),
            ("i32", Arg::Int(i)) => KernelValue::I32(
                i32::try_from(*i)
                    .map_err(|_| anyhow!("{}: {} = {i} overflows i32", e.id, p.name))?,
            ),
            ("i64", Arg::Int(i)) => KernelValue::I64(*i),
            ("fp32", Arg::Float(f)) => KernelValue::F32(*f as f32),
            ("i1", Arg::Bool(b)) => KernelValue::I1(*b),
            (t, a) => bail!(
                "{}: parameter {} is {t}, the launch gives {a:?}",
                e.id,
                p.name
            ),
        };
        out.push(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let entry = serde_json::json!({
            "op": "swiglu", "kernel": "_swiglu_forward_kernel", "id": "_swiglu_forward_kernel-x",
            "params": [
                {"name": "a_ptr", "type": "*bf16"}, {"name": "b_ptr", "type": "*bf16"},
                {"name": "c_ptr", "type": "*bf16"}, {"name": "stride", "type": "i32"},
                {"name": "gate_multiplier", "type": "fp32"},
                {"name": "n_cols", "type": "constexpr"}, {"name": "BLOCK_SIZE", "type": "constexpr"}],
            "constexprs": {"n_cols": 1792, "BLOCK_SIZE": 2048}, "num_warps": 8,
            "targets": {"sm_80": {"cubin": "sm_80/a.cubin", "function": "_swiglu_forward_kernel",
                "shared": 0, "num_warps": 8, "kernel_params": 7, "global_scratch_size": 0,
                "profile_scratch_size": 0}}
        });
        Manifest {
            dir: "k".into(),
            liger_kernel: "0.8.5".into(),
            kernels: vec![serde_json::from_value(entry).unwrap()],
        }
    }

    #[test]
    fn launches_find_their_specialisation_and_pass_their_values_in_order() {
        let m = manifest();
        let (e, t, values) = m
            .find(&super::super::swiglu_forward(4096, 1792), "sm_80")
            .unwrap();
        assert_eq!((e.id.as_str(), t.shared), ("_swiglu_forward_kernel-x", 0));
        assert_eq!(
            values,
            [
                KernelValue::Pointer("gate"),
                KernelValue::Pointer("up"),
                KernelValue::Pointer("out"),
                KernelValue::I32(1792),
                KernelValue::F32(1.0)
            ]
        );
        let e = m
            .find(&super::super::swiglu_forward(4096, 1024), "sm_80")
            .unwrap_err();
        assert!(e.to_string().contains("n_cols = 1024"), "{e}");
        let e = m
            .find(&super::super::swiglu_forward(4096, 1792), "sm_90")
            .unwrap_err();
        assert!(e.to_string().contains("not compiled for sm_90"), "{e}");
        assert_eq!(arch_for((8, 6)), Some("sm_80"));
        assert_eq!(arch_for((9, 0)), Some("sm_90"));
        assert_eq!(arch_for((7, 0)), None);
    }
}
