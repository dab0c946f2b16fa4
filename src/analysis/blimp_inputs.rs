//! BLiMP results as records: lmeff's `summary.parquet`, the lm-evaluation-harness JSON tree the
//! study used, and the study's long tables (`dataset,model_size,milestone,vocab_size,seed,acc[,task]`).

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

use super::columns::Columns;
use super::record::{Milestone, Record, RunKey};
use crate::config::layout::ResultLayout;
use crate::config::{Anchor, ScheduleKind, SeedMode};
use crate::results::blimp_summary;

/// `v` when it is an accuracy (a number in [0, 1]); `what` says where it was read.
fn accuracy(v: f64, what: &str) -> Result<f64> {
    match (0.0..=1.0).contains(&v) {
        true => Ok(v),
        false => Err(anyhow!(
            "{what}: {v} is not an accuracy (a number from 0 to 1)"
        )),
    }
}

/// The sorted paradigms of the per-paradigm records among `records`.
fn paradigm_set(records: &[Record]) -> Vec<String> {
    let mut set: Vec<String> = records.iter().filter_map(|r| r.task.clone()).collect();
    set.sort();
    set.dedup();
    set
}

fn need<T>(v: Option<T>, what: &str, row: usize) -> Result<T> {
    v.ok_or_else(|| anyhow!("row {}: `{what}` is empty", row + 1))
}

/// `v` as a count of type `T` (a vocabulary size, a seed): whole and in its range.
fn whole<T: TryFrom<i64>>(v: i64, what: &str, row: usize) -> Result<T> {
    T::try_from(v).map_err(|_| anyhow!("row {}: `{what}` {v} is out of range", row + 1))
}

fn milestone(s: &str, path: &Path) -> Result<Milestone> {
    Milestone::parse(s).ok_or_else(|| {
        anyhow!(
            "{}: milestone {s:?} is neither a number of millions of tokens nor `init` or `final`",
            path.display()
        )
    })
}

/// lmeff's `summary.parquet`: one row per paradigm; the overall accuracy is Σ correct / Σ n. With
/// what the run's seed varied (`train.seed_mode`; files before it: both).
pub(super) fn read_summary(path: &Path) -> Result<(Vec<Record>, SeedMode)> {
    let rows = blimp_summary::read(path)?;
    let seed_mode = rows.first().and_then(|r| r.seed_mode).unwrap_or_default();
    let mut out = Vec::new();
    let (mut sum_n, mut sum_c) = (0i64, 0i64);
    for (i, r) in rows.into_iter().enumerate() {
        let run = RunKey {
            dataset: need(r.dataset, "dataset", i)?,
            model: need(r.model_size, "model_size", i)?,
            vocab_size: whole(need(r.vocab_size, "vocab_size", i)?, "vocab_size", i)?,
            seed: whole(need(r.seed, "seed", i)?, "seed", i)?,
            anchor: r.anchor.unwrap_or(Anchor::Full),
            schedule: r.schedule.unwrap_or_default(),
        };
        let rec = Record {
            run,
            milestone: milestone(&r.milestone, path)?,
            task: Some(r.paradigm),
            field: Some(r.field),
            phenomenon: Some(r.linguistics_term),
            acc: accuracy(r.accuracy, &format!("row {}", i + 1))?,
            n: Some(r.n),
            tokens: r.tokens_seen,
            paradigms: None,
            source: path.to_owned(),
        };
        sum_c += r.correct;
        sum_n += r.n;
        out.push(rec);
    }
    if let Some(first) = out.first() {
        let overall = Record {
            task: None,
            field: None,
            phenomenon: None,
            acc: sum_c as f64 / sum_n.max(1) as f64,
            n: Some(sum_n),
            paradigms: Some(paradigm_set(&out)),
            ..first.clone()
        };
        out.push(overall);
    }
    Ok((out, seed_mode))
}

/// `…/blimp/<dataset>/<size>/seed-<S>/tok-<V>/[budget-<M>M/]<milestone>/blimp_results.json`.
pub(super) fn read_lm_eval(path: &Path) -> Result<Vec<Record>> {
    let place = ResultLayout::parse_blimp(path)?;
    let ms = milestone(&place.milestone, path)?;
    let v: serde_json::Value = serde_json::from_slice(&fs_err::read(path)?).context("not JSON")?;
    let results = v
        .get("results")
        .and_then(|r| r.as_object())
        .ok_or_else(|| anyhow!("no `results` object"))?;
    let run = place.run;
    let mut out = Vec::new();
    for (k, r) in results {
        let Some(acc) = r.get("acc,none").and_then(|a| a.as_f64()) else {
            continue;
        };
        let acc = accuracy(acc, &format!("results.{k}"))?;
        let task = match k.as_str() {
            "blimp" => None,
            t => Some(t.strip_prefix("blimp_").unwrap_or(t).to_owned()),
        };
        out.push(Record {
            run: run.clone(),
            milestone: ms,
            task,
            field: None,
            phenomenon: None,
            acc,
            n: None,
            tokens: None,
            paradigms: None,
            source: path.to_owned(),
        });
    }
    let set = paradigm_set(&out);
    let Some(overall) = out.iter_mut().find(|r| r.task.is_none()) else {
        bail!("no overall `results.blimp[\"acc,none\"]`");
    };
    overall.paradigms = Some(set);
    Ok(out)
}

/// The study's long tables: `dataset,model_size,milestone,vocab_size,seed,acc[,task]`.
pub(super) fn read_long_table(cols: &Columns, path: &Path) -> Result<Vec<Record>> {
    for c in [
        "dataset",
        "model_size",
        "milestone",
        "vocab_size",
        "seed",
        "acc",
    ] {
        if !cols.contains_key(c) {
            bail!("{}: no column `{c}` (expected BLiMP's dataset,model_size,milestone,vocab_size,seed,acc[,task], or a GLUE table's …,task,split with metric,value or accuracy,f1,mcc)", path.display());
        }
    }
    let rows = cols["acc"].len();
    let num = |c: &str, i: usize| -> Result<f64> {
        let v = cols[c][i]
            .as_deref()
            .ok_or_else(|| anyhow!("{}: line {}: `{c}` is empty", path.display(), i + 2))?;
        v.trim().parse().map_err(|_| {
            anyhow!(
                "{}: line {}: `{c}` {v:?} is not a number",
                path.display(),
                i + 2
            )
        })
    };
    let text = |c: &str, i: usize| -> Result<String> {
        cols[c][i]
            .clone()
            .ok_or_else(|| anyhow!("{}: line {}: `{c}` is empty", path.display(), i + 2))
    };
    let cell = |c: &str, i: usize| cols.get(c).and_then(|col| col[i].clone());
    let bad =
        |c: &str, i: usize, e: String| anyhow!("{}: line {}: `{c}`: {e}", path.display(), i + 2);
    let count = |c: &str, i: usize| -> Result<u64> {
        let v = num(c, i)?;
        match v >= 0.0 && v.fract() == 0.0 && v < u64::MAX as f64 {
            true => Ok(v as u64),
            false => Err(bad(c, i, format!("{v} is not a whole number"))),
        }
    };
    let mut out = Vec::with_capacity(rows);
    for i in 0..rows {
        let ms = text("milestone", i)?;
        let anchor = cell("anchor", i).map_or(Ok(Anchor::Full), |a| Anchor::from_cell(&a));
        let schedule = cell("schedule", i).map_or(Ok(ScheduleKind::Cosine), |s| s.trim().parse());
        let run = RunKey {
            dataset: text("dataset", i)?,
            model: text("model_size", i)?,
            vocab_size: u32::try_from(count("vocab_size", i)?)
                .map_err(|e| bad("vocab_size", i, e.to_string()))?,
            seed: count("seed", i)?,
            anchor: anchor.map_err(|e| bad("anchor", i, e))?,
            schedule: schedule.map_err(|e| bad("schedule", i, e))?,
        };
        out.push(Record {
            run,
            milestone: Milestone::parse(&ms).ok_or_else(|| anyhow!("{}: line {}: milestone {ms:?} is neither a number of millions of tokens nor `init` or `final`", path.display(), i + 2))?,
            task: cell("task", i).map(|t| t.strip_prefix("blimp_").map(str::to_owned).unwrap_or(t)),
            field: cell("field", i),
            phenomenon: cell("linguistics_term", i),
            acc: accuracy(num("acc", i)?, &format!("{}: line {}: `acc`", path.display(), i + 2))?,
            n: None,
            tokens: None,
            paradigms: None,
            source: path.to_owned(),
        });
    }
    Ok(out)
}

/// The continuous twin of a checkpoint's `overall` accuracy: the mean per-pair margin
/// log p(good) − log p(bad) over its `pairs.parquet` (`acc` holds the margin; no pair count, as
/// no binomial error applies).
pub(super) fn read_margin(pairs: &Path, overall: &Record) -> Result<Record> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;
    let batch = crate::results::parquet_io::read_columns(pairs, &["logp_good", "logp_bad"])?;
    let good = batch.column(0).as_primitive_opt::<Float64Type>();
    let bad = batch.column(1).as_primitive_opt::<Float64Type>();
    let (Some(good), Some(bad)) = (good, bad) else {
        bail!(
            "{}: `logp_good` and `logp_bad` are not numbers",
            pairs.display()
        );
    };
    if batch.num_rows() == 0 {
        bail!("{}: no pairs", pairs.display());
    }
    let sum: f64 = good
        .values()
        .iter()
        .zip(bad.values())
        .map(|(g, b)| g - b)
        .sum();
    let margin = sum / batch.num_rows() as f64;
    if !margin.is_finite() {
        bail!("{}: a log-probability is not finite", pairs.display());
    }
    Ok(Record {
        acc: margin,
        n: None,
        source: pairs.to_owned(),
        ..overall.clone()
    })
}
