//! A LLaMA decoder with `LlamaForCausalLM`'s forward pass: embeddings; per layer RMSNorm →
//! attention (RoPE in the rotate-half layout, causal SDPA, no biases) → residual, RMSNorm → SwiGLU
//! MLP → residual; final RMSNorm and the (optionally tied) LM head. Variables live in a tch
//! `VarStore` under their HF names (`model.layers.0.self_attn.q_proj.weight`, …).

use anyhow::{bail, Result};
use tch::nn::{self, Init};
use tch::{Device, Kind, Tensor};

use super::layers::{linear, norm, rms_norm, rope_tables, Block};
use super::LlamaConfig;

/// The model; `forward` gives logits for every position.
pub struct Llama {
    pub config: LlamaConfig,
    embed: Tensor,
    layers: Vec<Block>,
    norm: Tensor,
    lm_head: Option<Tensor>,
    cos: Tensor,
    sin: Tensor,
    /// The training loss through the shim's fused ops, activations in this dtype (`None`: ATen's).
    fused: Option<Kind>,
}

impl Llama {
    /// Creates the variables in `vs` with HF's initialisation: normal(0, initializer_range) for
    /// embeddings and projections (the `<pad>` row zeroed), ones for norms. Seed tch first for a
    /// reproducible draw.
    pub fn new(vs: &nn::VarStore, config: &LlamaConfig) -> Result<Llama> {
        let c = config;
        let (h, std) = (c.hidden_size as i64, c.initializer_range);
        let root = vs.root();
        let model = &root / "model";
        let embed = (&model / "embed_tokens").var(
            "weight",
            &[c.vocab_size as i64, h],
            Init::Randn {
                mean: 0.0,
                stdev: std,
            },
        );
        if let Some(pad) = c.pad_token_id.filter(|&p| p < c.vocab_size) {
            let _ = tch::no_grad(|| embed.get(pad as i64).zero_());
        }
        let layers = (0..c.num_hidden_layers)
            .map(|l| Block::new(&(&model / "layers" / l), c))
            .collect();
        let norm = norm(&model, "norm", h);
        let lm_head =
            (!c.tie_word_embeddings).then(|| linear(&root, "lm_head", h, c.vocab_size as i64, std));
        let (cos, sin) = rope_tables(c, vs.device());
        Ok(Llama {
            config: c.clone(),
            embed,
            layers,
            norm,
            lm_head,
            cos,
            sin,
            fused: None,
        })
    }

    /// Computes [`Llama::loss`] with the shim's fused ops (SwiGLU, residual add + RMSNorm, RoPE,
    /// chunked linear + cross-entropy), activations in `kind`; on CUDA the kernels must be
    /// installed (`model::kernels::launcher::install`) and `kind` bf16.
    pub fn use_fused(&mut self, kind: Kind) {
        self.fused = Some(kind);
    }

    /// The mean next-token cross-entropy of `input` `[batch, time]` against `target`, in fp32:
    /// [`next_token_loss`] of the logits, or the fused ops' when chosen ([`Llama::use_fused`]).
    pub fn loss(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        let Some(kind) = self.fused else {
            return Ok(next_token_loss(&self.forward(input), target));
        };
        if self.device().is_cuda() && kind != Kind::BFloat16 {
            bail!("the fused kernels compute in bf16 on CUDA (precision = \"bf16\" or \"auto\")");
        }
        let eps = self.config.rms_norm_eps;
        // The residual stream: the sum so far and the update the next norm adds.
        let mut s = Tensor::embedding(&self.embed, input, -1, false, false).to_kind(kind);
        let mut d = s.zeros_like();
        for b in &self.layers {
            (s, d) = b.forward_fused((&s, &d), (&self.cos, &self.sin), eps)?;
        }
        let (hidden, _) = crate::shim::fused::add_rms_norm(&d, &s, &self.norm, eps)?;
        let h = i64::from(self.config.hidden_size);
        let tokens = hidden.numel() as u64 / h as u64;
        let chunk = super::kernels::cross_entropy_chunk(
            tokens,
            h as u64,
            u64::from(self.config.vocab_size),
        );
        let weight = self.lm_head.as_ref().unwrap_or(&self.embed);
        crate::shim::fused::linear_cross_entropy(
            &hidden.reshape([-1, h]),
            weight,
            &target.reshape([-1]),
            chunk,
        )
    }

    /// Loads a checkpoint folder (`config.json` + `model.safetensors`, lmeff's or any HF Llama's
    /// of the supported shape) onto `device`. The returned store owns the weights.
    pub fn load(dir: &std::path::Path, device: Device) -> Result<(Llama, nn::VarStore)> {
        let config = LlamaConfig::load(&dir.join(crate::config::layout::checkpoint::CONFIG_FILE))?;
        let mut vs = nn::VarStore::new(device);
        let model = Llama::new(&vs, &config)?;
        let file = dir.join(crate::config::layout::checkpoint::MODEL_FILE);
        super::weights::copy_into(&vs, &super::weights::load(&file)?, &file)?;
        vs.freeze();
        Ok((model, vs))
    }

    /// Logits `[batch, time, vocab]` for token ids `[batch, time]`.
    pub fn forward(&self, ids: &Tensor) -> Tensor {
        self.project(&self.hidden(ids))
    }

    /// The device holding the weights.
    pub fn device(&self) -> Device {
        self.embed.device()
    }

    /// Logits for final hidden states `[…, hidden]` (the LM head).
    pub fn project(&self, hidden: &Tensor) -> Tensor {
        hidden.linear(self.lm_head.as_ref().unwrap_or(&self.embed), None::<Tensor>)
    }

    /// The final normalized hidden states `[batch, time, hidden]`.
    pub fn hidden(&self, ids: &Tensor) -> Tensor {
        let (_, t) = ids.size2().expect("ids are [batch, time]");
        let cos = self.cos.narrow(0, 0, t);
        let sin = self.sin.narrow(0, 0, t);
        self.layers_forward(ids, &cos, &sin, None)
    }

    /// Hidden states of packed token trees: token `i` of row `b` sits at rotary position
    /// `positions[b, i]` and attends where `mask[b, 0, i, j]` is true (e.g. two sentences sharing
    /// their prefix, computed once).
    pub fn hidden_packed(&self, ids: &Tensor, positions: &Tensor, mask: &Tensor) -> Tensor {
        let (b, t) = ids.size2().expect("ids are [batch, time]");
        let gather = |table: &Tensor| {
            table
                .index_select(0, &positions.reshape([-1]))
                .view([b, 1, t, -1])
        };
        self.layers_forward(ids, &gather(&self.cos), &gather(&self.sin), Some(mask))
    }

    /// The final normalized hidden state `[batch, hidden]` of each row's token at `last`
    /// `[batch]`: [`Llama::hidden`] read there, but the last layer runs for those tokens only
    /// (their keys and values still come from every position up to them). What a classifier
    /// pooling the last token needs, for a layer's less work.
    pub fn hidden_at(&self, ids: &Tensor, last: &Tensor) -> Tensor {
        let (b, t) = ids.size2().expect("ids are [batch, time]");
        let (cos, sin) = (self.cos.narrow(0, 0, t), self.sin.narrow(0, 0, t));
        let eps = self.config.rms_norm_eps;
        let (before, end) = self.layers.split_at(self.layers.len().saturating_sub(1));
        let mut x = Tensor::embedding(&self.embed, ids, -1, false, false);
        for l in before {
            x = l.forward(&x, &cos, &sin, None, eps);
        }
        let c = i64::from(self.config.hidden_size);
        let at_last =
            |h: &Tensor| h.gather(1, &last.view([b, 1, 1]).expand([b, 1, c], false), false);
        let mut y = at_last(&x);
        if let Some(l) = end.first() {
            y = l.forward_at(&x, &y, last, (&cos, &sin), eps);
        }
        rms_norm(&y, &self.norm, eps).squeeze_dim(1)
    }

    fn layers_forward(
        &self,
        ids: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: Option<&Tensor>,
    ) -> Tensor {
        let eps = self.config.rms_norm_eps;
        let mut x = Tensor::embedding(&self.embed, ids, -1, false, false);
        for b in &self.layers {
            x = b.forward(&x, cos, sin, mask, eps);
        }
        rms_norm(&x, &self.norm, eps)
    }
}

/// Mean next-token cross-entropy of `logits` `[batch, time, vocab]` against `targets`
/// `[batch, time]`, in fp32.
pub fn next_token_loss(logits: &Tensor, targets: &Tensor) -> Tensor {
    let v = *logits.size().last().expect("logits have a vocab dim");
    logits
        .to_kind(Kind::Float)
        .reshape([-1, v])
        .cross_entropy_for_logits(&targets.reshape([-1]))
}

/// A two-layer model of width 16 and 50 tokens, for unit tests.
#[cfg(test)]
pub(crate) fn tiny_config(initializer_range: f64) -> LlamaConfig {
    let mut c = LlamaConfig::from_shape(
        &crate::config::ModelShape {
            hidden_size: 16,
            intermediate_size: 32,
            num_attention_heads: 2,
            num_hidden_layers: 2,
            max_position_embeddings: 32,
            rms_norm_eps: 1e-6,
            rope_theta: 10000.0,
            tie_word_embeddings: false,
        },
        50,
    );
    c.initializer_range = initializer_range;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The last layer run for the last tokens only gives the full pass's hidden states there,
    /// whatever follows them (right padding) and wherever they sit.
    #[test]
    fn hidden_at_the_last_tokens_equals_the_full_pass_read_there() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = Llama::new(&vs, &tiny_config(0.5)).unwrap();
        let ids = Tensor::randint(50, [3, 7], (Kind::Int64, Device::Cpu));
        let last = Tensor::from_slice(&[6i64, 2, 0]);
        let full = m.hidden(&ids);
        let at = m.hidden_at(&ids, &last);
        for (row, &l) in [6i64, 2, 0].iter().enumerate() {
            let want = full.get(row as i64).get(l);
            let diff = (&at.get(row as i64) - &want).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "row {row}: {diff}");
        }
        // Padding after the last token changes nothing.
        let other = ids.copy();
        let _ = other.get(1).narrow(0, 3, 4).fill_(0);
        let again = m.hidden_at(&other, &last);
        let diff = (&again.get(1) - &at.get(1)).abs().max().double_value(&[]);
        assert!(diff < 1e-6, "{diff}");
    }

    fn tiny() -> LlamaConfig {
        tiny_config(0.02)
    }

    /// The fused ops' loss and every weight's gradient equal ATen's (fp32 on the CPU, where the
    /// shim computes each kernel step with ATen), the LM head tied or not.
    #[test]
    fn fused_loss_and_gradients_equal_atens() {
        for tied in [false, true] {
            let mut c = tiny_config(0.3);
            c.tie_word_embeddings = tied;
            tch::manual_seed(7);
            let vs = nn::VarStore::new(Device::Cpu);
            let mut m = Llama::new(&vs, &c).unwrap();
            let ids = Tensor::randint(50, [3, 9], (Kind::Int64, Device::Cpu));
            let (input, target) = (ids.narrow(1, 0, 8), ids.narrow(1, 1, 8));
            let grads = |m: &Llama| {
                crate::shim::clear_grads(&vs.trainable_variables()).unwrap();
                let loss = m.loss(&input, &target).unwrap();
                loss.backward();
                let mut g: Vec<(String, Tensor)> = vs
                    .variables()
                    .into_iter()
                    .map(|(n, v)| (n, v.grad().copy()))
                    .collect();
                g.sort_by(|a, b| a.0.cmp(&b.0));
                (loss.double_value(&[]), g)
            };
            let (aten_loss, aten) = grads(&m);
            m.use_fused(Kind::Float);
            let (fused_loss, fused) = grads(&m);
            assert!(
                (aten_loss - fused_loss).abs() < 1e-5,
                "{aten_loss} {fused_loss}"
            );
            assert_eq!(aten.len(), if tied { 2 * 9 + 2 } else { 2 * 9 + 3 });
            for ((name, a), (_, f)) in aten.iter().zip(&fused) {
                let scale = a.abs().max().double_value(&[]).max(1e-3);
                let diff = (a - f).abs().max().double_value(&[]);
                assert!(diff / scale < 1e-4, "{name}: {diff} of {scale}");
            }
        }
    }

    #[test]
    fn names_shapes_and_causality() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = Llama::new(&vs, &tiny()).unwrap();
        let vars = vs.variables();
        assert_eq!(vars.len(), 2 * 9 + 3);
        assert_eq!(vars["model.layers.1.mlp.gate_proj.weight"].size(), [32, 16]);
        assert_eq!(vars["lm_head.weight"].size(), [50, 16]);
        assert_eq!(
            vars["model.embed_tokens.weight"]
                .get(0)
                .abs()
                .sum(Kind::Float)
                .double_value(&[]),
            0.0
        );
        let ids = Tensor::from_slice(&[5i64, 9, 3, 7, 11, 4]).view([1, 6]);
        let full = m.forward(&ids);
        assert_eq!(full.size(), [1, 6, 50]);
        // Position 2's logits do not depend on later tokens.
        let prefix = m.forward(&ids.narrow(1, 0, 3));
        let diff = (full.narrow(1, 0, 3) - prefix)
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-6, "{diff}");
    }

    #[test]
    fn rope_rotates_pairs_half_apart() {
        let c = tiny();
        let (cos, sin) = rope_tables(&c, Device::Cpu);
        // Position 0 is the identity; cos² + sin² = 1 everywhere.
        assert_eq!(cos.get(0).mean(Kind::Float).double_value(&[]), 1.0);
        let one = (&cos * &cos + &sin * &sin - 1.0)
            .abs()
            .max()
            .double_value(&[]);
        assert!(one < 1e-6);
        // First frequency is 1 rad per position, in both halves.
        let hd = c.head_dim();
        assert!((sin.double_value(&[1, 0]) - 1f64.sin()).abs() < 1e-6);
        assert!((sin.double_value(&[1, hd / 2]) - 1f64.sin()).abs() < 1e-6);
    }
}
