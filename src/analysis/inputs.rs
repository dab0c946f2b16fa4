//! Collecting results: BLiMP's ([`super::blimp_inputs`]: lmeff's `summary.parquet` files, the
//! lm-evaluation-harness JSON tree the study used, and long tables, CSV or Parquet) and GLUE's
//! (lmeff's `glue_results.json` files and the study's GLUE tables, [`super::glue_import`]; tables
//! are told apart by their header). The same result twice is an error unless the values are equal.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::blimp_inputs;
use super::columns::read_columns;
use super::glue::{self, GlueRow};
use super::glue_import;
pub use super::record::{Milestone, Record, RunKey};
use crate::config::SeedMode;

/// Everything collected.
#[derive(Debug, Default)]
pub struct Collected {
    pub overall: Vec<Record>,
    pub tasks: Vec<Record>,
    /// Per checkpoint of lmeff's own results, the mean margin log p(good) − log p(bad) over its
    /// pairs (held in `acc`; `pairs.parquet` is lmeff's alone).
    pub margins: Vec<Record>,
    /// GLUE results: checkpoint × task × split.
    pub glue: Vec<GlueRow>,
    /// Files that could not be read (kept only with `--skip-bad`), with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// What the seeds of lmeff's own results varied (`train.seed_mode`), each mode once.
    pub seed_modes: BTreeSet<SeedMode>,
    /// (run, milestone, task) → index in `overall` / `tasks`, for the duplicate check.
    seen: HashMap<(RunKey, String, Option<String>), usize>,
    /// A GLUE row's checkpoint, task and split → index in `glue`.
    glue_seen: HashMap<String, usize>,
}

/// What one input file holds.
enum Found {
    Blimp(Vec<Record>),
    /// lmeff's results of a checkpoint, with their mean margin.
    Lmeff(Vec<Record>, Box<Record>),
    Glue(Vec<GlueRow>),
}

impl Collected {
    fn add_found(&mut self, found: Found) -> Result<()> {
        match found {
            Found::Blimp(records) => records.into_iter().try_for_each(|r| self.add(r)),
            Found::Lmeff(records, margin) => {
                let key = (margin.run.clone(), margin.milestone.to_string(), None);
                if !self.seen.contains_key(&key) {
                    self.margins.push(*margin);
                }
                records.into_iter().try_for_each(|r| self.add(r))
            }
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
            let r = blimp_inputs::read_summary(f).and_then(|(records, seed_mode)| {
                out.seed_modes.insert(seed_mode);
                let pairs = f.with_file_name("pairs.parquet");
                match records.last().filter(|_| pairs.exists()) {
                    Some(overall) => {
                        let margin = blimp_inputs::read_margin(&pairs, overall)?;
                        Ok(Found::Lmeff(records, Box::new(margin)))
                    }
                    None => Ok(Found::Blimp(records)),
                }
            });
            handle(&mut out, f, r)?;
        } else if name == "blimp_results.json" && !f.with_file_name("summary.parquet").exists() {
            let r = blimp_inputs::read_lm_eval(f).map(Found::Blimp);
            handle(&mut out, f, r)?;
        } else if name == crate::results::glue::SUMMARY {
            let r = glue::read_summary(f).map(Found::Glue);
            handle(&mut out, f, r)?;
        }
    }
    for f in imports {
        let r = read_columns(f).and_then(|cols| match glue_import::is_glue_table(&cols) {
            true => glue_import::rows(&cols, f).map(Found::Glue),
            false => blimp_inputs::read_long_table(&cols, f).map(Found::Blimp),
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
