//! Compute devices: parsing `--device`, making libtorch's CUDA backend available, thread counts,
//! and a tiny end-to-end probe (`lmeff doctor`) that proves libtorch links and trains here.
//!
//! lmeff links only `libtorch_cpu.so` (rustc links `--as-needed`), so a CPU-only machine needs no
//! CUDA libraries. When CUDA is asked for, `libtorch_cuda.so` is `dlopen`ed with
//! `RTLD_NOW | RTLD_GLOBAL` before the first CUDA call, which registers the CUDA kernels.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Kind, Tensor};

use crate::config::Accelerator;
pub use crate::config::Device;

/// Activation lives here, beside the CUDA loading it needs; the type itself is a setting.
impl Device {
    /// Makes the device usable and returns tch's handle for it: on CUDA, loads `libtorch_cuda.so`
    /// and checks that the ordinal exists.
    pub fn activate(self) -> Result<tch::Device> {
        keep_freed_buffers();
        match self {
            Device::Cpu => Ok(tch::Device::Cpu),
            Device::Cuda(ordinal) => {
                load_torch_cuda()?;
                let count = tch::Cuda::device_count() as usize;
                if count == 0 {
                    bail!("--device {self}: libtorch_cuda.so loaded but no CUDA device is visible (check CUDA_VISIBLE_DEVICES and the driver)");
                }
                if ordinal >= count {
                    bail!("--device {self}: only {count} CUDA device(s) visible");
                }
                Ok(tch::Device::Cuda(ordinal))
            }
        }
    }
}

/// Where and in which precision a stage computes: the activated device and whether matmuls run in
/// bf16 autocast. Train, validation and BLiMP scoring all take one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Compute {
    pub device: tch::Device,
    pub bf16: bool,
}

impl Compute {
    /// Activates `device` and decides bf16 by `precision` for it (for `auto`, by the CUDA
    /// device's compute capability).
    pub fn new(device: Device, precision: crate::config::Precision) -> Result<Compute> {
        let device = device.activate()?;
        let accelerator = match device {
            tch::Device::Cuda(ordinal) => Accelerator::Cuda {
                capability: compute_capability(ordinal),
            },
            _ => Accelerator::Cpu,
        };
        if let Accelerator::Cuda { capability: None } = accelerator {
            tracing::warn!("the CUDA driver did not say the device's compute capability: precision auto computes in fp32");
        }
        Ok(Compute {
            device,
            bf16: precision.bf16_on(accelerator),
        })
    }

    /// fp32 on the CPU (tests, references).
    pub fn cpu() -> Compute {
        Compute {
            device: tch::Device::Cpu,
            bf16: false,
        }
    }

    /// Whether the device is a CUDA device.
    pub fn is_cuda(&self) -> bool {
        self.device.is_cuda()
    }

    /// The precision actually used.
    pub fn precision(&self) -> crate::config::Precision {
        if self.bf16 {
            crate::config::Precision::Bf16
        } else {
            crate::config::Precision::Fp32
        }
    }

    /// Runs `f` under bf16 autocast when `bf16`, else as is.
    pub fn autocast<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        if self.bf16 {
            crate::shim::autocast_bf16(self.is_cuda(), f)
        } else {
            Ok(f())
        }
    }
}

/// `host` (a CPU tensor) on `device` without making the host wait for the device: on CUDA the
/// rows go through pinned (page-locked) memory and are copied asynchronously on the current
/// stream, behind the kernels already queued (the caching host allocator keeps the pinned buffer
/// until the copy has run); on the CPU, `host` itself.
pub fn upload(host: Tensor, device: tch::Device) -> Tensor {
    match device {
        tch::Device::Cuda(_) => {
            host.pin_memory(device).to_device_(
                device,
                host.kind(),
                /*non_blocking=*/ true,
                false,
            )
        }
        _ => host,
    }
}

/// The compute capability (major, minor) of CUDA device `ordinal`, from the driver; `None` when
/// the driver library cannot be loaded or does not answer.
pub fn compute_capability(ordinal: usize) -> Option<(u32, u32)> {
    use cudarc::driver::{result as drv, sys::CUdevice_attribute as A};
    // cudarc panics when it cannot load libcuda; that is an unknown capability here.
    std::panic::catch_unwind(|| {
        drv::init().ok()?;
        let dev = drv::device::get(ordinal as i32).ok()?;
        // SAFETY: attribute queries of a device the driver just returned.
        let attr = |a| unsafe { drv::device::get_attribute(dev, a) }.ok();
        let major = attr(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?;
        let minor = attr(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?;
        Some((major as u32, minor as u32))
    })
    .ok()
    .flatten()
}

/// The CUDA device a rank with this node-local rank computes on, among the `visible` ones: its
/// own GPU when the node's GPUs are all visible, `cuda:0` when Slurm binds one GPU per task
/// (`CUDA_VISIBLE_DEVICES` naming one device), shared round-robin when there are fewer GPUs.
pub fn cuda_ordinal_for(local_rank: usize, visible: usize) -> Result<usize> {
    if visible == 0 {
        bail!("local rank {local_rank}: no CUDA device is visible (check CUDA_VISIBLE_DEVICES and the driver)");
    }
    Ok(local_rank % visible)
}

/// The number of CUDA devices this process sees (loading libtorch's CUDA library first).
pub fn visible_cuda_devices() -> Result<usize> {
    load_torch_cuda()?;
    Ok(tch::Cuda::device_count().max(0) as usize)
}

/// Lets fp32 matmuls and convolutions on CUDA use TF32 tensor cores (`true`, PyTorch's
/// `set_float32_matmul_precision("high")`) or keeps them in full fp32 (`false`). No effect on
/// the CPU.
pub fn set_tf32(allowed: bool) -> Result<()> {
    crate::shim::set_tf32(allowed)
}

/// Applies the settings that shape computing in this process: libtorch's threads and TF32.
pub fn configure(settings: &crate::config::Settings) -> Result<()> {
    set_threads(settings.threads);
    set_tf32(settings.tf32)
}

/// Sets libtorch's intra-op thread count; 0 means the cores Slurm gave this task
/// (`SLURM_CPUS_PER_TASK`) inside a job, libtorch's default (all cores) elsewhere.
pub fn set_threads(threads: usize) {
    let threads = match threads {
        0 => std::env::var("SLURM_CPUS_PER_TASK")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        n => n,
    };
    if threads > 0 {
        tch::set_num_threads(threads as i32);
    }
}

/// Makes glibc keep freed tensor buffers for the next step instead of unmapping them: by default
/// a freed block over its mmap threshold (at most 32 MiB) goes back to the kernel, and the next
/// step's equal tensor faults its pages in again, zeroed. With the threshold at 1 GiB and trimming
/// only past 2 GiB, CPU training's activations and gradients reuse the heap (a 20m GLUE run on a
/// 2-core CPU: 1.50 M page faults → 0.61 M, system time 3.4 s → 1.5 s). Once per process; a user's
/// `MALLOC_*_` or `GLIBC_TUNABLES` wins.
pub fn keep_freed_buffers() {
    #[cfg(target_env = "gnu")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            if !user_tunes_malloc() {
                // SAFETY: mallopt only changes glibc's allocation thresholds, from any thread.
                unsafe {
                    libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
                    libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
                }
            }
        });
    }
}

/// Whether the environment holds glibc malloc settings of the user's own.
fn user_tunes_malloc() -> bool {
    std::env::vars_os().any(|(k, _)| tunes_malloc(&k.to_string_lossy()))
}

/// Whether environment variable `key` is one of glibc's malloc settings.
fn tunes_malloc(key: &str) -> bool {
    key == "GLIBC_TUNABLES" || (key.starts_with("MALLOC_") && key.ends_with('_'))
}

static TORCH_CUDA: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();

/// `dlopen`s `libtorch_cuda.so` once per process (from `$LIBTORCH/lib`, else the loader's path).
pub fn load_torch_cuda() -> Result<PathBuf> {
    TORCH_CUDA
        .get_or_init(|| {
            let mut candidates = Vec::new();
            if let Some(dir) = std::env::var_os("LIBTORCH") {
                candidates.push(PathBuf::from(dir).join("lib").join("libtorch_cuda.so"));
            }
            candidates.push(PathBuf::from("libtorch_cuda.so"));
            let mut errors = Vec::new();
            for path in candidates {
                let flags = libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_GLOBAL;
                // SAFETY: libtorch_cuda.so only registers CUDA kernels with the dispatcher on load.
                match unsafe { libloading::os::unix::Library::open(Some(&path), flags) } {
                    Ok(lib) => {
                        // Kept loaded for the life of the process.
                        std::mem::forget(lib);
                        return Ok(path);
                    }
                    Err(e) => errors.push(format!("{}: {e}", path.display())),
                }
            }
            Err(errors.join("; "))
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("CUDA requested but libtorch_cuda.so could not be loaded ({e}); source env/lmeff.env or set LIBTORCH to a CUDA build of libtorch 2.11"))
}

/// What `lmeff doctor` reports: the device and a tiny training run on it.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// The device probed.
    pub device: String,
    /// libtorch intra-op threads.
    pub threads: i32,
    /// CUDA devices visible (0 unless CUDA was activated).
    pub cuda_devices: i64,
    /// Mean-squared error before training.
    pub initial_loss: f64,
    /// Mean-squared error after `steps` Adam steps.
    pub final_loss: f64,
    /// Number of optimizer steps taken.
    pub steps: usize,
    /// Wall time of the training steps.
    pub seconds: f64,
}

/// Trains a two-layer MLP to fit a random linear teacher on `device`: proves that libtorch links,
/// allocates on the device, runs autograd and an optimizer.
pub fn probe(device: Device, steps: usize) -> Result<ProbeReport> {
    let dev = device.activate()?;
    tch::manual_seed(0);
    let vs = nn::VarStore::new(dev);
    let root = vs.root();
    let net = nn::seq()
        .add(nn::linear(&root / "fc1", 32, 64, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::linear(&root / "fc2", 64, 8, Default::default()));
    let x = Tensor::randn([512, 32], (Kind::Float, dev));
    let teacher = Tensor::randn([32, 8], (Kind::Float, dev)) / 32f64.sqrt();
    let y = x.matmul(&teacher);
    let mut opt = nn::Adam::default()
        .build(&vs, 1e-2)
        .context("building the Adam optimizer")?;
    let loss_of = |net: &nn::Sequential| net.forward(&x).mse_loss(&y, tch::Reduction::Mean);
    let initial_loss = tch::no_grad(|| loss_of(&net)).double_value(&[]);
    let start = Instant::now();
    for _ in 0..steps {
        opt.backward_step(&loss_of(&net));
    }
    let final_loss = tch::no_grad(|| loss_of(&net)).double_value(&[]);
    Ok(ProbeReport {
        device: device.to_string(),
        threads: tch::get_num_threads(),
        cuda_devices: if matches!(device, Device::Cuda(_)) {
            tch::Cuda::device_count()
        } else {
            0
        },
        initial_loss,
        final_loss,
        steps,
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_ranks_map_to_the_visible_gpus() {
        assert_eq!(cuda_ordinal_for(0, 4).unwrap(), 0);
        assert_eq!(cuda_ordinal_for(3, 4).unwrap(), 3);
        // Slurm's binding: every task sees its own GPU as device 0.
        assert_eq!(cuda_ordinal_for(1, 1).unwrap(), 0);
        assert_eq!(cuda_ordinal_for(3, 1).unwrap(), 0);
        assert_eq!(cuda_ordinal_for(5, 4).unwrap(), 1);
        let e = cuda_ordinal_for(2, 0).unwrap_err().to_string();
        assert!(
            e.contains("local rank 2") && e.contains("CUDA_VISIBLE_DEVICES"),
            "{e}"
        );
    }

    #[test]
    fn tf32_is_a_switch() {
        set_tf32(false).unwrap();
        assert!(!crate::shim::tf32());
        set_tf32(true).unwrap();
        assert!(crate::shim::tf32());
    }

    #[test]
    fn a_users_malloc_settings_are_recognised() {
        for key in [
            "GLIBC_TUNABLES",
            "MALLOC_ARENA_MAX_",
            "MALLOC_MMAP_THRESHOLD_",
        ] {
            assert!(tunes_malloc(key), "{key}");
        }
        for key in ["MALLOC", "MALLOC_CONF", "LD_PRELOAD"] {
            assert!(!tunes_malloc(key), "{key}");
        }
    }

    /// A 40 MiB buffer, over glibc's largest default mmap threshold (32 MiB), comes from the heap.
    #[cfg(target_env = "gnu")]
    #[test]
    fn freed_buffers_stay_in_the_heap() {
        if user_tunes_malloc() {
            return; // the user's settings win, by design
        }
        keep_freed_buffers();
        // SAFETY: mallinfo2 only reads the allocator's counters.
        let before = unsafe { libc::mallinfo2() }.hblkhd;
        let buffer = std::hint::black_box(vec![1u8; 40 << 20]);
        // SAFETY: as above.
        let after = unsafe { libc::mallinfo2() }.hblkhd;
        drop(buffer);
        assert!(
            after < before + (40 << 20),
            "the buffer was mmapped: {before} → {after} bytes"
        );
    }

    #[test]
    fn tiny_model_trains_on_cpu() {
        let report = probe(Device::Cpu, 60).unwrap();
        assert!(report.initial_loss.is_finite() && report.final_loss.is_finite());
        assert!(
            report.final_loss < 0.2 * report.initial_loss,
            "loss did not fall: {report:?}"
        );
        assert_eq!(report.cuda_devices, 0);
    }
}
