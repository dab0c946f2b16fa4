//! One optimizer step, shared by the trainer, `lmeff bench train` and GLUE fine-tuning
//! ([`step_with`] takes any loss): forward and backward over
//! this rank's micro-batches (bf16 autocast when asked), gradients averaged across ranks, global-norm
//! clipping, fused AdamW. The loss is added to a device scalar and the gradient norm returned as
//! one: on one GPU nothing here waits on the host.

use anyhow::Result;
use tch::Tensor;

use super::optim::AdamW;
use crate::device::Compute;
use crate::dist::{CommDtype, World};
use crate::model::Llama;

/// How the step computes.
#[derive(Debug, Clone, Copy)]
pub struct StepOptions {
    /// The device and precision.
    pub compute: Compute,
    pub max_grad_norm: f64,
    /// Element type of the gradient all-reduce.
    pub comm: CommDtype,
    /// This rank's share of the global batch times the world size (1 for even shares): the loss
    /// is scaled by it so that averaging across ranks gives the global mean.
    pub loss_scale: f64,
}

/// What one step reports.
pub struct StepOutcome {
    /// The gradient norm before clipping (a device scalar).
    pub norm: Tensor,
    /// Seconds spent in the gradient all-reduce.
    pub comm_secs: f64,
}

/// Runs one step over `micro_batches` (token windows `[batch, seq_len + 1]` on the model's device),
/// adding this rank's (scaled) mean loss to `loss_sum`.
pub fn train_step(
    model: &Llama,
    opt: &mut AdamW,
    world: &World,
    mut micro_batches: impl ExactSizeIterator<Item = Result<Tensor>>,
    loss_sum: &Tensor,
    o: StepOptions,
) -> Result<StepOutcome> {
    let n = micro_batches.len();
    step_with(opt, world, n, loss_sum, o, |_| {
        let ids = micro_batches
            .next()
            .expect("as many micro-batches as it said")?;
        let window = ids.size()[1];
        let input = ids.narrow(1, 0, window - 1);
        let target = ids.narrow(1, 1, window - 1);
        model.loss(&input, &target)
    })
}

/// One step of any objective: for each of `n` micro-batches, `loss(i)` (run under the step's
/// autocast) scaled and back-propagated; then gradients averaged across ranks, clipped, and AdamW.
pub fn step_with(
    opt: &mut AdamW,
    world: &World,
    n: usize,
    loss_sum: &Tensor,
    o: StepOptions,
    mut loss: impl FnMut(usize) -> Result<Tensor>,
) -> Result<StepOutcome> {
    opt.zero_grad()?;
    for i in 0..n {
        let l = o.compute.autocast(|| loss(i))?? * (o.loss_scale / n as f64);
        // An error in the backward (a fused kernel's launch) is an error, not a panic.
        l.f_backward()?;
        let _ = tch::no_grad(|| loss_sum.shallow_clone().g_add_(&l.detach()));
    }
    let mut comm_secs = 0.0;
    if world.is_distributed() {
        let t0 = std::time::Instant::now();
        world.average_gradients(&opt.grads(), o.comm)?;
        comm_secs = t0.elapsed().as_secs_f64();
    }
    let norm = opt.clip_grad_norm(o.max_grad_norm)?;
    opt.step()?;
    Ok(StepOutcome { norm, comm_secs })
}
