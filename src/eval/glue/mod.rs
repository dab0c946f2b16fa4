//! GLUE/SuperGLUE by fine-tuning, as the BabyLM pipeline does it: for every checkpoint and task, a
//! fresh copy of the checkpoint with a classification head ([`crate::model::classifier`]) is
//! fine-tuned ([`finetune`]) and its dev and test metrics written beside BLiMP's results
//! ([`crate::results::glue`]). A task whose weights, tokenizer, data and recipe are unchanged since
//! its last result is skipped.

pub mod finetune;
pub mod metrics;

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use tracing::info;

use super::checkpoint::{self, Ready};
use super::identity::Target;
use crate::config::layout::checkpoint::{CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE};
use crate::config::Precision;
use crate::data::glue::splits as data;
use crate::data::glue::tasks::{self, Task};
use crate::device::{Compute, Device};
use crate::model::classifier::Classifier;
use crate::model::LlamaConfig;
use crate::results::glue::{self as out, EpochRow, Prediction, Scores, TaskResult};
use finetune::{Encoded, Job, Recipe};

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
    /// Fine-tune on at most this many training examples (seeded, stratified by label); the
    /// results go to `max-train-<N>/` below the checkpoint's GLUE folder.
    pub max_train_examples: Option<u64>,
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
        .map(|t| {
            let mut s = data::load(&o.data_dir, t)?;
            if let Some(n) = o.max_train_examples {
                s.train = data::subsample(s.train, n as usize, data::SUBSAMPLE_SEED);
            }
            Ok(s)
        })
        .collect::<Result<_>>()?;
    let planned = plan(targets, o, run_layout)?;
    let mut prepared: HashMap<(String, &str), Prepared> = HashMap::new();
    let mut done = Vec::new();
    for Planned { ready, dest } in planned {
        let (ck, id, weights_sha) = (ready.dir(), &ready.id, &ready.weights_sha256);
        let tokenizer_path = ck.join(TOKENIZER_FILE);
        let prefix_space = ready.prefix_space;
        let encoding = format!("{} {prefix_space}", ready.tokenizer_sha256);
        let tokenizer = data::pair_tokenizer(
            crate::data::tokenizer::load_tokenizer(&tokenizer_path)?,
            prefix_space,
        )?;
        let config = LlamaConfig::load(&ck.join(CONFIG_FILE))?;
        let pad_id = i64::from(config.pad_token_id.unwrap_or(0));
        for (task, splits) in o.tasks.iter().zip(&splits) {
            let key = (encoding.clone(), task.name);
            if !prepared.contains_key(&key) {
                prepared.insert(key.clone(), prepare(&tokenizer, task, splits)?);
            }
            let p = &prepared[&key];
            check_vocab(p, &config, ck, task)?;
            let config_sha = format!(
                "{:x}",
                Sha256::digest(format!(
                    "{weights_sha} {encoding} {:?} {:?} {}",
                    o.recipe,
                    compute.precision(),
                    p.data_sha256
                ))
            );
            let previous = out::read_summary(&dest)
                .filter(|s| s.identity.checkpoint_sha256 == *weights_sha)
                .and_then(|s| s.tasks.get(task.name).cloned());
            let head = dest.join(out::HEADS).join(task.name);
            // A kept head or a trace asked for and not there is made by fine-tuning again.
            let extras_missing = (o.keep_heads && !head.is_dir()) || o.trace.is_some();
            if !o.force
                && !extras_missing
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
            let outcome = finetune::finetune(Job {
                model: &model,
                params: &params,
                task,
                train: &p.train,
                dev: &p.dev,
                test: &p.test,
                recipe: o.recipe,
                pad_id,
                compute,
                trace: trace.as_deref(),
            })?;
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
                watched_metric: Some(task.watch),
                reported_metric: Some(task.reported),
                train_examples: Some(p.train.ids.len() as u64),
                max_train_examples: o.max_train_examples,
            };
            out::write_task(&dest, id, task.name, result.clone(), &predictions, &epochs)?;
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
            if let Some(tokens) = id.tokens_seen {
                let t = &result.test;
                let score = task.reported.pick(t.accuracy, t.f1, t.mcc);
                let tag = format!("glue/{}", task.name);
                super::to_tensorboard(ck, &tag.replace('/', "-"), tokens, &[(&tag, score)])?;
            }
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

/// A checkpoint to fine-tune and where its results go.
struct Planned<'a> {
    ready: Ready<'a>,
    dest: PathBuf,
}

/// Every target made ready (its weights also checked to be finite) and its destination checked,
/// before anything is fine-tuned.
fn plan<'a>(targets: &'a [Target], o: &GlueOptions, run_layout: bool) -> Result<Vec<Planned<'a>>> {
    let mut out = Vec::new();
    for target in targets {
        let ready = Ready::new(target)?;
        check_finite(ready.dir())?;
        let id = &ready.id;
        let name = run_layout.then_some(id.milestone.as_str());
        let layout = id.glue_dir(&o.results_dir);
        let missing = ": its identity is unknown: say where results go with --out";
        let full = checkpoint::destination(ready.dir(), o.out.as_deref(), name, layout, missing)?;
        let dest = match o.max_train_examples {
            Some(n) => full.join(out::subsampled_dir(n)),
            None => full,
        };
        out::check_destination(&dest)?;
        out.push(Planned { ready, dest });
    }
    Ok(out)
}

/// Refuses a checkpoint with a weight that is not finite, as BLiMP refuses it (whether or not
/// the classifier reads that weight): the checkpoint is damaged.
fn check_finite(ck: &std::path::Path) -> Result<()> {
    let stored = crate::model::weights::load(&ck.join(MODEL_FILE))?;
    if let Some((name, _)) = stored
        .iter()
        .find(|(_, t)| !bool::try_from(t.isfinite().all()).unwrap_or(false))
    {
        bail!(
            "{}: weight {name} holds NaN or infinity: the checkpoint is damaged; nothing was \
             fine-tuned",
            ck.display()
        );
    }
    Ok(())
}

/// Refuses a task whose encoded examples hold a token id the model has no embedding for (a
/// tokenizer that is not the model's), and one with no training example.
fn check_vocab(
    p: &Prepared,
    config: &LlamaConfig,
    ck: &std::path::Path,
    task: &Task,
) -> Result<()> {
    if p.train.ids.is_empty() {
        bail!(
            "{}: no training example is left after the dev split",
            task.name
        );
    }
    let max = [&p.train, &p.dev, &p.test]
        .iter()
        .flat_map(|e| e.ids.iter().flatten())
        .copied()
        .max()
        .unwrap_or(0);
    if max >= i64::from(config.vocab_size) {
        bail!(
            "{}: its tokenizer gives token id {max} on {}, but the model has {} embeddings \
             (config.json vocab_size): the tokenizer is not this model's",
            ck.display(),
            task.name,
            config.vocab_size
        );
    }
    Ok(())
}

/// The tasks named in `list` (default: the study's seven).
pub fn tasks(list: Option<&[String]>) -> Result<Vec<Task>> {
    match list {
        Some(names) => names.iter().map(|n| Task::named(n)).collect(),
        None => tasks::STUDY_TASKS.iter().map(|n| Task::named(n)).collect(),
    }
}
