//! A task's examples: read from `<dir>/<task>/{train,dev,test}.jsonl` (`lmeff data fetch glue`'s
//! layout), or from the BabyLM pipeline's `glue_filtered/<task>.{train,valid}.jsonl`, whose
//! `valid` is the test set and whose dev set (early stopping) is 10% of `train`, stratified by
//! label with seed 42, as the study split it. Then encoded as transformers' `tokenizer(s1, s2,
//! truncation=True, max_length=128)` encodes them for the checkpoint's own tokenizer files.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::tasks::Task;
use crate::rng::mix64;

/// At most this many tokens per example (the pipeline's `max_length`).
pub const MAX_LENGTH: usize = 128;

/// One example as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based line of its file.
    pub line: usize,
    pub s1: String,
    pub s2: Option<String>,
    pub label: i64,
}

/// The three splits of a task.
#[derive(Debug, Clone)]
pub struct Splits {
    pub train: Vec<Row>,
    pub dev: Vec<Row>,
    pub test: Vec<Row>,
    /// Where they came from (for messages and results).
    pub source: PathBuf,
}

/// Reads one JSON-lines file of `task`; any bad row is an error naming file and line.
pub fn read_rows(path: &Path, task: &Task) -> Result<Vec<Row>> {
    let text = fs_err::read_to_string(path)?;
    let mut rows = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = || format!("{}:{}", path.display(), i + 1);
        let value: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}: not JSON", at()))?;
        let (s1, s2) = task
            .texts(&value)
            .with_context(|| format!("{}: {}", at(), task.name))?;
        let label = task.label(&value).with_context(at)?;
        rows.push(Row {
            line: i + 1,
            s1,
            s2,
            label,
        });
    }
    if rows.is_empty() {
        bail!("{}: no examples", path.display());
    }
    Ok(rows)
}

/// The splits of `task` under `dir`, in either layout.
pub fn load(dir: &Path, task: &Task) -> Result<Splits> {
    let own = dir.join(task.name);
    if own.is_dir() {
        let read = |s: &str| read_rows(&own.join(format!("{s}.jsonl")), task);
        return Ok(Splits {
            train: read("train")?,
            dev: read("dev")?,
            test: read("test")?,
            source: own,
        });
    }
    let (train, valid) = filtered_files(dir, task);
    if train.is_file() && valid.is_file() {
        let (train_rows, dev) = stratified_split(read_rows(&train, task)?, 0.1, 42);
        if dev.is_empty() || train_rows.is_empty() {
            bail!(
                "{}: too few examples to hold out a dev set (10%) and keep a training set",
                train.display()
            );
        }
        return Ok(Splits {
            train: train_rows,
            dev,
            test: read_rows(&valid, task)?,
            source: dir.to_owned(),
        });
    }
    bail!(
        "{}: no {}/{{train,dev,test}}.jsonl and no {}.{{train,valid}}.jsonl (lmeff data fetch glue, or the BabyLM pipeline's glue_filtered folder)",
        dir.display(),
        task.name,
        task.name
    )
}

/// A task's `train` and `valid` files in a `glue_filtered` folder. The pipeline ships no
/// `mnli-mm.train.jsonl`: mnli-mm trains on MNLI's train file, when it has none of its own.
pub fn filtered_files(dir: &Path, task: &Task) -> (PathBuf, PathBuf) {
    let own = dir.join(format!("{}.train.jsonl", task.name));
    let train = match own.is_file() {
        true => own,
        false => dir.join(format!("{}.train.jsonl", task.train_source())),
    };
    (train, dir.join(format!("{}.valid.jsonl", task.name)))
}

/// Which of the examples with `labels` are held out: ⌈`share`·n⌉ of them, spread over the labels
/// in proportion (largest remainders, ties to the larger label), each label's chosen by a seeded
/// hash.
pub fn stratified_held(labels: &[i64], share: f64, seed: u64) -> Vec<bool> {
    let total = (share * labels.len() as f64).ceil() as usize;
    stratified_pick(labels, total, |size| share * size as f64, seed)
}

/// `total` of the examples with `labels`, each label's count its `exact` share rounded by
/// largest remainders (ties to the larger label), chosen by a seeded hash.
fn stratified_pick(
    labels: &[i64],
    total: usize,
    exact: impl Fn(usize) -> f64,
    seed: u64,
) -> Vec<bool> {
    let mut distinct: Vec<i64> = labels.to_vec();
    distinct.sort();
    distinct.dedup();
    let groups: Vec<Vec<usize>> = distinct
        .iter()
        .map(|&l| (0..labels.len()).filter(|&i| labels[i] == l).collect())
        .collect();
    let exact: Vec<f64> = groups.iter().map(|g| exact(g.len())).collect();
    let mut take: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|&a, &b| {
        let frac = |i: usize| exact[i] - exact[i].floor();
        frac(b)
            .total_cmp(&frac(a))
            .then(groups[b].len().cmp(&groups[a].len()))
    });
    for &g in order
        .iter()
        .cycle()
        .take(total.saturating_sub(take.iter().sum()))
    {
        take[g] = (take[g] + 1).min(groups[g].len());
    }
    let mut held = vec![false; labels.len()];
    for ((g, label), n) in groups.iter().zip(&distinct).zip(take) {
        let mut idx = g.clone();
        idx.sort_by_key(|&i| mix64(seed, *label as u64, i as u64));
        for &i in &idx[..n] {
            held[i] = true;
        }
    }
    held
}

/// The seed of [`subsample`].
pub const SUBSAMPLE_SEED: u64 = 2025;

/// At most `n` of `rows` (all of them when there are no more), stratified by label: each label
/// keeps its share (largest remainders), its rows chosen by a seeded hash; order kept.
pub fn subsample(rows: Vec<Row>, n: usize, seed: u64) -> Vec<Row> {
    let len = rows.len();
    if n >= len {
        return rows;
    }
    let labels: Vec<i64> = rows.iter().map(|r| r.label).collect();
    let kept = stratified_pick(&labels, n, |size| n as f64 * size as f64 / len as f64, seed);
    rows.into_iter()
        .zip(kept)
        .filter_map(|(r, k)| k.then_some(r))
        .collect()
}

/// `rows` without and with the held-out ones of [`stratified_held`]; both keep their order.
pub fn stratified_split(rows: Vec<Row>, share: f64, seed: u64) -> (Vec<Row>, Vec<Row>) {
    let labels: Vec<i64> = rows.iter().map(|r| r.label).collect();
    let held = stratified_held(&labels, share, seed);
    let (mut keep, mut out) = (Vec::new(), Vec::new());
    for (row, h) in rows.into_iter().zip(held) {
        if h {
            out.push(row)
        } else {
            keep.push(row)
        }
    }
    (keep, out)
}

/// The checkpoint's tokenizer set up as transformers loads it: its ByteLevel pre-tokenizer's
/// prefix space as `prefix_space` says, truncation `longest_first` to [`MAX_LENGTH`].
pub fn pair_tokenizer(mut tokenizer: Tokenizer, prefix_space: bool) -> Result<Tokenizer> {
    if let Some(PreTokenizerWrapper::ByteLevel(b)) = tokenizer.get_pre_tokenizer().cloned() {
        tokenizer.with_pre_tokenizer(Some(b.add_prefix_space(prefix_space)));
    }
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: MAX_LENGTH,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
            direction: TruncationDirection::Right,
        }))
        .map_err(|e| anyhow!("setting truncation: {e}"))?;
    Ok(tokenizer)
}

/// Token ids of every row (with the special tokens the tokenizer's post-processor adds).
pub fn encode(tokenizer: &Tokenizer, rows: &[Row]) -> Result<Vec<Vec<i64>>> {
    rows.iter()
        .map(|r| {
            let enc = match &r.s2 {
                Some(s2) => tokenizer.encode((r.s1.as_str(), s2.as_str()), true),
                None => tokenizer.encode(r.s1.as_str(), true),
            }
            .map_err(|e| anyhow!("line {}: encoding: {e}", r.line))?;
            let ids: Vec<i64> = enc.get_ids().iter().map(|&i| i64::from(i)).collect();
            if ids.is_empty() {
                bail!("line {}: the text encodes to no token", r.line);
            }
            Ok(ids)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: usize, label: i64) -> Row {
        Row {
            line,
            s1: format!("s{line}"),
            s2: None,
            label,
        }
    }

    #[test]
    fn the_dev_split_is_stratified_and_reproducible() {
        let rows: Vec<Row> = (0..100)
            .map(|i| row(i + 1, i64::from(i % 4 == 0)))
            .collect();
        let (train, dev) = stratified_split(rows.clone(), 0.1, 42);
        assert_eq!((train.len(), dev.len()), (90, 10));
        assert_eq!(
            dev.iter().filter(|r| r.label == 1).count(),
            2,
            "7.5 and 2.5: the larger label gets the tie"
        );
        let (_, again) = stratified_split(rows.clone(), 0.1, 42);
        assert_eq!(dev, again);
        let (_, other) = stratified_split(rows, 0.1, 7);
        assert_ne!(dev, other);
    }

    #[test]
    fn a_subsample_keeps_the_label_shares_and_is_reproducible() {
        // 300 of label 0, 100 of label 1: 30 and 10 of 40.
        let rows: Vec<Row> = (0..400)
            .map(|i| row(i + 1, i64::from(i % 4 == 0)))
            .collect();
        let small = subsample(rows.clone(), 40, SUBSAMPLE_SEED);
        assert_eq!(small.len(), 40);
        assert_eq!(small.iter().filter(|r| r.label == 1).count(), 10);
        assert!(
            small.windows(2).all(|w| w[0].line < w[1].line),
            "order kept"
        );
        assert_eq!(small, subsample(rows.clone(), 40, SUBSAMPLE_SEED));
        assert_ne!(small, subsample(rows.clone(), 40, 1));
        // 7 of 400: 5.25 and 1.75 → 5 and 2 (largest remainder).
        let seven = subsample(rows.clone(), 7, SUBSAMPLE_SEED);
        assert_eq!(seven.iter().filter(|r| r.label == 1).count(), 2);
        assert_eq!(subsample(rows.clone(), 400, 0), rows);
        assert_eq!(subsample(rows.clone(), 1000, 0).len(), 400);
    }

    #[test]
    fn mnli_mm_trains_on_mnlis_file_in_a_glue_filtered_folder() {
        let dir = tempfile::tempdir().unwrap();
        let mm = Task::named("mnli-mm").unwrap();
        let (train, valid) = filtered_files(dir.path(), &mm);
        assert_eq!(train, dir.path().join("mnli.train.jsonl"));
        assert_eq!(valid, dir.path().join("mnli-mm.valid.jsonl"));
        std::fs::write(dir.path().join("mnli-mm.train.jsonl"), "").unwrap();
        assert_eq!(
            filtered_files(dir.path(), &mm).0,
            dir.path().join("mnli-mm.train.jsonl")
        );
    }
}
