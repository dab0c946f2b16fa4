//! The launcher of the shim's fused ops on CUDA (`train.kernels = "fused"`): each kernel step the
//! C++ autograd functions take is planned here as Liger's launcher plans it ([`step_launch`]),
//! matched once per shape to its compiled kernel, and launched on torch's current stream.

use std::collections::HashMap;
use std::ffi::{c_char, c_void, CString};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{anyhow, bail, Result};
use cudarc::driver::sys;

use super::cuda::{LoadedKernels, Prepared};
use super::manifest::Manifest;
use super::{
    add_rms_norm_backward, add_rms_norm_forward, cross_entropy_step, rope_tokens, swiglu_backward,
    swiglu_forward, Launch, RMS_NORM_ROWS_PER_PROGRAM,
};

/// A kernel step of the shim's fused ops (`Step` in `src/shim/fused_ops.cpp`, same numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    SwigluForward = 0,
    SwigluBackward = 1,
    AddRmsForward = 2,
    AddRmsBackward = 3,
    Rope = 4,
    CrossEntropy = 5,
}

impl Step {
    fn from_raw(step: i32) -> Result<Step> {
        use Step::*;
        Ok(match step {
            0 => SwigluForward,
            1 => SwigluBackward,
            2 => AddRmsForward,
            3 => AddRmsBackward,
            4 => Rope,
            5 => CrossEntropy,
            _ => bail!("the shim asked for kernel step {step}, which lmeff does not know"),
        })
    }
}

/// The launch of `step` at `dims` (and RMSNorm's `eps`) and the roles of the tensors the shim
/// passes, in its order.
pub fn step_launch(step: Step, dims: &[i64], eps: f64) -> Result<(Launch, Roles)> {
    let d = |i: usize| -> Result<u64> {
        let v = *dims
            .get(i)
            .ok_or_else(|| anyhow!("kernel step {step:?}: {} sizes given", dims.len()))?;
        u64::try_from(v).map_err(|_| anyhow!("kernel step {step:?}: a negative size {v}"))
    };
    Ok(match step {
        Step::SwigluForward => (swiglu_forward(d(0)?, d(1)?), &["gate", "up", "out"]),
        Step::SwigluBackward => (swiglu_backward(d(0)?, d(1)?), &["grad_out", "gate", "up"]),
        Step::AddRmsForward => (
            add_rms_norm_forward(d(0)?, d(1)?, eps),
            &["x", "residual", "weight", "out", "sum", "rstd"],
        ),
        Step::AddRmsBackward => (
            add_rms_norm_backward(d(0)?, d(1)?, RMS_NORM_ROWS_PER_PROGRAM, "bf16"),
            &[
                "grad_out",
                "grad_sum",
                "grad_x",
                "sum",
                "weight",
                "rstd",
                "grad_weight_rows",
            ],
        ),
        Step::Rope => (
            rope_tokens(d(0)?, d(1)?, d(2)?, d(3)? != 0),
            &["q", "k", "cos", "sin"],
        ),
        Step::CrossEntropy => (
            cross_entropy_step(d(0)?, d(1)?, d(2)?),
            &["logits", "target", "loss"],
        ),
    })
}

/// Makes `model` compute its training loss with `kernels` on `device`, in bf16 or fp32: ATen's
/// ops, or the fused ones; on CUDA those compiled into `dir` (loaded here, bf16 only).
pub fn choose(
    model: &mut crate::model::Llama,
    kernels: crate::config::Kernels,
    device: tch::Device,
    bf16: bool,
    dir: Option<&Path>,
) -> Result<()> {
    if kernels == crate::config::Kernels::Aten {
        return Ok(());
    }
    if let tch::Device::Cuda(ordinal) = device {
        if !bf16 {
            bail!("train.kernels = \"fused\" computes in bf16 on CUDA: set train.precision to \"bf16\" or \"auto\" (not fp32)");
        }
        let dir = dir.ok_or_else(|| {
            anyhow!("train.kernels = \"fused\" on CUDA needs train.kernels_dir: the kernels `make gpu-pack` compiles into target/gpu-pack/kernels")
        })?;
        install(dir, ordinal).map_err(|e| anyhow!("train.kernels_dir {}: {e:#}", dir.display()))?;
    }
    let kind = if bf16 {
        tch::Kind::BFloat16
    } else {
        tch::Kind::Float
    };
    model.use_fused(kind);
    tracing::info!(
        ?device,
        ?kind,
        "the training loss runs through the fused ops"
    );
    Ok(())
}

/// A kernel step at its sizes (and RMSNorm's eps, as bits): what a prepared launch is kept by.
type StepKey = (Step, Vec<i64>, u64);

/// The roles of a step's tensors, in the order the shim passes them.
type Roles = &'static [&'static str];

struct Installed {
    manifest: Manifest,
    kernels: LoadedKernels,
    /// Each shape's launch, matched to its kernel once, with its tensors' roles.
    prepared: Mutex<HashMap<StepKey, (Arc<Prepared>, Roles)>>,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

/// Loads the kernels compiled into `dir` on CUDA device `ordinal` and registers the launcher with
/// the shim; the fused ops launch them from here on. Once per process: a second call keeps the
/// first kernels.
pub fn install(dir: &Path, ordinal: usize) -> Result<()> {
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    let manifest = Manifest::load(dir)?;
    let kernels = LoadedKernels::load(&manifest, ordinal)?;
    let _ = INSTALLED.set(Installed {
        manifest,
        kernels,
        prepared: Mutex::new(HashMap::new()),
    });
    crate::shim::fused::set_launcher(launch_step);
    Ok(())
}

thread_local! {
    static LAST_ERROR: std::cell::RefCell<CString> = std::cell::RefCell::new(CString::default());
}

/// The shim's launcher (see [`crate::shim::fused::Launcher`]).
unsafe extern "C" fn launch_step(
    step: i32,
    dims: *const i64,
    ndims: usize,
    scalar: f64,
    ptrs: *const *mut c_void,
    nptrs: usize,
    _device: i32,
    stream: *mut c_void,
) -> *const c_char {
    let run = || -> Result<()> {
        let installed = INSTALLED
            .get()
            .ok_or_else(|| anyhow!("no fused kernels are loaded"))?;
        let step = Step::from_raw(step)?;
        // SAFETY: the shim passes `ndims` sizes and `nptrs` pointers, alive for the call.
        let (dims, ptrs) = unsafe {
            (
                std::slice::from_raw_parts(dims, ndims),
                std::slice::from_raw_parts(ptrs, nptrs),
            )
        };
        let key = (step, dims.to_vec(), scalar.to_bits());
        let cached = installed
            .prepared
            .lock()
            .expect("not poisoned")
            .get(&key)
            .cloned();
        let (prepared, roles) = match cached {
            Some(hit) => hit,
            None => {
                let (launch, roles) = step_launch(step, dims, scalar)?;
                let p = Arc::new(installed.kernels.prepare(&installed.manifest, &launch)?);
                let mut cache = installed.prepared.lock().expect("not poisoned");
                cache.insert(key, (p.clone(), roles));
                (p, roles)
            }
        };
        if roles.len() != ptrs.len() {
            bail!(
                "kernel step {step:?}: {} tensors given, {} expected",
                ptrs.len(),
                roles.len()
            );
        }
        let pointers: Vec<(&str, u64)> = roles
            .iter()
            .zip(ptrs)
            .map(|(r, p)| (*r, *p as u64))
            .collect();
        installed.kernels.make_current()?;
        // SAFETY: the shim's tensors are live contiguous CUDA buffers of the planned shapes, and
        // `stream` is torch's current stream on their device.
        unsafe { prepared.run(&pointers, stream as sys::CUstream) }
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(Ok(())) => std::ptr::null(),
        Ok(Err(e)) => remember(format!("{e:#}")),
        Err(_) => remember("the fused kernel launcher panicked".into()),
    }
}

fn remember(message: String) -> *const c_char {
    let c = CString::new(message.replace('\0', " ")).expect("no NUL left");
    LAST_ERROR.with(|e| {
        *e.borrow_mut() = c;
        e.borrow().as_ptr()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each step's sizes give the launch the planners give, with one role per tensor the shim
    /// passes, every one of them an argument of the launch.
    #[test]
    fn steps_plan_the_launches_of_their_ops() {
        let cases: [(Step, &[i64], Launch); 6] = [
            (Step::SwigluForward, &[512, 1792], swiglu_forward(512, 1792)),
            (
                Step::SwigluBackward,
                &[512, 1792],
                swiglu_backward(512, 1792),
            ),
            (
                Step::AddRmsForward,
                &[512, 768],
                add_rms_norm_forward(512, 768, 1e-6),
            ),
            (
                Step::AddRmsBackward,
                &[512, 768],
                add_rms_norm_backward(512, 768, 64, "bf16"),
            ),
            (
                Step::Rope,
                &[512, 12, 64, 1],
                rope_tokens(512, 12, 64, true),
            ),
            (
                Step::CrossEntropy,
                &[256, 16000, 1024],
                cross_entropy_step(256, 16000, 1024),
            ),
        ];
        for (step, dims, want) in cases {
            let (launch, roles) = step_launch(step, dims, 1e-6).unwrap();
            assert_eq!(launch, want, "{step:?}");
            for role in roles {
                let passed = launch
                    .args
                    .iter()
                    .any(|(_, a)| *a == super::super::Arg::Tensor(role));
                assert!(passed, "{step:?}: {role} is no argument of the launch");
            }
            assert_eq!(Step::from_raw(step as i32).unwrap(), step);
        }
        assert!(Step::from_raw(6).is_err());
        let e = step_launch(Step::Rope, &[512, 12], 0.0).unwrap_err();
        assert!(e.to_string().contains("2 sizes given"), "{e}");
        let e = step_launch(Step::SwigluForward, &[-1, 8], 0.0).unwrap_err();
        assert!(e.to_string().contains("negative size"), "{e}");
    }
}
