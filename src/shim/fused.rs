//! Safe bindings to the shim's fused ops (`fused_ops.cpp`): SwiGLU, residual add + RMSNorm, RoPE on
//! q and k and chunked linear + cross-entropy as autograd functions. On CUDA their kernel steps go
//! to the launcher registered with [`set_launcher`] (`model::kernels::launcher`); on the CPU ATen
//! computes each step.

use std::ffi::{c_char, c_void};

use anyhow::Result;
use tch::Tensor;
use torch_sys::C_tensor;

use super::check;

/// What the shim calls for each kernel step on CUDA: the step (`Step` in `fused_ops.cpp`), its
/// sizes, one float (RMSNorm's eps), the tensors' device pointers in the step's order, the device
/// and torch's current stream there. Returns null or an error message that stays valid until the
/// next call on this thread.
pub type Launcher = unsafe extern "C" fn(
    step: i32,
    dims: *const i64,
    ndims: usize,
    scalar: f64,
    ptrs: *const *mut c_void,
    nptrs: usize,
    device: i32,
    stream: *mut c_void,
) -> *const c_char;

extern "C" {
    fn lmeff_fused_set_launcher(launcher: Option<Launcher>);
    fn lmeff_fused_swiglu(
        gate: *mut C_tensor,
        up: *mut C_tensor,
        out: *mut *mut C_tensor,
    ) -> *const c_char;
    fn lmeff_fused_add_rms_norm(
        x: *mut C_tensor,
        residual: *mut C_tensor,
        weight: *mut C_tensor,
        eps: f64,
        out: *mut *mut C_tensor,
        sum: *mut *mut C_tensor,
    ) -> *const c_char;
    fn lmeff_fused_rope(
        q: *mut C_tensor,
        k: *mut C_tensor,
        cos: *mut C_tensor,
        sin: *mut C_tensor,
        q_out: *mut *mut C_tensor,
        k_out: *mut *mut C_tensor,
    ) -> *const c_char;
    fn lmeff_fused_linear_cross_entropy(
        hidden: *mut C_tensor,
        weight: *mut C_tensor,
        target: *mut C_tensor,
        chunk: i64,
        loss: *mut *mut C_tensor,
    ) -> *const c_char;
}

/// Registers the launcher of the CUDA kernel steps.
pub fn set_launcher(launcher: Launcher) {
    // SAFETY: stores a function pointer that lives as long as the process.
    unsafe { lmeff_fused_set_launcher(Some(launcher)) }
}

fn raw(t: &Tensor) -> *mut C_tensor {
    t.as_ptr() as *mut C_tensor
}

/// Takes ownership of a tensor the shim allocated.
fn owned(p: *mut C_tensor) -> Tensor {
    // SAFETY: a fresh `at::Tensor*` from the shim, owned by the caller from here.
    unsafe { Tensor::from_ptr(p) }
}

/// `silu(gate) · up` (silu in fp32), `gate` and `up` of the same shape.
pub fn swiglu(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    let mut out = std::ptr::null_mut();
    // SAFETY: live tensors for the call; the shim allocates `out`.
    check(
        unsafe { lmeff_fused_swiglu(raw(gate), raw(up), &mut out) },
        "fused SwiGLU",
    )?;
    Ok(owned(out))
}

/// `(rmsnorm(x + residual) · weight, x + residual)` over the last dimension, the RMS in fp32 and
/// the weight applied in the activations' dtype (transformers' `LlamaRMSNorm`).
pub fn add_rms_norm(
    x: &Tensor,
    residual: &Tensor,
    weight: &Tensor,
    eps: f64,
) -> Result<(Tensor, Tensor)> {
    let (mut out, mut sum) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: live tensors for the call; the shim allocates both outputs.
    check(
        unsafe {
            lmeff_fused_add_rms_norm(raw(x), raw(residual), raw(weight), eps, &mut out, &mut sum)
        },
        "fused residual add + RMSNorm",
    )?;
    Ok((owned(out), owned(sum)))
}

/// q and k `[batch, time, heads, head_dim]` rotated by the rotary tables `cos`/`sin`
/// `[positions ≥ time, head_dim]` at positions `0..time` (the rotate-half layout).
pub fn rope(q: &Tensor, k: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<(Tensor, Tensor)> {
    let (mut qo, mut ko) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: live tensors for the call; the shim allocates both outputs.
    check(
        unsafe { lmeff_fused_rope(raw(q), raw(k), raw(cos), raw(sin), &mut qo, &mut ko) },
        "fused RoPE",
    )?;
    Ok((owned(qo), owned(ko)))
}

/// The mean cross-entropy of `hidden` `[tokens, hidden]` times `weight`ᵀ `[vocab, hidden]`
/// against `target` `[tokens]`, `chunk` tokens' logits at a time; the gradients are computed in
/// the forward pass.
pub fn linear_cross_entropy(
    hidden: &Tensor,
    weight: &Tensor,
    target: &Tensor,
    chunk: u64,
) -> Result<Tensor> {
    let mut loss = std::ptr::null_mut();
    // SAFETY: live tensors for the call; the shim allocates `loss`.
    check(
        unsafe {
            lmeff_fused_linear_cross_entropy(
                raw(hidden),
                raw(weight),
                raw(target),
                chunk as i64,
                &mut loss,
            )
        },
        "fused linear + cross-entropy",
    )?;
    Ok(owned(loss))
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor};

    fn leaf(t: &Tensor) -> Tensor {
        t.detach().copy().set_requires_grad(true)
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    fn randn(shape: &[i64]) -> Tensor {
        Tensor::randn(shape, (Kind::Float, Device::Cpu))
    }

    #[test]
    fn swiglu_and_its_gradients_match_aten() {
        tch::manual_seed(1);
        let (g, u, dy) = (randn(&[2, 3, 8]), randn(&[2, 3, 8]), randn(&[2, 3, 8]));
        let (g1, u1, g2, u2) = (leaf(&g), leaf(&u), leaf(&g), leaf(&u));
        let y1 = super::swiglu(&g1, &u1).unwrap();
        let y2 = g2.silu() * &u2;
        assert_eq!(y1.size(), [2, 3, 8]);
        assert!(max_diff(&y1, &y2) < 1e-6);
        (&y1 * &dy).sum(Kind::Float).backward();
        (&y2 * &dy).sum(Kind::Float).backward();
        assert!(max_diff(&g1.grad(), &g2.grad()) < 1e-5);
        assert!(max_diff(&u1.grad(), &u2.grad()) < 1e-5);
    }

    #[test]
    fn add_rms_norm_and_its_gradients_match_aten_with_the_sum_used_again() {
        tch::manual_seed(2);
        let (x, r, dy, ds) = (
            randn(&[4, 16]),
            randn(&[4, 16]),
            randn(&[4, 16]),
            randn(&[4, 16]),
        );
        let w = randn(&[16]) * 0.1 + 1.0;
        let (x1, r1, w1, x2, r2, w2) = (leaf(&x), leaf(&r), leaf(&w), leaf(&x), leaf(&r), leaf(&w));
        let (y1, s1) = super::add_rms_norm(&x1, &r1, &w1, 1e-6).unwrap();
        let s2 = &x2 + &r2;
        let y2 = s2.rms_norm([16], Some(&w2), 1e-6);
        assert!(max_diff(&y1, &y2) < 1e-5 && max_diff(&s1, &s2) < 1e-6);
        // The sum is the next residual: its own gradient joins the norm's.
        ((&y1 * &dy).sum(Kind::Float) + (&s1 * &ds).sum(Kind::Float)).backward();
        ((&y2 * &dy).sum(Kind::Float) + (&s2 * &ds).sum(Kind::Float)).backward();
        for (a, b) in [(&x1, &x2), (&r1, &r2), (&w1, &w2)] {
            assert!(
                max_diff(&a.grad(), &b.grad()) < 1e-4,
                "{}",
                max_diff(&a.grad(), &b.grad())
            );
        }
    }

    #[test]
    fn rope_and_its_gradients_match_the_rotate_half_layout() {
        tch::manual_seed(3);
        let (b, t, h, d) = (2, 5, 3, 8);
        let (q, k) = (randn(&[b, t, h, d]), randn(&[b, t, h, d]));
        let angles = randn(&[9, d / 2]);
        let emb = Tensor::cat(&[&angles, &angles], -1);
        let (cos, sin) = (emb.cos(), emb.sin());
        let (q1, k1, q2, k2) = (leaf(&q), leaf(&k), leaf(&q), leaf(&k));
        let (oq, ok) = super::rope(&q1, &k1, &cos, &sin).unwrap();
        let reference = |x: &Tensor| {
            let (x1, x2) = (x.narrow(-1, 0, d / 2), x.narrow(-1, d / 2, d / 2));
            let turned = Tensor::cat(&[&x2.neg(), &x1], -1);
            let c = cos.narrow(0, 0, t).view([1, t, 1, d]);
            let s = sin.narrow(0, 0, t).view([1, t, 1, d]);
            x * c + turned * s
        };
        let (rq, rk) = (reference(&q2), reference(&k2));
        assert!(max_diff(&oq, &rq) < 1e-6 && max_diff(&ok, &rk) < 1e-6);
        let (dq, dk) = (randn(&[b, t, h, d]), randn(&[b, t, h, d]));
        ((&oq * &dq).sum(Kind::Float) + (&ok * &dk).sum(Kind::Float)).backward();
        ((&rq * &dq).sum(Kind::Float) + (&rk * &dk).sum(Kind::Float)).backward();
        assert!(max_diff(&q1.grad(), &q2.grad()) < 1e-5);
        assert!(max_diff(&k1.grad(), &k2.grad()) < 1e-5);
    }

    /// Chunks of 4 over 11 tokens (the last one short) give ATen's loss and gradients, and a
    /// scaled loss scales them.
    #[test]
    fn chunked_linear_cross_entropy_matches_aten() {
        tch::manual_seed(4);
        let (h, w) = (randn(&[11, 16]), randn(&[30, 16]) * 0.3);
        let target = Tensor::randint(30, [11], (Kind::Int64, Device::Cpu));
        let (h1, w1, h2, w2) = (leaf(&h), leaf(&w), leaf(&h), leaf(&w));
        let l1 = super::linear_cross_entropy(&h1, &w1, &target, 4).unwrap();
        let l2 = h2
            .linear(&w2, None::<Tensor>)
            .cross_entropy_for_logits(&target);
        assert!((l1.double_value(&[]) - l2.double_value(&[])).abs() < 1e-5);
        (l1 * 0.5).backward();
        (l2 * 0.5).backward();
        assert!(max_diff(&h1.grad(), &h2.grad()) < 1e-6);
        assert!(max_diff(&w1.grad(), &w2.grad()) < 1e-6);
        let e = super::linear_cross_entropy(&h1, &w1, &target, 0).unwrap_err();
        assert!(e.to_string().contains("chunk of no tokens"), "{e}");
    }

    /// bf16 in, bf16 out (silu computed in fp32).
    #[test]
    fn bf16_inputs_keep_their_dtype() {
        tch::manual_seed(5);
        let (g, u) = (randn(&[3, 8]), randn(&[3, 8]));
        let y = super::swiglu(&g.to_kind(Kind::BFloat16), &u.to_kind(Kind::BFloat16)).unwrap();
        assert_eq!(y.kind(), Kind::BFloat16);
        let want = (g.silu() * &u).to_kind(Kind::BFloat16).to_kind(Kind::Float);
        assert!(max_diff(&y.to_kind(Kind::Float), &want) < 0.05);
    }
}
