//! BLiMP result files of one checkpoint, in `<results>/blimp/<dataset>/<size>/seed-<S>/tok-<V>/
//! [budget-<M>M/]<anchor>/`: `pairs.parquet` (one row per pair), `summary.parquet` (one row per
//! paradigm with the run's identity) and `blimp_results.json` (lm-evaluation-harness layout).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use super::blimp_summary as summary;
use super::parquet_io;
use crate::config::layout::{ResultLayout, ResultPlace};
use crate::config::{Anchor, RunKey, ScheduleKind, SeedMode};
use crate::io::{write_json_atomic, Staged};

/// The score of one minimal pair.
#[derive(Debug, Clone, PartialEq)]
pub struct PairScore {
    pub paradigm: String,
    /// BLiMP's pairID (an Int64 column; older lmeff files hold it as a string, and
    /// nothing lmeff reads depends on its type).
    pub pair_id: i64,
    pub field: String,
    pub linguistics_term: String,
    pub logp_good: f64,
    pub logp_bad: f64,
    pub n_tokens_good: i64,
    pub n_tokens_bad: i64,
}

impl PairScore {
    /// The study's decision: strictly more likely good sentence.
    pub fn correct(&self) -> bool {
        self.logp_good > self.logp_bad
    }
}

/// Which result this is: the run and checkpoint evaluated (fields unknown for foreign checkpoints
/// are `None`); it names the results folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultKey {
    pub dataset: Option<String>,
    pub model_size: Option<String>,
    pub vocab_size: Option<u32>,
    pub seed: Option<u64>,
    /// The run's anchor: `full` or a budget such as `25M`.
    pub anchor: Option<Anchor>,
    /// `wsd` for a warmup–stable–decay run; `None` for the study's cosine schedule.
    pub schedule: Option<ScheduleKind>,
    /// What the run's seed varied (`train.seed_mode`; absent: both): which kind of replicate
    /// the seed is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed_mode: Option<SeedMode>,
    /// The checkpoint: a milestone in millions of tokens (`25`, `0.05`) or `final`.
    pub milestone: String,
    pub tokens_seen: Option<u64>,
    pub checkpoint: PathBuf,
    pub checkpoint_sha256: String,
}

impl ResultKey {
    /// The checkpoint's place in the results layout, when its identity is known.
    pub fn place(&self) -> Option<ResultPlace> {
        let run = RunKey {
            dataset: self.dataset.clone()?,
            model: self.model_size.clone()?,
            vocab_size: self.vocab_size?,
            seed: self.seed?,
            anchor: self.anchor.unwrap_or(Anchor::Full),
            schedule: self.schedule.unwrap_or_default(),
        };
        Some(ResultPlace {
            run,
            milestone: self.milestone.clone(),
        })
    }

    /// `blimp/<dataset>/<size>/seed-<S>/tok-<V>[-wsd]/[budget-<M>M/]<milestone>` under `results`.
    pub fn results_dir(&self, results: &Path) -> Option<PathBuf> {
        Some(ResultLayout::at(results).blimp(&self.place()?))
    }
}

/// Accuracy of one paradigm.
#[derive(Debug, Clone, PartialEq)]
pub struct ParadigmSummary {
    pub paradigm: String,
    pub field: String,
    pub linguistics_term: String,
    pub n: i64,
    pub correct: i64,
    pub accuracy: f64,
    /// sqrt(p(1-p)/n).
    pub stderr: f64,
}

fn stderr(p: f64, n: i64) -> f64 {
    (p * (1.0 - p) / n.max(1) as f64).sqrt()
}

/// Per-paradigm accuracies, in order of first appearance.
pub fn summarize(scores: &[PairScore]) -> Vec<ParadigmSummary> {
    let mut out: Vec<ParadigmSummary> = Vec::new();
    for s in scores {
        if out.last().is_none_or(|p| p.paradigm != s.paradigm) {
            out.push(ParadigmSummary {
                paradigm: s.paradigm.clone(),
                field: s.field.clone(),
                linguistics_term: s.linguistics_term.clone(),
                n: 0,
                correct: 0,
                accuracy: 0.0,
                stderr: 0.0,
            });
        }
        let p = out.last_mut().expect("pushed");
        p.n += 1;
        p.correct += s.correct() as i64;
    }
    for p in &mut out {
        p.accuracy = p.correct as f64 / p.n as f64;
        p.stderr = stderr(p.accuracy, p.n);
    }
    out
}

fn strings<'a>(it: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(it))
}

/// The `pairs.parquet` table.
pub fn pairs_batch(scores: &[PairScore]) -> Result<RecordBatch> {
    let schema = Schema::new(vec![
        Field::new("paradigm", DataType::Utf8, false),
        Field::new("pair_id", DataType::Int64, false),
        Field::new("field", DataType::Utf8, false),
        Field::new("linguistics_term", DataType::Utf8, false),
        Field::new("logp_good", DataType::Float64, false),
        Field::new("logp_bad", DataType::Float64, false),
        Field::new("n_tokens_good", DataType::Int64, false),
        Field::new("n_tokens_bad", DataType::Int64, false),
        Field::new("correct", DataType::Boolean, false),
    ]);
    let cols: Vec<ArrayRef> = vec![
        strings(scores.iter().map(|s| s.paradigm.as_str())),
        Arc::new(Int64Array::from_iter_values(
            scores.iter().map(|s| s.pair_id),
        )),
        strings(scores.iter().map(|s| s.field.as_str())),
        strings(scores.iter().map(|s| s.linguistics_term.as_str())),
        Arc::new(Float64Array::from_iter_values(
            scores.iter().map(|s| s.logp_good),
        )),
        Arc::new(Float64Array::from_iter_values(
            scores.iter().map(|s| s.logp_bad),
        )),
        Arc::new(Int64Array::from_iter_values(
            scores.iter().map(|s| s.n_tokens_good),
        )),
        Arc::new(Int64Array::from_iter_values(
            scores.iter().map(|s| s.n_tokens_bad),
        )),
        Arc::new(BooleanArray::from_iter(
            scores.iter().map(|s| Some(s.correct())),
        )),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), cols)?)
}

/// The `summary.parquet` rows of checkpoint `id`'s paradigm summaries.
fn summary_rows(id: &ResultKey, summaries: &[ParadigmSummary]) -> Vec<summary::SummaryRow> {
    summaries
        .iter()
        .map(|r| {
            let seeds = id.seed_mode.zip(id.seed).map(|(m, s)| m.seeds(s));
            summary::SummaryRow {
                dataset: id.dataset.clone(),
                model_size: id.model_size.clone(),
                vocab_size: id.vocab_size.map(i64::from),
                seed: id.seed.map(|s| s as i64),
                anchor: id.anchor,
                schedule: id.schedule,
                seed_mode: id.seed_mode,
                data_seed: seeds.map(|s| s.data as i64),
                init_seed: seeds.map(|s| s.init as i64),
                milestone: id.milestone.clone(),
                tokens_seen: id.tokens_seen.map(|t| t as i64),
                checkpoint: id.checkpoint.display().to_string(),
                checkpoint_sha256: id.checkpoint_sha256.clone(),
                paradigm: r.paradigm.clone(),
                field: r.field.clone(),
                linguistics_term: r.linguistics_term.clone(),
                n: r.n,
                correct: r.correct,
                accuracy: r.accuracy,
                stderr: r.stderr,
            }
        })
        .collect()
}

/// How the evaluation was run (`config` of `blimp_results.json`), compared to skip re-evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    pub checkpoint_sha256: String,
    pub tokenizer_sha256: String,
    /// Whether sentences were encoded with the prefix space (as transformers loads the
    /// checkpoint's tokenizer; absent in results of earlier versions, which re-evaluate).
    #[serde(default)]
    pub prefix_space: Option<bool>,
    pub paradigms: Vec<String>,
    pub precision: String,
}

/// `blimp_results.json` in lm-evaluation-harness' layout, plus field and phenomenon averages.
pub fn lm_eval_json(
    id: &ResultKey,
    cfg: &EvalConfig,
    rows: &[ParadigmSummary],
) -> serde_json::Value {
    use serde_json::json;
    let total: i64 = rows.iter().map(|r| r.n).sum();
    let correct: i64 = rows.iter().map(|r| r.correct).sum();
    let acc = correct as f64 / total.max(1) as f64;
    let group = json!({"acc,none": acc, "acc_stderr,none": stderr(acc, total), "alias": "blimp"});
    let mut results = serde_json::Map::new();
    results.insert("blimp".into(), group.clone());
    let mut n_samples = serde_json::Map::new();
    // lm-eval's make_table reads each result's version, shots and direction: BLiMP's task files
    // are version 1.0, zero-shot, accuracy higher is better.
    let mut versions = serde_json::Map::new();
    let mut n_shot = serde_json::Map::from_iter([("blimp".to_owned(), json!(0))]);
    let mut better = serde_json::Map::from_iter([("blimp".to_owned(), json!({"acc": true}))]);
    for r in rows {
        let task = format!("blimp_{}", r.paradigm);
        versions.insert(task.clone(), json!(1.0));
        n_shot.insert(task.clone(), json!(0));
        better.insert(task.clone(), json!({"acc": true}));
        results.insert(
            task.clone(),
            json!({"acc,none": r.accuracy, "acc_stderr,none": r.stderr, "alias": format!(" - {task}")}),
        );
        n_samples.insert(task, json!({"original": r.n, "effective": r.n}));
    }
    let average = |key: fn(&ParadigmSummary) -> &str| {
        let mut m: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for r in rows {
            let e = m.entry(key(r)).or_default();
            e.0 += r.correct;
            e.1 += r.n;
        }
        m.into_iter()
            .map(|(k, (c, n))| (k.to_owned(), json!(c as f64 / n as f64)))
            .collect::<serde_json::Map<_, _>>()
    };
    json!({
        "results": results,
        "groups": {"blimp": group},
        "group_subtasks": {"blimp": rows.iter().map(|r| format!("blimp_{}", r.paradigm)).collect::<Vec<_>>()},
        "n-samples": n_samples,
        "versions": versions,
        "n-shot": n_shot,
        "higher_is_better": better,
        "fields": average(|r| &r.field),
        "phenomena": average(|r| &r.linguistics_term),
        "config": cfg,
        "lmeff": {"identity": id, "version": env!("CARGO_PKG_VERSION")},
    })
}

/// The overall accuracy (`results.blimp["acc,none"]`) of the `blimp_results.json` in `dir`.
pub fn overall_accuracy(dir: &Path) -> Option<f64> {
    let v: serde_json::Value =
        serde_json::from_slice(&fs_err::read(dir.join("blimp_results.json")).ok()?).ok()?;
    v["results"]["blimp"]["acc,none"].as_f64()
}

/// Reads the `config` of an existing `blimp_results.json` (None when absent or unreadable).
pub fn existing_config(dir: &Path) -> Option<EvalConfig> {
    let text = fs_err::read_to_string(dir.join("blimp_results.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    serde_json::from_value(v.get("config")?.clone()).ok()
}

/// The files of a BLiMP result folder: all that [`write`] puts there.
pub const FILES: [&str; 3] = ["pairs.parquet", summary::FILE, "blimp_results.json"];

/// Checks that `dir` may receive a result: absent, or holding only a result's files.
pub fn check_destination(dir: &Path) -> Result<()> {
    crate::io::check_replaceable(dir, &FILES)
}

/// Writes the three files into `dir`, replacing an earlier result there (and nothing else: a
/// folder holding other files is refused).
pub fn write(
    dir: &Path,
    id: &ResultKey,
    cfg: &EvalConfig,
    scores: &[PairScore],
) -> Result<Vec<ParadigmSummary>> {
    let rows = summarize(scores);
    let staged = Staged::new(dir)?;
    parquet_io::write(&staged.path().join("pairs.parquet"), &pairs_batch(scores)?)?;
    summary::write(&staged.path().join(summary::FILE), &summary_rows(id, &rows))?;
    write_json_atomic(
        &staged.path().join("blimp_results.json"),
        &lm_eval_json(id, cfg, &rows),
    )?;
    staged.commit_over(&FILES)?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;

    fn score(paradigm: &str, good: f64, bad: f64) -> PairScore {
        PairScore {
            paradigm: paradigm.into(),
            pair_id: 0,
            field: "syntax".into(),
            linguistics_term: "island".into(),
            logp_good: good,
            logp_bad: bad,
            n_tokens_good: 3,
            n_tokens_bad: 3,
        }
    }

    #[test]
    fn summaries_files_and_layout() {
        let scores = vec![
            score("a", -1.0, -2.0),
            score("a", -2.0, -2.0),
            score("b", -3.0, -1.0),
            score("b", -1.0, -1.5),
        ];
        let rows = summarize(&scores);
        assert_eq!((rows[0].correct, rows[0].n), (1, 2), "a tie is not correct");
        assert!((rows[0].stderr - (0.25f64 / 2.0).sqrt()).abs() < 1e-12);
        let id = ResultKey {
            dataset: Some("tinystories".into()),
            model_size: Some("20m".into()),
            vocab_size: Some(16000),
            seed: Some(1),
            anchor: Some("25M".parse().unwrap()),
            schedule: None,
            seed_mode: None,
            milestone: "final".into(),
            tokens_seen: Some(25_000_128),
            checkpoint: "x/final".into(),
            checkpoint_sha256: "ab".into(),
        };
        assert_eq!(
            id.results_dir(Path::new("results")).unwrap(),
            Path::new("results/blimp/tinystories/20m/seed-1/tok-16000/budget-25M/final")
        );
        let dir = tempfile::tempdir().unwrap();
        let cfg = EvalConfig {
            checkpoint_sha256: "ab".into(),
            tokenizer_sha256: "cd".into(),
            prefix_space: Some(true),
            paradigms: vec!["a".into(), "b".into()],
            precision: "fp32".into(),
        };
        write(dir.path(), &id, &cfg, &scores).unwrap();
        let pairs = parquet_io::read(&dir.path().join("pairs.parquet")).unwrap();
        assert_eq!(pairs.num_rows(), 4);
        let correct = pairs
            .column_by_name("correct")
            .unwrap()
            .as_any()
            .downcast_ref::<BooleanArray>()
            .unwrap();
        assert_eq!(
            (0..4).map(|i| correct.value(i)).collect::<Vec<_>>(),
            [true, false, false, true]
        );
        let summary = parquet_io::read(&dir.path().join("summary.parquet")).unwrap();
        assert_eq!(summary.num_rows(), 2);
        let seed = summary
            .column_by_name("seed")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(seed.value(1), 1);
        let json: serde_json::Value =
            serde_json::from_slice(&fs_err::read(dir.path().join("blimp_results.json")).unwrap())
                .unwrap();
        assert_eq!(json["results"]["blimp"]["acc,none"], 0.5);
        assert_eq!(json["results"]["blimp_b"]["acc,none"], 0.5);
        assert_eq!(json["groups"]["blimp"]["acc,none"], 0.5);
        assert_eq!(json["versions"]["blimp_b"], 1.0);
        assert_eq!(json["n-shot"]["blimp"], 0);
        assert_eq!(json["higher_is_better"]["blimp_b"]["acc"], true);
        assert_eq!(existing_config(dir.path()).unwrap(), cfg);
    }
}
