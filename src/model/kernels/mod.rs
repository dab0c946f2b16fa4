//! The launches of Liger-Kernel's fused Triton kernels (`env/kernels/liger.py` compiles them ahead
//! of time for sm_80 and sm_90): for each op lmeff fuses (SwiGLU, residual add + RMSNorm, RoPE on
//! q and k, linear + cross-entropy), the kernel, grid, warps and every argument, exactly as
//! Liger-Kernel 0.8.5's own Python launcher passes them. The end-to-end test `kernels` holds each
//! launch against the one Liger made under Triton's interpreter. [`manifest`] finds each planned
//! launch's compiled kernel for a GPU.

pub mod cuda;
pub mod launcher;
pub mod manifest;

pub use crate::config::memory::cross_entropy_chunk;

/// One argument of a launch, in the kernel's parameter order.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A tensor's data pointer: an input by its role, or a buffer the op allocates.
    Tensor(&'static str),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(&'static str),
    /// An absent optional pointer or value (a constexpr `None` in the compiled kernel).
    None,
    /// The Triton dtype of the activations (a constexpr).
    Dtype(&'static str),
}

/// One kernel launch: `grid` programs of `num_warps` × 32 threads.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub kernel: &'static str,
    pub grid: [u64; 3],
    pub num_warps: u32,
    pub args: Vec<(&'static str, Arg)>,
}

impl Launch {
    /// Threads per program.
    pub fn block(&self) -> u32 {
        self.num_warps * 32
    }

    /// The argument named `name`.
    pub fn arg(&self, name: &str) -> Option<&Arg> {
        self.args.iter().find(|(n, _)| *n == name).map(|(_, a)| a)
    }
}

/// Liger's `calculate_settings`: the power-of-two block covering `n` columns and its warps.
pub fn block_settings(n: u64) -> (u64, u32) {
    let block = n.next_power_of_two();
    let warps = match block {
        b if b >= 32768 => 32,
        b if b >= 8192 => 16,
        b if b >= 2048 => 8,
        _ => 4,
    };
    (block, warps)
}

fn one(rows: u64, kernel: &'static str, num_warps: u32, args: Vec<(&'static str, Arg)>) -> Launch {
    Launch {
        kernel,
        grid: [rows, 1, 1],
        num_warps,
        args,
    }
}

/// `silu(gate) · up` over `rows` rows of `cols` (the MLP's width), forward.
pub fn swiglu_forward(rows: u64, cols: u64) -> Launch {
    let (block, warps) = block_settings(cols);
    use Arg::*;
    let args = vec![
        ("a_ptr", Tensor("gate")),
        ("b_ptr", Tensor("up")),
        ("c_ptr", Tensor("out")),
        ("stride", Int(cols as i64)),
        ("gate_multiplier", Float(1.0)),
        ("n_cols", Int(cols as i64)),
        ("BLOCK_SIZE", Int(block as i64)),
    ];
    one(rows, "_swiglu_forward_kernel", warps, args)
}

/// SwiGLU's backward: the gradients overwrite `gate` and `up` in place.
pub fn swiglu_backward(rows: u64, cols: u64) -> Launch {
    let (block, warps) = block_settings(cols);
    use Arg::*;
    let args = vec![
        ("dc_ptr", Tensor("grad_out")),
        ("a_ptr", Tensor("gate")),
        ("b_ptr", Tensor("up")),
        ("stride", Int(cols as i64)),
        ("gate_multiplier", Float(1.0)),
        ("n_cols", Int(cols as i64)),
        ("BLOCK_SIZE", Int(block as i64)),
    ];
    one(rows, "_swiglu_backward_kernel", warps, args)
}

/// Liger's casting mode `llama`: the RMS in fp32, the weight applied in the activations' dtype
/// (transformers' `LlamaRMSNorm`).
const CASTING_LLAMA: i64 = 0;

/// `s = x + residual; y = rmsnorm(s) · weight` over `rows` rows of `cols`.
pub fn add_rms_norm_forward(rows: u64, cols: u64, eps: f64) -> Launch {
    let (block, warps) = block_settings(cols);
    let c = cols as i64;
    use Arg::*;
    let args = vec![
        ("Y_ptr", Tensor("out")),
        ("Y_row_stride", Int(c)),
        ("S_ptr", Tensor("sum")),
        ("S_row_stride", Int(c)),
        ("X_ptr", Tensor("x")),
        ("X_row_stride", Int(c)),
        ("R_ptr", Tensor("residual")),
        ("R_row_stride", Int(c)),
        ("W_ptr", Tensor("weight")),
        ("W_row_stride", Int(1)),
        ("RSTD_ptr", Tensor("rstd")),
        ("RSTD_row_stride", Int(1)),
        ("n_cols", Int(c)),
        ("eps", Float(eps)),
        ("offset", Float(0.0)),
        ("casting_mode", Int(CASTING_LLAMA)),
        ("BLOCK_SIZE", Int(block as i64)),
    ];
    one(rows, "_fused_add_rms_norm_forward_kernel", warps, args)
}

/// Rows per program of [`add_rms_norm_backward`] in training. A compile-time constant of the
/// kernel: fixing it (where Liger divides the rows by the device's multiprocessors) lets one
/// compiled kernel serve every batch and every GPU.
pub const RMS_NORM_ROWS_PER_PROGRAM: u64 = 64;

/// The backward of [`add_rms_norm_forward`]: programs of `rows_per_program` rows each, each
/// summing its rows' weight gradient into its row of a `[programs, cols]` fp32 buffer (summed
/// afterwards).
pub fn add_rms_norm_backward(
    rows: u64,
    cols: u64,
    rows_per_program: u64,
    dtype: &'static str,
) -> Launch {
    let programs = rows.div_ceil(rows_per_program);
    let (block, warps) = block_settings(cols);
    let c = cols as i64;
    use Arg::*;
    let args = vec![
        ("dY_ptr", Tensor("grad_out")),
        ("dY_row_stride", Int(c)),
        ("dS_out_ptr", Tensor("grad_sum")),
        ("dS_out_row_stride", Int(c)),
        ("dX_ptr", Tensor("grad_x")),
        ("dX_row_stride", Int(c)),
        ("X_ptr", Tensor("sum")),
        ("X_row_stride", Int(c)),
        ("X_dtype", Dtype(dtype)),
        ("W_ptr", Tensor("weight")),
        ("W_row_stride", Int(1)),
        ("RSTD_ptr", Tensor("rstd")),
        ("RSTD_row_stride", Int(1)),
        ("dW_ptr", Tensor("grad_weight_rows")),
        ("dW_row_stride", Int(c)),
        ("n_rows", Int(rows as i64)),
        ("n_cols", Int(c)),
        ("offset", Float(0.0)),
        ("rows_per_program", Int(rows_per_program as i64)),
        ("casting_mode", Int(CASTING_LLAMA)),
        ("BLOCK_SIZE", Int(block as i64)),
        ("has_dS_out", Bool(true)),
        ("COMPUTE_DW", Bool(true)),
    ];
    one(programs, "_fused_add_rms_norm_backward_kernel", warps, args)
}

/// RoPE on q and k `[batch, seq, heads, head_dim]` (contiguous) in place, with `cos`/`sin`
/// `[1, seq, head_dim]`; the backward is the same launch rotating the other way.
pub fn rope(batch: u64, seq: u64, heads: u64, head_dim: u64, backward: bool) -> Launch {
    let (pad_heads, pad_hd) = (heads.next_power_of_two(), head_dim.next_power_of_two());
    let row = (heads * head_dim) as i64;
    use Arg::*;
    let args = vec![
        ("q_ptr", Tensor("q")),
        ("q_row_stride", Int(row)),
        ("k_ptr", Tensor("k")),
        ("k_row_stride", Int(row)),
        ("cos", Tensor("cos")),
        ("cos_row_stride", Int(head_dim as i64)),
        ("sin", Tensor("sin")),
        ("sin_row_stride", Int(head_dim as i64)),
        ("sl", Int(seq as i64)),
        ("bs", Int(batch as i64)),
        ("cos_bs", Int(1)),
        ("n_qh", Int(heads as i64)),
        ("n_kh", Int(heads as i64)),
        ("hd", Int(head_dim as i64)),
        ("pad_n_qh", Int(pad_heads as i64)),
        ("pad_n_kh", Int(pad_heads as i64)),
        ("pad_hd", Int(pad_hd as i64)),
        ("pad_rd", Int(pad_hd as i64)),
        ("rd", Int(head_dim as i64)),
        ("BLOCK_SIZE", Int(pad_heads as i64)),
        ("BACKWARD_PASS", Bool(backward)),
    ];
    one(batch * seq, "_triton_rope", 4, args)
}

/// [`rope`] as training runs it: the batch's `tokens` as one sequence (the kernel's batch size is
/// a compile-time constant, so one compiled kernel serves every micro-batch), with `cos`/`sin`
/// gathered per token from the tables by position.
pub fn rope_tokens(tokens: u64, heads: u64, head_dim: u64, backward: bool) -> Launch {
    rope(1, tokens, heads, head_dim, backward)
}

/// The largest vocabulary tile of the cross-entropy kernel (Liger's `MAX_FUSED_SIZE` on CUDA).
const CE_MAX_BLOCK: u64 = 65536 / 2;

/// The cross-entropy launch of one chunk of `rows` tokens of a mean over `tokens`: each row's
/// loss ÷ `tokens` into `loss`, and the logits turned into their gradient in place.
pub fn cross_entropy_step(rows: u64, vocab: u64, tokens: u64) -> Launch {
    let block = vocab.next_power_of_two().min(CE_MAX_BLOCK);
    use Arg::*;
    let args = vec![
        ("X_ptr", Tensor("logits")),
        ("X_stride", Int(vocab as i64)),
        ("Y_ptr", Tensor("target")),
        ("Y_stride", Int(1)),
        ("weight_ptr", None),
        ("loss_ptr", Tensor("loss")),
        ("z_loss_ptr", None),
        ("loss_stride", Int(1)),
        ("token_accuracy_ptr", None),
        ("token_accuracy_stride", Int(0)),
        ("predicted_tokens_ptr", None),
        ("predicted_tokens_stride", Int(0)),
        ("n_cols", Int(vocab as i64)),
        ("n_non_ignore", Int(tokens as i64)),
        ("sum_non_ignore_weight", Int(tokens as i64)),
        ("weight_sum", Float(0.0)),
        ("ignore_index", Int(-100)),
        ("lse_square_scale", Float(0.0)),
        ("label_smoothing", Float(0.0)),
        ("reduction", Str("mean")),
        ("softcap", None),
        ("RETURN_Z_LOSS", Bool(false)),
        ("RETURN_TOKEN_ACCURACY", Bool(false)),
        ("RETURN_PREDICTED_TOKENS", Bool(false)),
        ("BLOCK_SIZE", Int(block as i64)),
        ("HAS_WEIGHT", Bool(false)),
        ("HAS_SOFTCAPPING", Bool(false)),
        ("HAS_GRADIENTS", Bool(true)),
    ];
    one(rows, "liger_cross_entropy_kernel", 32, args)
}

/// Fused linear + cross-entropy (mean over `tokens` targets) with `hidden` and `vocab`: the tokens
/// go in chunks of [`cross_entropy_chunk`]; per chunk the logits are computed by a matmul (cuBLAS,
/// through ATen), then one [`cross_entropy_step`] launch. Returns the chunks (first token, tokens)
/// and their launches.
pub fn linear_cross_entropy(tokens: u64, hidden: u64, vocab: u64) -> Vec<((u64, u64), Launch)> {
    let chunk = cross_entropy_chunk(tokens, hidden, vocab);
    (0..tokens.div_ceil(chunk))
        .map(|i| {
            let (start, rows) = (i * chunk, chunk.min(tokens - i * chunk));
            ((start, rows), cross_entropy_step(rows, vocab, tokens))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_settings_follow_liger() {
        assert_eq!(block_settings(64), (64, 4));
        assert_eq!(block_settings(768), (1024, 4));
        assert_eq!(block_settings(1792), (2048, 8));
        assert_eq!(block_settings(16000), (16384, 16));
        assert_eq!(block_settings(32000), (32768, 32));
    }

    /// The 180m preset's loss at 256 × 256 tokens and vocab 32000: chunks of 2048 tokens, whose
    /// bf16 logits are 131 MB instead of 4.2 GB for all of them, in 32 launches.
    #[test]
    fn cross_entropy_chunks_bound_the_logits() {
        let launches = linear_cross_entropy(65536, 768, 32000);
        assert_eq!(launches.len(), 32);
        assert_eq!(launches[0].0, (0, 2048));
        assert_eq!(launches[31].0, (63488, 2048));
        let l = &launches[0].1;
        assert_eq!((l.grid, l.block()), ([2048, 1, 1], 1024));
        assert_eq!(l.arg("BLOCK_SIZE"), Some(&Arg::Int(32768)));
        // An uneven last chunk: 11 tokens at hidden 64 and vocab 300 go in chunks of 4.
        let uneven = linear_cross_entropy(11, 64, 300);
        assert_eq!(
            uneven.iter().map(|c| c.0).collect::<Vec<_>>(),
            [(0, 4), (4, 4), (8, 3)]
        );
    }
}
