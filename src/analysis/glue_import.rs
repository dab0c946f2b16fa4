//! The study's GLUE tables as aggregate input: `glue_all_results.csv`
//! (`dataset,model_size,milestone,vocab_size,seed,task,split,metric,value,accuracy,f1,mcc`, the
//! reported metric's own column left empty and its value in `value`) and `glue_overall_by_task.csv`
//! (`…,task,split,accuracy,f1,mcc`), told apart from BLiMP's long tables by their header.
//! Milestones are read as `25M`, `25` or `final`; unknown tasks, splits other than `val`/`test`
//! and impossible metrics are errors naming file and line.

use std::path::Path;

use anyhow::{anyhow, bail, Result};

use super::columns::Columns;
use super::glue::{check_metric, GlueRow};
use super::record::Milestone;
use crate::config::{Anchor, ScheduleKind};
use crate::data::glue::tasks::{Metric, Task};

/// Whether a table with these columns is one of the study's GLUE tables.
pub fn is_glue_table(cols: &Columns) -> bool {
    let has = |c: &str| cols.contains_key(c);
    has("task")
        && has("split")
        && !has("acc")
        && ((has("metric") && has("value")) || (has("accuracy") && has("f1") && has("mcc")))
}

/// The rows of a study GLUE table read into `cols` from `path`.
pub fn rows(cols: &Columns, path: &Path) -> Result<Vec<GlueRow>> {
    for c in [
        "dataset",
        "model_size",
        "milestone",
        "vocab_size",
        "seed",
        "task",
        "split",
    ] {
        if !cols.contains_key(c) {
            bail!(
                "{}: no column `{c}` (a GLUE table has dataset,model_size,milestone,vocab_size,seed,task,split and metric,value or accuracy,f1,mcc)",
                path.display()
            );
        }
    }
    let n = cols["task"].len();
    (0..n).map(|i| row(cols, path, i)).collect()
}

fn row(cols: &Columns, path: &Path, i: usize) -> Result<GlueRow> {
    let at = format!("{}: line {}", path.display(), i + 2);
    let cell = |c: &str| cols.get(c).and_then(|v| v[i].clone());
    let text = |c: &str| cell(c).ok_or_else(|| anyhow!("{at}: `{c}` is empty"));
    let number = |c: &str| -> Result<Option<f64>> {
        cell(c)
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| anyhow!("{at}: `{c}` {v:?} is not a number"))
            })
            .transpose()
    };
    let integer = |c: &str, max: i64| -> Result<i64> {
        let v = text(c)?;
        v.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=max).contains(n))
            .ok_or_else(|| anyhow!("{at}: `{c}` {v:?} is not a whole number from 0 to {max}"))
    };
    let ms = text("milestone")?;
    let milestone = Milestone::parse(&ms).ok_or_else(|| {
        anyhow!("{at}: milestone {ms:?} is neither millions of tokens (`25M`, `25`) nor `final`")
    })?;
    let name = text("task")?.to_lowercase();
    let task = Task::named(&name).map_err(|e| anyhow!("{at}: {e}"))?;
    let split = text("split")?;
    if split != "val" && split != "test" {
        bail!("{at}: split {split:?} is neither `val` nor `test`");
    }
    let mut values = [
        (Metric::Accuracy, number("accuracy")?),
        (Metric::F1, number("f1")?),
        (Metric::Mcc, number("mcc")?),
    ];
    if let Some(m) = cell("metric") {
        let metric = Metric::parse(&m)
            .ok_or_else(|| anyhow!("{at}: metric {m:?} is not accuracy, f1 or mcc"))?;
        let value = number("value")?.ok_or_else(|| anyhow!("{at}: `value` is empty"))?;
        let slot = &mut values
            .iter_mut()
            .find(|(k, _)| *k == metric)
            .expect("all three")
            .1;
        match *slot {
            Some(v) if (v - value).abs() > 1e-12 => {
                bail!("{at}: `value` {value} differs from its metric's column `{m}` ({v})")
            }
            _ => *slot = Some(value),
        }
    }
    for (m, v) in &values {
        if let Some(v) = v {
            check_metric(*m, *v, &at)?;
        }
    }
    let [accuracy, f1, mcc] = values.map(|(_, v)| v);
    let reported = task.reported.pick(accuracy, f1, mcc);
    Ok(GlueRow {
        dataset: text("dataset")?,
        model_size: text("model_size")?,
        vocab_size: integer("vocab_size", i64::from(u32::MAX))?,
        seed: integer("seed", i64::MAX)?,
        anchor: cell("anchor")
            .map_or(Ok(Anchor::Full), |a| Anchor::from_cell(&a))
            .map_err(|e| anyhow!("{at}: `anchor`: {e}"))?,
        schedule: cell("schedule")
            .map_or(Ok(ScheduleKind::Cosine), |s| s.trim().parse())
            .map_err(|e| anyhow!("{at}: `schedule`: {e}"))?,
        milestone: milestone.to_string(),
        task: name,
        split,
        metric: task.reported.name().into(),
        value: reported.unwrap_or(f64::NAN),
        accuracy,
        f1,
        mcc,
        watched_metric: task.watch.name().into(),
        reported_metric: task.reported.name().into(),
        max_train_examples: None,
        train_examples: None,
        source: path.to_owned(),
    })
}
