//! `summary.parquet`: one row per paradigm, the checkpoint's identity repeated on every row;
//! written and read back here through serde, with the schema spelled out so the file keeps its
//! exact column types (nullable identity columns, `Int64` counts).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_schema::{DataType, Field, FieldRef};
use serde::{Deserialize, Serialize};

use super::parquet_io;
use crate::config::{Anchor, ScheduleKind, SeedMode};

/// The file's name in a BLiMP result folder.
pub const FILE: &str = "summary.parquet";

/// One row: a paradigm's result with the checkpoint it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    pub dataset: Option<String>,
    pub model_size: Option<String>,
    pub vocab_size: Option<i64>,
    pub seed: Option<i64>,
    pub anchor: Option<Anchor>,
    /// Absent in results of versions before WSD: cosine, as every run then was.
    #[serde(default)]
    pub schedule: Option<ScheduleKind>,
    /// The data-order and initialisation seeds where `train.seed_mode` kept them apart (absent
    /// in results of versions before it: both were `seed`).
    #[serde(default)]
    pub seed_mode: Option<SeedMode>,
    #[serde(default)]
    pub data_seed: Option<i64>,
    #[serde(default)]
    pub init_seed: Option<i64>,
    pub milestone: String,
    pub tokens_seen: Option<i64>,
    pub checkpoint: String,
    pub checkpoint_sha256: String,
    pub paradigm: String,
    pub field: String,
    pub linguistics_term: String,
    pub n: i64,
    pub correct: i64,
    pub accuracy: f64,
    pub stderr: f64,
}

fn fields() -> Vec<FieldRef> {
    let f = |name: &str, t: DataType, nullable: bool| Arc::new(Field::new(name, t, nullable));
    use DataType::{Float64, Int64, Utf8};
    vec![
        f("dataset", Utf8, true),
        f("model_size", Utf8, true),
        f("vocab_size", Int64, true),
        f("seed", Int64, true),
        f("anchor", Utf8, true),
        f("schedule", Utf8, true),
        f("seed_mode", Utf8, true),
        f("data_seed", Int64, true),
        f("init_seed", Int64, true),
        f("milestone", Utf8, false),
        f("tokens_seen", Int64, true),
        f("checkpoint", Utf8, false),
        f("checkpoint_sha256", Utf8, false),
        f("paradigm", Utf8, false),
        f("field", Utf8, false),
        f("linguistics_term", Utf8, false),
        f("n", Int64, false),
        f("correct", Int64, false),
        f("accuracy", Float64, false),
        f("stderr", Float64, false),
    ]
}

/// Writes `rows` to `path` (atomically).
pub fn write(path: &Path, rows: &[SummaryRow]) -> Result<()> {
    let batch = serde_arrow::to_record_batch(&fields(), &rows)?;
    parquet_io::write(path, &batch)
}

/// Reads `path` back.
pub fn read(path: &Path) -> Result<Vec<SummaryRow>> {
    let batch = parquet_io::read(path)?;
    serde_arrow::from_record_batch(&batch)
        .with_context(|| format!("{}: not an lmeff BLiMP summary", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_with_the_declared_column_types() {
        let row = |paradigm: &str, schedule: Option<ScheduleKind>| SummaryRow {
            dataset: Some("ts".into()),
            model_size: Some("20m".into()),
            vocab_size: Some(1000),
            seed: None,
            anchor: Some("25M".parse().unwrap()),
            schedule,
            seed_mode: None,
            data_seed: None,
            init_seed: None,
            milestone: "final".into(),
            tokens_seen: Some(25_000_000),
            checkpoint: "out/final".into(),
            checkpoint_sha256: "ab".into(),
            paradigm: paradigm.into(),
            field: "syntax".into(),
            linguistics_term: "island".into(),
            n: 4,
            correct: 3,
            accuracy: 0.75,
            stderr: 0.2,
        };
        let rows = vec![row("a", None), row("b", Some(ScheduleKind::Wsd))];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        write(&path, &rows).unwrap();
        assert_eq!(read(&path).unwrap(), rows);
        let batch = parquet_io::read(&path).unwrap();
        let schema = batch.schema();
        for f in fields() {
            let got = schema.field_with_name(f.name()).unwrap();
            assert_eq!(
                (got.data_type(), got.is_nullable()),
                (f.data_type(), f.is_nullable())
            );
        }
        let bad = dir.path().join("pairs.parquet");
        let other = serde_arrow::to_record_batch(
            &fields()[..3],
            &[serde_json::json!({"dataset": "x", "model_size": null, "vocab_size": 1})],
        )
        .unwrap();
        parquet_io::write(&bad, &other).unwrap();
        assert!(format!("{:#}", read(&bad).unwrap_err()).contains("not an lmeff BLiMP summary"));
    }
}
