//! GLUE/SuperGLUE by fine-tuning, as the BabyLM pipeline does it: for every checkpoint and task, a
//! fresh copy of the checkpoint with a classification head ([`crate::model::classifier`]) is
//! fine-tuned ([`finetune`]) and its dev and test metrics written beside BLiMP's results
//! ([`crate::results::glue`]). A task whose weights, tokenizer, data and recipe are unchanged since
//! its last result is skipped.

pub mod finetune;
pub mod metrics;

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use tracing::info;

use super::identity::{identity, Target};
use crate::config::Precision;
use crate::data::glue::splits as data;
use crate::data::glue::tasks::{self, Task};
use crate::device::{Compute, Device};
use crate::io::sha256_file;
use crate::model::checkpoint;
use crate::model::classifier::Classifier;
use crate::model::LlamaConfig;
use crate::results::glue::{self as out, EpochRow, Prediction, Scores, TaskResult};
use finetune::{Encoded, Recipe};

/// What to fine-tune on and how.
#[derive(Debug, Clone)]
pub struct GlueOptions {
    pub tasks: Vec<Task>,
    /// The tasks' data: `<task>/{train,dev,test}.jsonl` or `<task>.{train,valid}.jsonl`.
    pub data_dir: PathBuf,
    pub results_dir: PathBuf,
    /// Write here instead (for a run, one sub-folder per checkpoint).
    pub out: Option<PathBuf>,
    pub recipe: Recipe,
    pub device: Device,
    pub precision: Precision,
    pub force: bool,
    /// Keep each fine-tuned classifier in `heads/<task>/` of the results (disk: a model each).
    pub keep_heads: bool,
    /// Write each task's initial weights and steps to `<trace>/<task>/` ([`finetune::finetune`]).
    pub trace: Option<PathBuf>,
}

/// One task of one checkpoint.
#[derive(Debug, Clone)]
pub struct Finetuned {
    pub checkpoint: PathBuf,
    pub task: String,
    pub results: PathBuf,
    /// None when skipped as up to date.
    pub result: Option<TaskResult>,
}

fn scores(m: metrics::Metrics) -> Scores {
    Scores {
        accuracy: m.accuracy,
        f1: m.f1,
        mcc: m.mcc,
    }
}

/// A task's splits encoded for one tokenizer, and the sha256 of what was encoded.
struct Prepared {
    train: Encoded,
    dev: Encoded,
    test: Encoded,
    data_sha256: String,
}

fn prepare(
    tokenizer: &tokenizers::Tokenizer,
    task: &Task,
    splits: &data::Splits,
) -> Result<Prepared> {
    let mut h = Sha256::new();
    let mut encode = |rows: &[data::Row], split: &str| -> Result<Encoded> {
        let ids = data::encode(tokenizer, rows)
            .with_context(|| format!("{} {split} of {}", task.name, splits.source.display()))?;
        let labels: Vec<i64> = rows.iter().map(|r| r.label).collect();
        for (example, label) in ids.iter().zip(&labels) {
            h.update((example.len() as u64).to_le_bytes());
            example.iter().for_each(|t| h.update(t.to_le_bytes()));
            h.update(label.to_le_bytes());
        }
        Ok(Encoded { ids, labels })
    };
    let (train, dev, test) = (
        encode(&splits.train, "train")?,
        encode(&splits.dev, "dev")?,
        encode(&splits.test, "test")?,
    );
    Ok(Prepared {
        train,
        dev,
        test,
        data_sha256: format!("{:x}", h.finalize()),
    })
}

/// Fine-tunes every checkpoint of `targets` on every task of `o`. Every task's data is read (and
/// checked) before anything is trained, and encoded once per distinct tokenizer.
pub fn evaluate(targets: &[Target], o: &GlueOptions, run_layout: bool) -> Result<Vec<Finetuned>> {
    let compute = Compute::new(o.device, o.precision)?;
    let splits: Vec<data::Splits> = o
        .tasks
        .iter()
        .map(|t| data::load(&o.data_dir, t))
        .collect::<Result<_>>()?;
    let mut prepared: HashMap<(String, &str), Prepared> = HashMap::new();
    let mut done = Vec::new();
    for target in targets {
        let ck = &target.dir;
        checkpoint::check_files(ck)?;
        let weights_sha = sha256_file(&ck.join(checkpoint::MODEL_FILE))?;
        let tokenizer_path = ck.join(checkpoint::TOKENIZER_FILE);
        let id = identity(target, weights_sha.clone())?;
        let dest = match (&o.out, run_layout) {
            (Some(out), true) => out.join(&id.milestone),
            (Some(out), false) => out.clone(),
            (None, _) => id.glue_dir(&o.results_dir).with_context(|| {
                format!(
                    "{}: its identity is unknown: say where results go with --out",
                    ck.display()
                )
            })?,
        };
        let prefix_space = checkpoint::prefix_space(ck)?;
        let encoding = format!("{} {prefix_space}", sha256_file(&tokenizer_path)?);
        let tokenizer = data::pair_tokenizer(
            crate::data::tokenizer::load_tokenizer(&tokenizer_path)?,
            prefix_space,
        )?;
        let config = LlamaConfig::load(&ck.join(checkpoint::CONFIG_FILE))?;
        let pad_id = i64::from(config.pad_token_id.unwrap_or(0));
        for (task, splits) in o.tasks.iter().zip(&splits) {
            let key = (encoding.clone(), task.name);
            if !prepared.contains_key(&key) {
                prepared.insert(key.clone(), prepare(&tokenizer, task, splits)?);
            }
            let p = &prepared[&key];
            let config_sha = format!(
                "{:x}",
                Sha256::digest(format!(
                    "{weights_sha} {encoding} {:?} {:?} {}",
                    o.recipe,
                    compute.precision(),
                    p.data_sha256
                ))
            );
            let previous = out::read_summary(&dest).and_then(|s| s.tasks.get(task.name).cloned());
            if !o.force
                && previous
                    .as_ref()
                    .is_some_and(|prev| prev.config_sha256 == config_sha)
            {
                info!(
                    "{} {}: up to date in {} (--force fine-tunes again)",
                    ck.display(),
                    task.name,
                    dest.display()
                );
                done.push(Finetuned {
                    checkpoint: id.checkpoint.clone(),
                    task: task.name.into(),
                    results: dest.clone(),
                    result: None,
                });
                continue;
            }
            let (model, vs) = Classifier::from_pretrained(
                ck,
                task.num_labels() as i64,
                o.recipe.seed as i64,
                compute.device,
            )?;
            let params = Classifier::trainable(&vs);
            let trace = o.trace.as_ref().map(|t| t.join(task.name));
            let outcome = finetune::finetune(
                &model,
                &params,
                task,
                &p.train,
                &p.dev,
                &p.test,
                o.recipe,
                pad_id,
                compute,
                trace.as_deref(),
            )?;
            let predictions: Vec<Prediction> = [
                ("dev", &splits.dev, &p.dev, &outcome.dev_logits),
                ("test", &splits.test, &p.test, &outcome.test_logits),
            ]
            .into_iter()
            .flat_map(|(split, rows, enc, logits)| {
                let pred = finetune::argmax(logits);
                rows.iter().enumerate().map(move |(i, r)| Prediction {
                    split: split.into(),
                    line: r.line as i64,
                    label: r.label,
                    prediction: pred[i],
                    n_tokens: enc.ids[i].len() as i64,
                    logits: logits[i].clone(),
                })
            })
            .collect();
            if o.keep_heads {
                let head = dest.join(out::HEADS).join(task.name);
                model.save(&vs, ck, &head, task.labels)?;
            }
            let epochs: Vec<EpochRow> = outcome
                .epochs
                .iter()
                .map(|e| EpochRow {
                    epoch: i64::from(e.epoch),
                    train_loss: e.train_loss,
                    dev_accuracy: e.dev.accuracy,
                    dev_f1: e.dev.f1,
                    dev_mcc: e.dev.mcc,
                })
                .collect();
            let result = TaskResult {
                best_epoch: outcome.best_epoch,
                epochs: outcome.epochs.len() as u32,
                dev: scores(outcome.dev),
                test: scores(outcome.test),
                config_sha256: config_sha,
                source: splits.source.clone(),
            };
            out::write_task(&dest, &id, task.name, result.clone(), &predictions, &epochs)?;
            info!(
                "{} {}: test accuracy {:.4}, F1 {:.4}, MCC {:.4} (epoch {} of {}) → {}",
                ck.display(),
                task.name,
                result.test.accuracy,
                result.test.f1,
                result.test.mcc,
                result.best_epoch,
                result.epochs,
                dest.display()
            );
            done.push(Finetuned {
                checkpoint: id.checkpoint.clone(),
                task: task.name.into(),
                results: dest.clone(),
                result: Some(result),
            });
        }
    }
    Ok(done)
}

/// The tasks named in `list` (default: the study's seven).
pub fn tasks(list: Option<&[String]>) -> Result<Vec<Task>> {
    match list {
        Some(names) => names.iter().map(|n| Task::named(n)).collect(),
        None => tasks::STUDY_TASKS.iter().map(|n| Task::named(n)).collect(),
    }
}
