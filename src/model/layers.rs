//! The layers of the LLaMA decoder, as `LlamaForCausalLM` computes them: RMSNorm, attention with
//! rotary embeddings (rotate-half layout, causal SDPA, no biases), the SwiGLU MLP, and the
//! pre-norm block around them.

use anyhow::Result;
use tch::nn::{self, Init};
use tch::{Device, Kind, Tensor};

use crate::shim::fused;

use super::LlamaConfig;

/// One `nn.Linear` without bias: its weight is `[out, in]`.
pub(super) fn linear(p: &nn::Path, name: &str, in_dim: i64, out_dim: i64, std: f64) -> Tensor {
    (p / name).var(
        "weight",
        &[out_dim, in_dim],
        Init::Randn {
            mean: 0.0,
            stdev: std,
        },
    )
}

pub(super) fn norm(p: &nn::Path, name: &str, dim: i64) -> Tensor {
    (p / name).var("weight", &[dim], Init::Const(1.0))
}

struct Attention {
    q: Tensor,
    k: Tensor,
    v: Tensor,
    o: Tensor,
    heads: i64,
    head_dim: i64,
}

struct Mlp {
    gate: Tensor,
    up: Tensor,
    down: Tensor,
}

pub(super) struct Block {
    input_norm: Tensor,
    attn: Attention,
    post_norm: Tensor,
    mlp: Mlp,
}

impl Block {
    /// The variables of layer `p` (`model.layers.<l>`), initialised as HF does.
    pub(super) fn new(p: &nn::Path, c: &LlamaConfig) -> Block {
        let (h, i, std) = (
            c.hidden_size as i64,
            c.intermediate_size as i64,
            c.initializer_range,
        );
        let a = p / "self_attn";
        let m = p / "mlp";
        Block {
            input_norm: norm(p, "input_layernorm", h),
            attn: Attention {
                q: linear(&a, "q_proj", h, h, std),
                k: linear(&a, "k_proj", h, h, std),
                v: linear(&a, "v_proj", h, h, std),
                o: linear(&a, "o_proj", h, h, std),
                heads: c.num_attention_heads as i64,
                head_dim: c.head_dim(),
            },
            post_norm: norm(p, "post_attention_layernorm", h),
            mlp: Mlp {
                gate: linear(&m, "gate_proj", h, i, std),
                up: linear(&m, "up_proj", h, i, std),
                down: linear(&m, "down_proj", i, h, std),
            },
        }
    }

    /// The block for one token per row: `y` `[batch, 1, hidden]`, the input at position `last`,
    /// attending over `x` `[batch, time, hidden]` up to there.
    pub(super) fn forward_at(
        &self,
        x: &Tensor,
        y: &Tensor,
        last: &Tensor,
        (cos, sin): (&Tensor, &Tensor),
        eps: f64,
    ) -> Tensor {
        let a = rms_norm(x, &self.input_norm, eps);
        let (b, _, c) = a.size3().expect("x is [batch, time, hidden]");
        let a_last = a.gather(1, &last.view([b, 1, 1]).expand([b, 1, c], false), false);
        let y = y + self.attn.forward_at(&a, &a_last, last, (cos, sin));
        let m = rms_norm(&y, &self.post_norm, eps);
        &y + self.mlp.forward(&m)
    }

    /// The pre-norm block: `x + attn(norm(x))`, then `+ mlp(norm(·))`.
    pub(super) fn forward(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: Option<&Tensor>,
        eps: f64,
    ) -> Tensor {
        let a = rms_norm(x, &self.input_norm, eps);
        let x = x + self.attn.forward(&a, cos, sin, mask);
        let m = rms_norm(&x, &self.post_norm, eps);
        &x + self.mlp.forward(&m)
    }

    /// The block with the shim's fused ops, on the residual stream as a pair: the sum so far `s`
    /// and the update `d` not yet added (each norm adds it). Returns the next pair.
    pub(super) fn forward_fused(
        &self,
        (s, d): (&Tensor, &Tensor),
        (cos, sin): (&Tensor, &Tensor),
        eps: f64,
    ) -> Result<(Tensor, Tensor)> {
        let (a, s) = fused::add_rms_norm(d, s, &self.input_norm, eps)?;
        let d = self.attn.forward_fused(&a, cos, sin)?;
        let (m, s) = fused::add_rms_norm(&d, &s, &self.post_norm, eps)?;
        let gate = m.linear(&self.mlp.gate, None::<Tensor>);
        let up = m.linear(&self.mlp.up, None::<Tensor>);
        let d = fused::swiglu(&gate, &up)?.linear(&self.mlp.down, None::<Tensor>);
        Ok((s, d))
    }
}

impl Attention {
    /// Causal attention, or attention under `mask` (true = attend) when given.
    fn forward(&self, x: &Tensor, cos: &Tensor, sin: &Tensor, mask: Option<&Tensor>) -> Tensor {
        let q = apply_rope(&self.heads_of(x, &self.q), cos, sin);
        let k = apply_rope(&self.heads_of(x, &self.k), cos, sin);
        let v = self.heads_of(x, &self.v);
        let y = Tensor::scaled_dot_product_attention(
            &q,
            &k,
            &v,
            mask,
            0.0,
            mask.is_none(),
            None,
            false,
        );
        self.output(&y)
    }

    /// Causal attention with the fused RoPE (cos/sin: the whole tables).
    fn forward_fused(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        let (b, t, _) = x.size3().expect("x is [batch, time, hidden]");
        let split = |w: &Tensor| {
            x.linear(w, None::<Tensor>)
                .view([b, t, self.heads, self.head_dim])
        };
        let (q, k) = fused::rope(&split(&self.q), &split(&self.k), cos, sin)?;
        let v = split(&self.v).transpose(1, 2);
        let y = Tensor::scaled_dot_product_attention(
            &q.transpose(1, 2),
            &k.transpose(1, 2),
            &v,
            None::<&Tensor>,
            0.0,
            true,
            None,
            false,
        );
        Ok(self.output(&y))
    }

    /// `x` `[batch, time, hidden]` projected by `w` into heads `[batch, heads, time, head_dim]`.
    fn heads_of(&self, x: &Tensor, w: &Tensor) -> Tensor {
        let (b, t, _) = x.size3().expect("x is [batch, time, hidden]");
        x.linear(w, None::<Tensor>)
            .view([b, t, self.heads, self.head_dim])
            .transpose(1, 2)
    }

    /// Heads `[batch, heads, time, head_dim]` merged and projected out: `[batch, time, hidden]`.
    fn output(&self, y: &Tensor) -> Tensor {
        let (b, _, t, _) = y.size4().expect("y is [batch, heads, time, head_dim]");
        y.transpose(1, 2)
            .contiguous()
            .view([b, t, self.heads * self.head_dim])
            .linear(&self.o, None::<Tensor>)
    }

    /// Attention of one query per row, `x_q` `[batch, 1, hidden]` at position `last` `[batch]`,
    /// over the keys and values of `x` `[batch, time, hidden]` up to that position.
    fn forward_at(
        &self,
        x: &Tensor,
        x_q: &Tensor,
        last: &Tensor,
        (cos, sin): (&Tensor, &Tensor),
    ) -> Tensor {
        let (b, t, _) = x.size3().expect("x is [batch, time, hidden]");
        let at = |table: &Tensor| table.index_select(0, last).view([b, 1, 1, -1]);
        let q = apply_rope(&self.heads_of(x_q, &self.q), &at(cos), &at(sin));
        let k = apply_rope(&self.heads_of(x, &self.k), cos, sin);
        let v = self.heads_of(x, &self.v);
        let positions = Tensor::arange(t, (Kind::Int64, x.device())).view([1, 1, 1, t]);
        let mask = positions.less_equal_tensor(&last.view([b, 1, 1, 1]));
        let y =
            Tensor::scaled_dot_product_attention(&q, &k, &v, Some(&mask), 0.0, false, None, false);
        self.output(&y)
    }
}

impl Mlp {
    fn forward(&self, x: &Tensor) -> Tensor {
        let gate = x.linear(&self.gate, None::<Tensor>).silu();
        (gate * x.linear(&self.up, None::<Tensor>)).linear(&self.down, None::<Tensor>)
    }
}

/// HF's `LlamaRMSNorm`: `weight * x / sqrt(mean(x²) + eps)`, computed in fp32.
pub(super) fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Tensor {
    let dim = *x.size().last().expect("x has a last dim");
    let kind = x.kind();
    if kind == Kind::Float {
        x.rms_norm([dim], Some(weight), eps)
    } else {
        x.to_kind(Kind::Float)
            .rms_norm([dim], None::<Tensor>, eps)
            .to_kind(kind)
            * weight
    }
}

/// cos and sin `[max_positions, head_dim]` of the rotary embedding (HF's default rope, fp32).
pub(super) fn rope_tables(c: &LlamaConfig, device: Device) -> (Tensor, Tensor) {
    let hd = c.head_dim();
    let inv_freq = Tensor::arange_start_step(0, hd, 2, (Kind::Int64, device))
        .to_kind(Kind::Float)
        .divide_scalar(hd as f64);
    let inv_freq = Tensor::from(c.rope_theta as f32)
        .to_device(device)
        .pow(&inv_freq)
        .reciprocal();
    let pos = Tensor::arange(c.max_position_embeddings as i64, (Kind::Int64, device))
        .to_kind(Kind::Float);
    let freqs = pos.unsqueeze(1) * inv_freq.unsqueeze(0);
    let emb = Tensor::cat(&[&freqs, &freqs], -1);
    (emb.cos(), emb.sin())
}

/// `x * cos + rotate_half(x) * sin` for `x` `[batch, heads, time, head_dim]`.
fn apply_rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
    let half = x.size().last().copied().expect("x has a last dim") / 2;
    let x1 = x.narrow(-1, 0, half);
    let x2 = x.narrow(-1, half, half);
    let rotated = Tensor::cat(&[&x2.neg(), &x1], -1);
    let (cos, sin) = (cos.to_kind(x.kind()), sin.to_kind(x.kind()));
    x * cos + rotated * sin
}
