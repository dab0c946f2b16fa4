//! Fine-tuning one classifier on one task, the BabyLM pipeline's recipe on the trainer's parts: the
//! trainer's optimizer step ([`step_with`]: autocast, clipping at 1.0, fused AdamW), AdamW at
//! lr 5e-5 without weight decay, decaying linearly to 0 over all epochs without warm-up, batches
//! of 64, an evaluation on the dev set after every epoch, early stopping after 3 epochs without
//! improvement ([`EarlyStopping::patience`]) and the best epoch's weights kept for the test set.
//!
//! Batches are length-bucketed: each epoch's shuffled order (a seeded hash of the example) is cut
//! into windows of 50 batches, each window sorted by length, and the batches shuffled again, so a
//! batch is padded only to its own longest example. Padding is on the right, where the causal mask
//! and last-token pooling never look.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};
use tracing::info;

use super::metrics::{metrics, Metrics};
use crate::data::glue::tasks::{Metric, Task};
use crate::device::{upload, Compute};
use crate::dist::{CommDtype, World};
use crate::model::classifier::Classifier;
use crate::model::weights;
use crate::rng::mix64;
use crate::train::early_stop::{EarlyStop, EarlyStopping};
use crate::train::optim::{AdamW, AdamWConfig};
use crate::train::step::{step_with, StepOptions};

/// The recipe.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    pub learning_rate: f64,
    pub batch_size: usize,
    pub max_epochs: u32,
    pub patience: u32,
    pub seed: u64,
}

impl Default for Recipe {
    fn default() -> Self {
        Recipe {
            learning_rate: 5e-5,
            batch_size: 64,
            max_epochs: 10,
            patience: 3,
            seed: 12,
        }
    }
}

/// Encoded examples of one split.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub ids: Vec<Vec<i64>>,
    pub labels: Vec<i64>,
}

/// One epoch: its mean training loss and its dev metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Epoch {
    pub epoch: u32,
    pub train_loss: f64,
    pub dev: Metrics,
}

/// What fine-tuning gives: every epoch, the chosen (best) epoch, and its predictions.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub epochs: Vec<Epoch>,
    pub best_epoch: u32,
    pub dev_logits: Vec<Vec<f32>>,
    pub test_logits: Vec<Vec<f32>>,
    pub dev: Metrics,
    pub test: Metrics,
}

/// Batches of epoch `epoch`: indices into `lengths`, length-bucketed.
pub fn batches(lengths: &[usize], batch: usize, seed: u64, epoch: u32) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| mix64(seed, u64::from(epoch), i as u64));
    let mut out: Vec<Vec<usize>> = Vec::new();
    for window in order.chunks(batch * 50) {
        let mut w = window.to_vec();
        w.sort_by_key(|&i| lengths[i]);
        out.extend(w.chunks(batch).map(<[usize]>::to_vec));
    }
    let salt = u64::from(epoch) | 1 << 32;
    let mut keyed: Vec<(u64, Vec<usize>)> = out
        .into_iter()
        .enumerate()
        .map(|(b, v)| (mix64(seed, salt, b as u64), v))
        .collect();
    keyed.sort_by_key(|(k, _)| *k);
    keyed.into_iter().map(|(_, v)| v).collect()
}

/// Right-padded ids `[b, longest]` and last-token positions `[b]` of examples `rows`.
fn pad(ids: &[Vec<i64>], rows: &[usize], pad_id: i64, device: tch::Device) -> (Tensor, Tensor) {
    let longest = rows.iter().map(|&i| ids[i].len()).max().unwrap_or(1);
    let mut flat = Vec::with_capacity(rows.len() * longest);
    let mut last = Vec::with_capacity(rows.len());
    for &i in rows {
        flat.extend_from_slice(&ids[i]);
        flat.extend(std::iter::repeat_n(pad_id, longest - ids[i].len()));
        last.push(ids[i].len() as i64 - 1);
    }
    (
        upload(Tensor::from_slice(&flat), device).view([rows.len() as i64, longest as i64]),
        upload(Tensor::from_slice(&last), device),
    )
}

/// Logits (fp32) of every example of `split`, in batches of similar length.
pub fn predict(
    model: &Classifier,
    split: &Encoded,
    batch: usize,
    pad_id: i64,
    compute: Compute,
) -> Result<Vec<Vec<f32>>> {
    let mut order: Vec<usize> = (0..split.ids.len()).collect();
    order.sort_by_key(|&i| split.ids[i].len());
    let mut out = vec![Vec::new(); split.ids.len()];
    tch::no_grad(|| -> Result<()> {
        for rows in order.chunks(batch) {
            let (ids, last) = pad(&split.ids, rows, pad_id, compute.device);
            let logits = compute.autocast(|| model.forward(&ids, &last))?;
            let k = logits.size()[1] as usize;
            let flat = Vec::<f32>::try_from(logits.to_device(tch::Device::Cpu).reshape([-1]))?;
            for (&i, row) in rows.iter().zip(flat.chunks(k)) {
                out[i] = row.to_vec();
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// The label each row of logits gives (the first of equal ones, as `argmax`).
pub fn argmax(logits: &[Vec<f32>]) -> Vec<i64> {
    logits
        .iter()
        .map(|l| {
            l.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &x)| {
                    if x > best.1 {
                        (i, x)
                    } else {
                        best
                    }
                })
                .0 as i64
        })
        .collect()
}

/// One fine-tuning: the classifier and its trainable weights, the task and its encoded splits,
/// the recipe, and where to trace it.
#[derive(Clone, Copy)]
pub struct Job<'a> {
    pub model: &'a Classifier,
    pub params: &'a BTreeMap<String, Tensor>,
    pub task: &'a Task,
    pub train: &'a Encoded,
    pub dev: &'a Encoded,
    pub test: &'a Encoded,
    pub recipe: Recipe,
    pub pad_id: i64,
    pub compute: Compute,
    /// Where to write the initial weights (`init.safetensors`) and every step's examples,
    /// learning rate and loss (`steps.jsonl`), so another implementation can replay the run.
    pub trace: Option<&'a Path>,
}

/// Fine-tunes the job's model on `train`, choosing the epoch by `dev`, and scores `test` with the
/// chosen weights (copied back into `params`).
pub fn finetune(job: Job) -> Result<Outcome> {
    let Job {
        model,
        params,
        task,
        train,
        dev,
        test,
        recipe,
        pad_id,
        compute,
        trace,
    } = job;
    if let Some(dir) = trace {
        fs_err::create_dir_all(dir)?;
        weights::save(params, &dir.join("init.safetensors"))?;
    }
    let mut steps: Vec<serde_json::Value> = Vec::new();
    let k = task.num_labels();
    let config = AdamWConfig {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
    };
    let mut opt = AdamW::new(params, config, |_| true);
    let lengths: Vec<usize> = train.ids.iter().map(Vec::len).collect();
    let per_epoch = lengths.len().div_ceil(recipe.batch_size);
    let total = (per_epoch * recipe.max_epochs as usize).max(1) as f64;
    let step_options = StepOptions {
        compute,
        max_grad_norm: 1.0,
        comm: CommDtype::Fp32,
        loss_scale: 1.0,
    };
    let world = World::single();
    let mut early = EarlyStopping::patience(recipe.patience);
    let mut es = EarlyStop::default();
    let (mut epochs, mut step) = (Vec::new(), 0usize);
    // The best epoch's dev logits: its weights give them again, so they are kept, not recomputed.
    let mut best_dev_logits = Vec::new();
    for epoch in 1..=recipe.max_epochs {
        let started = Instant::now();
        let loss_sum = Tensor::zeros([], (Kind::Float, compute.device));
        let plan = batches(&lengths, recipe.batch_size, recipe.seed, epoch);
        for rows in &plan {
            let lr = recipe.learning_rate * (total - step as f64).max(0.0) / total;
            opt.set_lr(lr);
            let (ids, last) = pad(&train.ids, rows, pad_id, compute.device);
            let labels: Vec<i64> = rows.iter().map(|&i| train.labels[i]).collect();
            let labels = upload(Tensor::from_slice(&labels), compute.device);
            let step_loss = Tensor::zeros([], (Kind::Float, compute.device));
            step_with(&mut opt, &world, 1, &step_loss, step_options, |_| {
                Ok(model.forward(&ids, &last).cross_entropy_for_logits(&labels))
            })?;
            let _ = tch::no_grad(|| loss_sum.shallow_clone().g_add_(&step_loss));
            if trace.is_some() {
                let loss = step_loss.double_value(&[]);
                steps.push(
                    serde_json::json!({"epoch": epoch, "rows": rows, "lr": lr, "loss": loss}),
                );
            }
            step += 1;
        }
        let dev_logits = predict(model, dev, recipe.batch_size, pad_id, compute)?;
        let m = metrics(&dev.labels, &argmax(&dev_logits), k);
        let train_loss = loss_sum.double_value(&[]) / plan.len().max(1) as f64;
        if !train_loss.is_finite() {
            bail!(
                "{} epoch {epoch}: the training loss is {train_loss}: the weights are damaged or \
                 fine-tuning diverged; nothing was written",
                task.name
            );
        }
        epochs.push(Epoch {
            epoch,
            train_loss,
            dev: m,
        });
        let watched = task.watch.pick(m.accuracy, m.f1, m.mcc);
        let measure = match task.watch {
            Metric::F1 => "F1",
            Metric::Accuracy => "accuracy",
            Metric::Mcc => "MCC",
        };
        let secs = started.elapsed().as_secs_f64();
        let left = recipe.max_epochs.saturating_sub(epoch) as f64 * secs;
        info!(
            "{} epoch {epoch}/{}: train loss {train_loss:.4}, dev {measure} {watched:.4} ({secs:.1} s, {:.0} training examples/s; ETA at most {})",
            task.name,
            recipe.max_epochs,
            lengths.len() as f64 / secs,
            crate::progress::eta_text(left)
        );
        let stop = early.observe(&mut es, -watched, u64::from(epoch), 0, params);
        if es.best_step == u64::from(epoch) {
            best_dev_logits = dev_logits;
        }
        if stop {
            break;
        }
    }
    if let Some(dir) = trace {
        let lines: String = steps.iter().map(|v| v.to_string() + "\n").collect();
        crate::io::write_bytes_atomic(&dir.join("steps.jsonl"), lines.as_bytes())?;
    }
    if let Some(best) = early.best() {
        tch::no_grad(|| {
            for (name, p) in params {
                p.shallow_clone().copy_(&best[name]);
            }
        });
    }
    let test_logits = predict(model, test, recipe.batch_size, pad_id, compute)?;
    let dev_logits = if best_dev_logits.is_empty() && !dev.ids.is_empty() {
        predict(model, dev, recipe.batch_size, pad_id, compute)?
    } else {
        best_dev_logits
    };
    Ok(Outcome {
        best_epoch: es.best_step as u32,
        dev: metrics(&dev.labels, &argmax(&dev_logits), k),
        test: metrics(&test.labels, &argmax(&test_logits), k),
        dev_logits,
        test_logits,
        epochs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_example_once_per_epoch_and_differ_by_epoch() {
        let lengths: Vec<usize> = (0..1000).map(|i| 5 + (i * 37) % 120).collect();
        let one = batches(&lengths, 64, 12, 1);
        let mut seen: Vec<usize> = one.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
        assert_eq!(one.len(), 1000usize.div_ceil(64));
        // Within a batch, lengths are close: the spread is far below the data's.
        let spread: usize = one
            .iter()
            .map(|b| {
                b.iter().map(|&i| lengths[i]).max().unwrap()
                    - b.iter().map(|&i| lengths[i]).min().unwrap()
            })
            .max()
            .unwrap();
        assert!(spread < 20, "{spread}");
        assert_ne!(one, batches(&lengths, 64, 12, 2));
        assert_eq!(one, batches(&lengths, 64, 12, 1));
    }

    #[test]
    fn early_stopping_keeps_the_best_epoch_and_waits_three() {
        let mut early = EarlyStopping::patience(3);
        let mut es = EarlyStop::default();
        let params = BTreeMap::from([("w".to_owned(), Tensor::from_slice(&[0.0f32]))]);
        let f1 = [0.5, 0.6, 0.6, 0.55, 0.7, 0.69, 0.68, 0.7, 0.1];
        let mut stopped_at = None;
        for (epoch, m) in f1.iter().enumerate() {
            let _ = params["w"].shallow_clone().fill_(*m);
            if early.observe(&mut es, -m, epoch as u64 + 1, 0, &params) {
                stopped_at = Some(epoch + 1);
                break;
            }
        }
        // 0.7 at epoch 5; 0.69, 0.68 and an equal 0.7 are not improvements: stop after epoch 8.
        assert_eq!(stopped_at, Some(8));
        assert_eq!(es.best_step, 5);
        assert_eq!(early.best().unwrap()["w"].double_value(&[0]), 0.7f32 as f64);
    }
}
