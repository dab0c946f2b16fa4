//! One optimizer step, shared by the trainer and `lmeff bench train`: forward and backward over
//! the micro-batches (bf16 autocast when asked), global-norm clipping, fused AdamW. The loss is
//! added to a device scalar and the gradient norm returned as one: nothing here waits on the host.

use anyhow::Result;
use tch::Tensor;

use super::optim::{self, AdamW};
use crate::model::llama::next_token_loss;
use crate::model::Llama;

/// How the step computes.
#[derive(Debug, Clone, Copy)]
pub struct StepOptions {
    /// bf16 autocast (else fp32).
    pub bf16: bool,
    /// The model is on a CUDA device.
    pub cuda: bool,
    pub max_grad_norm: f64,
}

/// Runs one step over `micro_batches` (token windows `[batch, seq_len + 1]` on the model's device),
/// adding the mean loss to `loss_sum`. Returns the gradient norm before clipping.
pub fn train_step(
    model: &Llama,
    opt: &mut AdamW,
    micro_batches: impl ExactSizeIterator<Item = Result<Tensor>>,
    loss_sum: &Tensor,
    o: StepOptions,
) -> Result<Tensor> {
    opt.zero_grad();
    let n = micro_batches.len() as f64;
    for ids in micro_batches {
        let ids = ids?;
        let window = ids.size()[1];
        let input = ids.narrow(1, 0, window - 1);
        let target = ids.narrow(1, 1, window - 1);
        let forward = || next_token_loss(&model.forward(&input), &target);
        let loss = if o.bf16 {
            optim::autocast_bf16(o.cuda, forward)?
        } else {
            forward()
        } / n;
        loss.backward();
        let _ = tch::no_grad(|| loss_sum.shallow_clone().g_add_(&loss.detach()));
    }
    let norm = opt.clip_grad_norm(o.max_grad_norm)?;
    opt.step()?;
    Ok(norm)
}
