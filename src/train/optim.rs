//! AdamW with decoupled weight decay through ATen's fused multi-tensor kernel (`_fused_adamw_`),
//! and global-norm gradient clipping with `_foreach_norm`/`_foreach_mul_` — both via the C++ shim
//! (`src/shim/aten_shim.cpp`), since tch binds neither. The learning rate and the step counters are
//! device tensors, so a step never waits on the host. Norm weights get no weight decay (as the
//! study's HF Trainer).

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use tch::{Kind, Tensor};

use crate::shim::{self, AdamWStep};

/// Hyper-parameters of AdamW.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

/// One parameter group: the same weight decay for all.
struct Group {
    names: Vec<String>,
    params: Vec<Tensor>,
    exp_avgs: Vec<Tensor>,
    exp_avg_sqs: Vec<Tensor>,
    steps: Vec<Tensor>,
    weight_decay: f64,
}

/// AdamW over named parameters (`decay(name)` says which get weight decay).
pub struct AdamW {
    config: AdamWConfig,
    groups: Vec<Group>,
    lr: Tensor,
}

/// Norm weights get no weight decay.
pub fn decays(name: &str) -> bool {
    !name.ends_with("norm.weight")
}

impl AdamW {
    /// The trainer's optimizer for `params`: the preset's betas and epsilon, `weight_decay` on
    /// every weight but the norms'.
    pub fn for_training(
        params: &BTreeMap<String, Tensor>,
        t: &crate::config::TrainingDefaults,
        weight_decay: f64,
    ) -> AdamW {
        let config = AdamWConfig {
            beta1: t.adam_beta1,
            beta2: t.adam_beta2,
            eps: t.adam_epsilon,
            weight_decay,
        };
        AdamW::new(params, config, decays)
    }

    /// Zeroed moments and step counters for `params`, in name order.
    pub fn new(
        params: &BTreeMap<String, Tensor>,
        config: AdamWConfig,
        decay: impl Fn(&str) -> bool,
    ) -> AdamW {
        let device = params
            .values()
            .next()
            .map_or(tch::Device::Cpu, |t| t.device());
        let mut groups: Vec<Group> = [config.weight_decay, 0.0]
            .into_iter()
            .map(|weight_decay| Group {
                names: vec![],
                params: vec![],
                exp_avgs: vec![],
                exp_avg_sqs: vec![],
                steps: vec![],
                weight_decay,
            })
            .collect();
        for (name, p) in params {
            let g = &mut groups[usize::from(!decay(name))];
            g.names.push(name.clone());
            g.exp_avgs.push(p.zeros_like());
            g.exp_avg_sqs.push(p.zeros_like());
            g.steps.push(Tensor::zeros([], (Kind::Float, device)));
            g.params.push(p.shallow_clone());
        }
        AdamW {
            config,
            groups,
            lr: Tensor::zeros([], (Kind::Float, device)),
        }
    }

    /// Sets the learning rate of the next steps (a device-side fill, no synchronisation).
    pub fn set_lr(&mut self, lr: f64) {
        let _ = self.lr.fill_(lr);
    }

    /// All gradients, in group order (for clipping and all-reduce).
    pub fn grads(&self) -> Vec<Tensor> {
        self.groups
            .iter()
            .flat_map(|g| g.params.iter().map(|p| p.grad()))
            .collect()
    }

    /// Clips the gradients to a global L2 norm of `max_norm`; returns the norm before clipping as
    /// a device scalar.
    pub fn clip_grad_norm(&self, max_norm: f64) -> Result<Tensor> {
        shim::clip_grad_norm(&self.grads(), max_norm)
    }

    /// One AdamW step on every parameter.
    pub fn step(&mut self) -> Result<()> {
        let c = self.config;
        for g in &self.groups {
            let grads: Vec<Tensor> = g.params.iter().map(|p| p.grad()).collect();
            let h = AdamWStep {
                beta1: c.beta1,
                beta2: c.beta2,
                eps: c.eps,
                weight_decay: g.weight_decay,
            };
            shim::fused_adamw(
                &g.params,
                &grads,
                &g.exp_avgs,
                &g.exp_avg_sqs,
                &g.steps,
                &self.lr,
                h,
            )?;
        }
        Ok(())
    }

    /// Drops every gradient (torch's default `set_to_none`): the next backward writes fresh ones
    /// rather than adding into zeroed buffers, a fill and an add per parameter saved.
    pub fn zero_grad(&self) -> Result<()> {
        self.groups
            .iter()
            .try_for_each(|g| shim::clear_grads(&g.params))
    }

    /// The optimizer state by name: `exp_avg.<param>`, `exp_avg_sq.<param>`, `step.<param>`.
    pub fn state(&self) -> BTreeMap<String, Tensor> {
        let mut out = BTreeMap::new();
        for g in &self.groups {
            for (i, name) in g.names.iter().enumerate() {
                out.insert(format!("exp_avg.{name}"), g.exp_avgs[i].shallow_clone());
                out.insert(
                    format!("exp_avg_sq.{name}"),
                    g.exp_avg_sqs[i].shallow_clone(),
                );
                out.insert(format!("step.{name}"), g.steps[i].shallow_clone());
            }
        }
        out
    }

    /// Restores the state written by [`AdamW::state`]; every entry must be present.
    pub fn load_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<()> {
        for g in &mut self.groups {
            for (i, name) in g.names.iter().enumerate() {
                for (key, dst) in [
                    (format!("exp_avg.{name}"), &mut g.exp_avgs[i]),
                    (format!("exp_avg_sq.{name}"), &mut g.exp_avg_sqs[i]),
                    (format!("step.{name}"), &mut g.steps[i]),
                ] {
                    let src = state
                        .get(&key)
                        .ok_or_else(|| anyhow!("optimizer state lacks {key}"))?;
                    if src.size() != dst.size() {
                        return Err(anyhow!("optimizer state {key} has the wrong shape"));
                    }
                    tch::no_grad(|| dst.copy_(src));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// AdamW by hand (torch's formula) for one tensor and a few steps.
    #[test]
    fn fused_adamw_matches_the_formula() {
        let p = Tensor::from_slice(&[1.0f32, -2.0, 0.5]).set_requires_grad(true);
        let params = BTreeMap::from([("w.weight".to_owned(), p.shallow_clone())]);
        let cfg = AdamWConfig {
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8,
            weight_decay: 0.1,
        };
        let mut opt = AdamW::new(&params, cfg, |_| true);
        let (mut w, mut m, mut v) = ([1.0f64, -2.0, 0.5], [0.0f64; 3], [0.0f64; 3]);
        let lr = 0.01;
        opt.set_lr(lr);
        for t in 1..=3 {
            opt.zero_grad().unwrap();
            assert!(!p.grad().defined(), "step {t} starts without a gradient");
            let loss = (&p * &p * 3.0).sum(Kind::Float);
            loss.backward();
            opt.step().unwrap();
            for i in 0..3 {
                let g = 6.0 * w[i];
                w[i] *= 1.0 - lr * 0.1;
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.99 * v[i] + 0.01 * g * g;
                let mh = m[i] / (1.0 - 0.9f64.powi(t));
                let vh = v[i] / (1.0 - 0.99f64.powi(t));
                w[i] -= lr * mh / (vh.sqrt() + 1e-8);
            }
        }
        let got: Vec<f32> = Vec::try_from(&p.detach()).unwrap();
        for i in 0..3 {
            assert!((got[i] as f64 - w[i]).abs() < 1e-5, "{got:?} vs {w:?}");
        }
        assert_eq!(opt.state()["step.w.weight"].double_value(&[]), 3.0);
    }

    #[test]
    fn clipping_uses_the_global_norm() {
        let a = Tensor::zeros([2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let b = Tensor::zeros([1], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let params = BTreeMap::from([
            ("a".to_owned(), a.shallow_clone()),
            ("b".to_owned(), b.shallow_clone()),
        ]);
        let cfg = AdamWConfig {
            beta1: 0.9,
            beta2: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
        };
        let opt = AdamW::new(&params, cfg, |_| true);
        // grads (3, 0) and (4): global norm 5.
        (&a * Tensor::from_slice(&[3.0f32, 0.0]))
            .sum(Kind::Float)
            .backward();
        (&b * 4.0).sum(Kind::Float).backward();
        let norm = opt.clip_grad_norm(1.0).unwrap();
        assert!((norm.double_value(&[]) - 5.0).abs() < 1e-5);
        assert!((a.grad().double_value(&[0]) - 0.6).abs() < 1e-5);
        assert!((b.grad().double_value(&[0]) - 0.8).abs() < 1e-5);
    }
}
