//! Collecting results: BLiMP's — lmeff's `summary.parquet` files, the lm-evaluation-harness JSON
//! tree the study used, and long tables (`dataset,model_size,milestone,vocab_size,seed,acc[,task]`,
//! CSV or Parquet) — and GLUE's: lmeff's `glue_results.json` files and the study's GLUE tables
//! ([`super::glue_import`], told apart by their header). The same result twice is an error unless
//! the values are equal.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use super::columns::{read_columns, Columns};
use super::glue::{self, GlueRow};
use super::glue_import;
pub use super::record::{Milestone, Record, RunKey};
use crate::config::layout::ResultLayout;
use crate::config::{Anchor, ScheduleKind};
use crate::results::blimp_summary;

/// Everything collected.
#[derive(Debug, Default)]
pub struct Collected {
    pub overall: Vec<Record>,
    pub tasks: Vec<Record>,
    /// GLUE results: checkpoint × task × split.
    pub glue: Vec<GlueRow>,
    /// Files that could not be read (kept only with `--skip-bad`), with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// (run, milestone, task) → index in `overall` / `tasks`, for the duplicate check.
    seen: HashMap<(RunKey, String, Option<String>), usize>,
    /// A GLUE row's checkpoint, task and split → index in `glue`.
    glue_seen: HashMap<String, usize>,
}

/// What one input file holds.
enum Found {
    Blimp(Vec<Record>),
    Glue(Vec<GlueRow>),
}

impl Collected {
    fn add_found(&mut self, found: Found) -> Result<()> {
        match found {
            Found::Blimp(records) => records.into_iter().try_for_each(|r| self.add(r)),
            Found::Glue(rows) => rows.into_iter().try_for_each(|r| self.add_glue(r)),
        }
    }

    /// Adds a GLUE row; the same checkpoint, task and split again must have the same scores.
    fn add_glue(&mut self, r: GlueRow) -> Result<()> {
        let key = format!("{:?}", (r.checkpoint(), &r.task, &r.split));
        if let Some(&i) = self.glue_seen.get(&key) {
            let old = &self.glue[i];
            let same = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() <= 1e-12,
                _ => true,
            };
            if !(same(old.accuracy, r.accuracy) && same(old.f1, r.f1) && same(old.mcc, r.mcc)) {
                bail!(
                    "{} and {} both give {} {} {} seed {} at {} {} ({}) with different scores \
                     (accuracy {:?} vs {:?}, F1 {:?} vs {:?})",
                    old.source.display(),
                    r.source.display(),
                    r.dataset,
                    r.model_size,
                    r.vocab_size,
                    r.seed,
                    r.milestone,
                    r.task,
                    r.split,
                    old.accuracy,
                    r.accuracy,
                    old.f1,
                    r.f1
                );
            }
            return Ok(());
        }
        self.glue_seen.insert(key, self.glue.len());
        self.glue.push(r);
        Ok(())
    }

    fn add(&mut self, r: Record) -> Result<()> {
        let key = (r.run.clone(), r.milestone.to_string(), r.task.clone());
        let list = if r.task.is_some() {
            &mut self.tasks
        } else {
            &mut self.overall
        };
        if let Some(&i) = self.seen.get(&key) {
            let old = &list[i];
            if (old.acc - r.acc).abs() > 1e-12 {
                bail!(
                    "{} and {} both give {} at {}{} with different accuracies ({} vs {})",
                    old.source.display(),
                    r.source.display(),
                    r.run,
                    r.milestone,
                    r.task
                        .as_deref()
                        .map(|t| format!(" ({t})"))
                        .unwrap_or_default(),
                    old.acc,
                    r.acc
                );
            }
            return Ok(());
        }
        self.seen.insert(key, list.len());
        list.push(r);
        Ok(())
    }
}

/// Reads every result under `results` and every table in `imports`; a bad file is an error unless
/// `skip_bad` (then it is listed in `skipped`).
pub fn collect(results: Option<&Path>, imports: &[PathBuf], skip_bad: bool) -> Result<Collected> {
    let mut out = Collected::default();
    let mut files = Vec::new();
    if let Some(root) = results {
        walk(root, &mut files)?;
    }
    files.sort();
    let handle = |out: &mut Collected, path: &Path, r: Result<Found>| -> Result<()> {
        match r {
            Ok(found) => out.add_found(found),
            Err(e) if skip_bad => {
                out.skipped.push((path.to_owned(), format!("{e:#}")));
                Ok(())
            }
            Err(e) => Err(e.context(format!(
                "reading {} (--skip-bad skips unreadable files)",
                path.display()
            ))),
        }
    };
    for f in &files {
        let name = f.file_name().unwrap_or_default();
        if name == "summary.parquet" {
            let r = read_summary(f).map(Found::Blimp);
            handle(&mut out, f, r)?;
        } else if name == "blimp_results.json" && !f.with_file_name("summary.parquet").exists() {
            let r = read_lm_eval(f).map(Found::Blimp);
            handle(&mut out, f, r)?;
        } else if name == crate::results::glue::SUMMARY {
            let r = glue::read_summary(f).map(Found::Glue);
            handle(&mut out, f, r)?;
        }
    }
    for f in imports {
        let r = read_columns(f).and_then(|cols| match glue_import::is_glue_table(&cols) {
            true => glue_import::rows(&cols, f).map(Found::Glue),
            false => read_long_table(&cols, f).map(Found::Blimp),
        });
        handle(&mut out, f, r)?;
    }
    Ok(out)
}

/// Every file below `dir`.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in walkdir::WalkDir::new(dir).min_depth(1) {
        let e = e.with_context(|| format!("reading {}", dir.display()))?;
        if !e.file_type().is_dir() {
            out.push(e.into_path());
        }
    }
    Ok(())
}

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

/// Refuses results over different paradigm sets: their accuracies are not comparable. Overall
/// results that do not say which paradigms they cover (imported tables) are not checked.
pub fn check_paradigm_sets(overall: &[Record]) -> Result<()> {
    let mut sets: BTreeMap<&Vec<String>, Vec<&Record>> = BTreeMap::new();
    for r in overall {
        if let Some(p) = &r.paradigms {
            sets.entry(p).or_default().push(r);
        }
    }
    if sets.len() <= 1 {
        return Ok(());
    }
    let mut by_size: Vec<_> = sets.into_iter().collect();
    by_size.sort_by_key(|(_, rs)| std::cmp::Reverse(rs.len()));
    let lines: Vec<String> = by_size
        .iter()
        .map(|(set, rs)| {
            format!(
                "{} checkpoint(s) over {} paradigm(s) ({}{}), e.g. {}",
                rs.len(),
                set.len(),
                set.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
                if set.len() > 3 { ", …" } else { "" },
                rs[0].source.display()
            )
        })
        .collect();
    bail!(
        "the results cover different BLiMP paradigm sets, so their accuracies are not comparable: {}; \
         score every checkpoint on the same paradigms (lmeff eval blimp --force), or aggregate each set from its own folder",
        lines.join("; ")
    )
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

/// lmeff's `summary.parquet`: one row per paradigm; the overall accuracy is Σ correct / Σ n.
fn read_summary(path: &Path) -> Result<Vec<Record>> {
    let rows = blimp_summary::read(path)?;
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
    Ok(out)
}

/// `…/blimp/<dataset>/<size>/seed-<S>/tok-<V>/[budget-<M>M/]<milestone>/blimp_results.json`.
fn read_lm_eval(path: &Path) -> Result<Vec<Record>> {
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
fn read_long_table(cols: &Columns, path: &Path) -> Result<Vec<Record>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_tables_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("overall.csv");
        fs_err::write(&f, "dataset,model_size,milestone,vocab_size,seed,acc\nts,20m,25,16000,0,0.6\nts,20m,final,16000,0,0.7\nts,20m,25,16000,0,0.6\n").unwrap();
        let c = collect(None, std::slice::from_ref(&f), false).unwrap();
        assert_eq!(c.overall.len(), 2, "an identical duplicate is kept once");
        fs_err::write(&f, "dataset,model_size,milestone,vocab_size,seed,acc\nts,20m,25,16000,0,0.6\nts,20m,25,16000,0,0.61\n").unwrap();
        let e = format!(
            "{:#}",
            collect(None, std::slice::from_ref(&f), false).unwrap_err()
        );
        assert!(e.contains("different accuracies"), "{e}");
        fs_err::write(
            &f,
            "dataset,model_size,milestone,vocab_size,seed,acc\nts,20m,best,16000,0,0.6\n",
        )
        .unwrap();
        let e = format!(
            "{:#}",
            collect(None, std::slice::from_ref(&f), false).unwrap_err()
        );
        assert!(e.contains("overall.csv: line 2: milestone \"best\""), "{e}");
        let c = collect(None, std::slice::from_ref(&f), true).unwrap();
        assert_eq!(c.skipped.len(), 1);
    }
}
