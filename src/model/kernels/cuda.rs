//! The compiled kernels on a GPU: every cubin of the device's architecture loaded through the CUDA
//! driver (cudarc) into the primary context, the one libtorch computes in, and launched on
//! torch's current stream with tensors' device pointers.

use std::collections::BTreeMap;
use std::ffi::{c_void, CString};

use anyhow::{anyhow, bail, Result};
use cudarc::driver::{result as drv, sys};

use super::manifest::{arch_for, KernelValue, Manifest, SCRATCH_POINTERS};
use super::Launch;

/// The functions of a manifest's kernels on one device.
pub struct LoadedKernels {
    pub arch: &'static str,
    ctx: sys::CUcontext,
    functions: BTreeMap<String, sys::CUfunction>,
}

// SAFETY: the context and function handles belong to the device's primary context, which the
// driver lets any thread make current and launch in.
unsafe impl Send for LoadedKernels {}
unsafe impl Sync for LoadedKernels {}

impl LoadedKernels {
    /// Loads every kernel of `manifest` compiled for CUDA device `ordinal`'s architecture.
    pub fn load(manifest: &Manifest, ordinal: usize) -> Result<LoadedKernels> {
        fn err(what: &'static str) -> impl Fn(drv::DriverError) -> anyhow::Error {
            move |e| anyhow!("{what}: {e:?}")
        }
        drv::init().map_err(err("CUDA driver"))?;
        let dev = drv::device::get(ordinal as i32).map_err(err("CUDA device"))?;
        let capability = crate::device::compute_capability(ordinal).ok_or_else(|| {
            anyhow!("CUDA device {ordinal}: the driver did not say its compute capability")
        })?;
        let arch = arch_for(capability).ok_or_else(|| {
            anyhow!(
                "CUDA device {ordinal} has compute capability {}.{}: the fused kernels are compiled for 8.x (sm_80) and 9.0 (sm_90) only",
                capability.0,
                capability.1
            )
        })?;
        // SAFETY: the device's primary context (libtorch's), made current for this thread.
        let ctx = unsafe {
            let ctx = drv::primary_ctx::retain(dev).map_err(err("CUDA context"))?;
            drv::ctx::set_current(ctx).map_err(err("CUDA context"))?;
            ctx
        };
        let mut functions = BTreeMap::new();
        for e in &manifest.kernels {
            let Some(t) = e.targets.get(arch) else {
                bail!(
                    "{}: {} is not compiled for {arch}",
                    manifest.dir.display(),
                    e.id
                );
            };
            let image = fs_err::read(manifest.dir.join(&t.cubin))?;
            let name = CString::new(t.function.as_str())?;
            // SAFETY: a cubin image read whole; the driver copies it while loading. The module
            // stays loaded for the life of the process.
            let f = unsafe {
                let module = drv::module::load_data(image.as_ptr() as *const c_void)
                    .map_err(|e| anyhow!("loading {}: {e:?}", t.cubin.display()))?;
                drv::module::get_function(module, name)
                    .map_err(|e| anyhow!("{} in {}: {e:?}", t.function, t.cubin.display()))?
            };
            functions.insert(e.id.clone(), f);
        }
        Ok(LoadedKernels {
            arch,
            ctx,
            functions,
        })
    }

    /// Makes the kernels' context current on this thread (autograd's backward runs on its own).
    pub fn make_current(&self) -> Result<()> {
        // SAFETY: the primary context retained by `load`, alive for the life of the process.
        unsafe { drv::ctx::set_current(self.ctx) }.map_err(|e| anyhow!("CUDA context: {e:?}"))
    }

    /// How many kernels are loaded.
    pub fn len(&self) -> usize {
        self.functions.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }

    /// The compiled kernel of `launch` with its argument values, ready to run.
    pub fn prepare(&self, manifest: &Manifest, launch: &Launch) -> Result<Prepared> {
        let (entry, target, values) = manifest.find(launch, self.arch)?;
        if target.global_scratch_size > 0 || target.profile_scratch_size > 0 {
            bail!(
                "{} needs scratch memory, which lmeff does not allocate",
                entry.id
            );
        }
        Ok(Prepared {
            id: entry.id.clone(),
            function: self.functions[&entry.id],
            values,
            grid: launch.grid.map(|g| g as u32),
            block: launch.block(),
            shared: target.shared,
        })
    }

    /// Launches `launch` on `stream`, its tensors' device pointers given by role.
    ///
    /// # Safety
    /// As [`Prepared::run`].
    pub unsafe fn launch(
        &self,
        manifest: &Manifest,
        launch: &Launch,
        pointers: &[(&str, u64)],
        stream: sys::CUstream,
    ) -> Result<()> {
        // SAFETY: passed on to the caller.
        unsafe { self.prepare(manifest, launch)?.run(pointers, stream) }
    }
}

/// A launch matched to its compiled kernel: the function, its values in parameter order, the
/// grid, the block and the shared memory.
pub struct Prepared {
    id: String,
    function: sys::CUfunction,
    values: Vec<KernelValue>,
    grid: [u32; 3],
    block: u32,
    shared: u32,
}

// SAFETY: a function handle of the primary context (see `LoadedKernels`) and plain values.
unsafe impl Send for Prepared {}
unsafe impl Sync for Prepared {}

impl Prepared {
    /// Launches the kernel on `stream`, its tensors' device pointers given by role.
    ///
    /// # Safety
    /// `stream` is a live stream of the kernels' context, current on this thread, and every
    /// pointer a live device buffer of the dtype and at least the size the launch was planned for.
    pub unsafe fn run(&self, pointers: &[(&str, u64)], stream: sys::CUstream) -> Result<()> {
        // Each parameter's bytes, then Triton's two scratch pointers (null: no scratch).
        let mut storage: Vec<[u8; 8]> = Vec::with_capacity(self.values.len() + 2);
        for v in &self.values {
            let mut b = [0u8; 8];
            match *v {
                KernelValue::Pointer(role) => {
                    let p = pointers
                        .iter()
                        .find(|(r, _)| *r == role)
                        .ok_or_else(|| anyhow!("{}: no tensor given for {role}", self.id))?
                        .1;
                    b.copy_from_slice(&p.to_ne_bytes());
                }
                KernelValue::I32(x) => b[..4].copy_from_slice(&x.to_ne_bytes()),
                KernelValue::I64(x) => b.copy_from_slice(&x.to_ne_bytes()),
                KernelValue::F32(x) => b[..4].copy_from_slice(&x.to_ne_bytes()),
                KernelValue::I1(x) => b[0] = x as u8,
            }
            storage.push(b);
        }
        storage.extend([[0; 8]; SCRATCH_POINTERS]);
        let mut params: Vec<*mut c_void> = storage
            .iter_mut()
            .map(|b| b.as_mut_ptr() as *mut c_void)
            .collect();
        let [gx, gy, gz] = self.grid;
        // SAFETY: `params` points at one value per kernel parameter, in order, alive for the call;
        // the caller vouches for the stream and the buffers.
        unsafe {
            drv::launch_kernel(
                self.function,
                (gx, gy, gz),
                (self.block, 1, 1),
                self.shared,
                stream,
                &mut params,
            )
        }
        .map_err(|e| anyhow!("launching {}: {e:?}", self.id))
    }
}

/// What [`smoke_test`] found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SmokeReport {
    pub arch: &'static str,
    pub kernels_loaded: usize,
    pub swiglu_width: u64,
    /// The largest |fused − ATen| of SwiGLU's output over 64 random bf16 rows.
    pub swiglu_max_diff: f64,
}

/// Loads every kernel of `manifest` on CUDA device `ordinal`, then launches the SwiGLU forward of
/// the first width compiled for it on 64 random bf16 rows, on torch's current stream, against
/// ATen's `silu(gate) · up`.
pub fn smoke_test(manifest: &Manifest, ordinal: usize) -> Result<SmokeReport> {
    use tch::{Device, Kind, Tensor};
    let loaded = LoadedKernels::load(manifest, ordinal)?;
    let width = manifest
        .kernels
        .iter()
        .find(|e| e.kernel == "_swiglu_forward_kernel")
        .and_then(|e| e.constexprs.get("n_cols")?.as_u64())
        .ok_or_else(|| anyhow!("{}: no SwiGLU forward kernel", manifest.dir.display()))?;
    let dev = Device::Cuda(ordinal);
    let rows = 64;
    let gate = Tensor::randn([rows, width as i64], (Kind::BFloat16, dev));
    let up = Tensor::randn([rows, width as i64], (Kind::BFloat16, dev));
    let out = Tensor::empty([rows, width as i64], (Kind::BFloat16, dev));
    let stream = crate::shim::cuda_current_stream(ordinal)? as sys::CUstream;
    let ptrs = [
        ("gate", gate.data_ptr() as u64),
        ("up", up.data_ptr() as u64),
        ("out", out.data_ptr() as u64),
    ];
    let launch = super::swiglu_forward(rows as u64, width);
    // SAFETY: torch's current stream; three live [rows, width] bf16 tensors.
    unsafe { loaded.launch(manifest, &launch, &ptrs, stream)? };
    let reference = gate.to_kind(Kind::Float).silu().to_kind(Kind::BFloat16) * &up;
    let diff = (out.to_kind(Kind::Float) - reference.to_kind(Kind::Float))
        .abs()
        .max()
        .double_value(&[]);
    Ok(SmokeReport {
        arch: loaded.arch,
        kernels_loaded: loaded.len(),
        swiglu_width: width,
        swiglu_max_diff: diff,
    })
}
