//! Safe bindings to the small C++ shim (`aten_shim.cpp`, built by `build.rs` against libtorch's
//! headers) for the ATen calls tch does not bind: the fused multi-tensor AdamW kernel, foreach
//! global-norm clipping, dropping gradients, entering/leaving bf16 autocast, TF32 and libtorch's
//! Kineto profiler. Every call returns
//! its C++ exception as an error.

pub mod fused;

use std::ffi::{c_char, CStr};

use anyhow::{anyhow, Result};
use tch::Tensor;
use torch_sys::C_tensor;

extern "C" {
    fn lmeff_fused_adamw(
        params: *const *mut C_tensor,
        grads: *const *mut C_tensor,
        exp_avgs: *const *mut C_tensor,
        exp_avg_sqs: *const *mut C_tensor,
        steps: *const *mut C_tensor,
        n: usize,
        lr: *mut C_tensor,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
    ) -> *const c_char;
    fn lmeff_clip_grad_norm(
        grads: *const *mut C_tensor,
        n: usize,
        max_norm: f64,
        norm_out: *mut *mut C_tensor,
    ) -> *const c_char;
    fn lmeff_clear_grads(params: *const *mut C_tensor, n: usize) -> *const c_char;
    fn lmeff_autocast_bf16(cuda: i32, enabled: i32) -> *const c_char;
    fn lmeff_set_tf32(allowed: i32) -> *const c_char;
    fn lmeff_tf32() -> i32;
    fn lmeff_profiler_start(cuda: i32) -> *const c_char;
    fn lmeff_profiler_stop(path: *const c_char) -> *const c_char;
    fn lmeff_cuda_current_stream(device: i32, out: *mut *mut std::ffi::c_void) -> *const c_char;
}

fn check(err: *const c_char, what: &str) -> Result<()> {
    if err.is_null() {
        Ok(())
    } else {
        // SAFETY: the shim returns a NUL-terminated message owned by a thread-local string.
        let msg = unsafe { CStr::from_ptr(err) }
            .to_string_lossy()
            .into_owned();
        Err(anyhow!("{what}: {msg}"))
    }
}

fn ptrs(ts: &[Tensor]) -> Vec<*mut C_tensor> {
    ts.iter().map(|t| t.as_ptr() as *mut C_tensor).collect()
}

/// Runs `f` under bf16 autocast on CUDA (`cuda`) or the CPU: matmuls and attention in bf16,
/// reductions and the loss in fp32, weights and gradients fp32.
pub fn autocast_bf16<T>(cuda: bool, f: impl FnOnce() -> T) -> Result<T> {
    // SAFETY: plain flags; errors come back as a message.
    check(
        unsafe { lmeff_autocast_bf16(cuda as i32, 1) },
        "entering autocast",
    )?;
    let out = f();
    // SAFETY: as above; leaves the region entered just before.
    check(
        unsafe { lmeff_autocast_bf16(cuda as i32, 0) },
        "leaving autocast",
    )?;
    Ok(out)
}

/// Allows or forbids TF32 for fp32 matmuls and convolutions on CUDA.
pub fn set_tf32(allowed: bool) -> Result<()> {
    // SAFETY: sets a flag of libtorch's global context.
    check(unsafe { lmeff_set_tf32(allowed as i32) }, "setting TF32")
}

/// Whether fp32 matmuls on CUDA may use TF32.
pub fn tf32() -> bool {
    // SAFETY: reads a flag of libtorch's global context.
    unsafe { lmeff_tf32() != 0 }
}

/// Starts the Kineto profiler on this thread (CPU operators; CUDA kernels too when `cuda`).
pub fn profiler_start(cuda: bool) -> Result<()> {
    // SAFETY: starts libtorch's profiler; errors come back as a message.
    check(
        unsafe { lmeff_profiler_start(cuda as i32) },
        "starting the profiler",
    )
}

/// Stops the profiler started by [`profiler_start`] and writes its Chrome trace to `path`.
pub fn profiler_stop(path: &std::path::Path) -> Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| anyhow!("{}: a path with a NUL byte", path.display()))?;
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    check(
        unsafe { lmeff_profiler_stop(c.as_ptr()) },
        &format!("writing the profile {}", path.display()),
    )
}

/// Torch's current stream on CUDA device `device` (its `cudaStream_t`; null is the legacy default
/// stream, a valid one). An error unless libtorch's CUDA library is loaded.
pub fn cuda_current_stream(device: usize) -> Result<*mut std::ffi::c_void> {
    let mut out = std::ptr::null_mut();
    // SAFETY: `out` receives the handle; errors come back as a message.
    check(
        unsafe { lmeff_cuda_current_stream(device as i32, &mut out) },
        "asking torch for its current CUDA stream",
    )?;
    Ok(out)
}

/// Drops the gradients of `params` (undefined until the next backward writes them).
pub fn clear_grads(params: &[Tensor]) -> Result<()> {
    let p = ptrs(params);
    // SAFETY: the pointers stay valid while `params` lives.
    check(
        unsafe { lmeff_clear_grads(p.as_ptr(), p.len()) },
        "dropping gradients",
    )
}

/// AdamW's hyper-parameters for one call of the fused kernel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWStep {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

/// ATen's `_fused_adamw_` over equally long lists of parameters, their gradients, moments and
/// step counters, with the learning rate as a device scalar.
pub fn fused_adamw(
    params: &[Tensor],
    grads: &[Tensor],
    exp_avgs: &[Tensor],
    exp_avg_sqs: &[Tensor],
    steps: &[Tensor],
    lr: &Tensor,
    h: AdamWStep,
) -> Result<()> {
    let n = params.len();
    assert!(
        [grads.len(), exp_avgs.len(), exp_avg_sqs.len(), steps.len()]
            .iter()
            .all(|&l| l == n),
        "fused_adamw: lists of different lengths"
    );
    // SAFETY: every pointer is a live tensor for the duration of the call.
    check(
        unsafe {
            lmeff_fused_adamw(
                ptrs(params).as_ptr(),
                ptrs(grads).as_ptr(),
                ptrs(exp_avgs).as_ptr(),
                ptrs(exp_avg_sqs).as_ptr(),
                ptrs(steps).as_ptr(),
                n,
                lr.as_ptr() as *mut C_tensor,
                h.beta1,
                h.beta2,
                h.weight_decay,
                h.eps,
            )
        },
        "AdamW step",
    )
}

/// Clips `grads` in place to a global L2 norm of `max_norm`; returns the norm before clipping as
/// a device scalar.
pub fn clip_grad_norm(grads: &[Tensor], max_norm: f64) -> Result<Tensor> {
    let mut out: *mut C_tensor = std::ptr::null_mut();
    // SAFETY: the pointers stay valid while `grads` lives; the shim allocates `out`.
    check(
        unsafe { lmeff_clip_grad_norm(ptrs(grads).as_ptr(), grads.len(), max_norm, &mut out) },
        "clipping gradients",
    )?;
    // SAFETY: `out` is a fresh `at::Tensor*` owned by us from here.
    Ok(unsafe { Tensor::from_ptr(out) })
}

#[cfg(test)]
mod tests {
    /// Without libtorch's CUDA library there is no CUDA stream, and the answer says so.
    #[test]
    fn no_cuda_stream_without_cuda() {
        let e = super::cuda_current_stream(0).unwrap_err().to_string();
        assert!(
            e.contains("current CUDA stream") && e.to_lowercase().contains("cuda"),
            "{e}"
        );
    }
}
