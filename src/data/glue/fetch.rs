//! `lmeff data fetch glue`: each task as `<root>/glue/<task>/{train,dev,test}.jsonl`, the study's
//! split (`create_superglue_splits.py`): 10% of the official train set, stratified by label with
//! seed 42, is the dev set; the official validation set is the test set. From the tasks' Parquet
//! files on the Hub (downloaded by the `glue` source of `configs/sources.toml` into
//! `glue/.parquet/<task>.<train|validation>.parquet`), or with `--from DIR` from the BabyLM
//! pipeline's `glue_filtered/<task>.{train,valid}.jsonl`. Every row is checked as the fine-tuning
//! reads it; a bad row is an error naming file and row, and a task folder is written whole or not.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type};
use arrow_array::Array;
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Map, Value};

use super::splits::stratified_held;
use super::tasks::Task;
use crate::io::Staged;

/// Below the fetch root: where the Hub's Parquet files are downloaded.
pub const RAW: &str = "glue/.parquet";

/// The names of the files a task's splits come from (train, validation); mnli-mm trains on mnli's.
pub fn parquet_names(task: &Task) -> (String, String) {
    (
        format!("{}.train.parquet", task.train_source()),
        format!("{}.validation.parquet", task.name),
    )
}

fn parquet_files(root: &Path, task: &Task) -> (PathBuf, PathBuf) {
    let (train, valid) = parquet_names(task);
    (root.join(RAW).join(train), root.join(RAW).join(valid))
}

/// One Parquet value as JSON (text, integers, booleans, floats; `None` for other types).
fn json_value(column: &dyn Array, row: usize) -> Option<Value> {
    if column.is_null(row) {
        return Some(Value::Null);
    }
    Some(match column.data_type() {
        DataType::Utf8 => Value::from(column.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Value::from(column.as_string::<i64>().value(row)),
        DataType::Boolean => Value::from(column.as_boolean().value(row)),
        DataType::Int8 => Value::from(column.as_primitive::<Int8Type>().value(row)),
        DataType::Int16 => Value::from(column.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => Value::from(column.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => Value::from(column.as_primitive::<Int64Type>().value(row)),
        DataType::Float32 => Value::from(column.as_primitive::<Float32Type>().value(row)),
        DataType::Float64 => Value::from(column.as_primitive::<Float64Type>().value(row)),
        _ => return None,
    })
}

/// The rows of a Parquet file as JSON objects (columns of other types left out).
fn parquet_rows(path: &Path) -> Result<Vec<Value>> {
    let file = fs_err::File::open(path)
        .with_context(|| {
            format!(
                "{}: fetch the task first (lmeff data fetch glue)",
                path.display()
            )
        })?
        .into_parts()
        .0;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .with_context(|| format!("{}: not a Parquet file", path.display()))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.with_context(|| format!("reading {}", path.display()))?;
        let schema = batch.schema();
        for row in 0..batch.num_rows() {
            let mut obj = Map::new();
            for (field, column) in schema.fields().iter().zip(batch.columns()) {
                if let Some(v) = json_value(column.as_ref(), row) {
                    obj.insert(field.name().clone(), v);
                }
            }
            out.push(Value::Object(obj));
        }
    }
    Ok(out)
}

/// The rows of a JSON-lines file, each with its 1-based line (blank lines skipped).
fn jsonl_rows(path: &Path) -> Result<Vec<(usize, Value)>> {
    let text = fs_err::read_to_string(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let v = serde_json::from_str(l)
                .with_context(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
            Ok((i + 1, v))
        })
        .collect()
}

/// The label of every row of `file`, each checked as fine-tuning reads it and named by where it
/// is (`file:line` of a JSON-lines file, `file: row N` of a Parquet file).
fn labels(rows: &[(String, Value)], task: &Task, file: &Path) -> Result<Vec<i64>> {
    if rows.is_empty() {
        bail!("{}: no examples", file.display());
    }
    rows.iter()
        .map(|(at, r)| {
            task.texts(r)
                .with_context(|| format!("{at}: {}", task.name))?;
            task.label(r).with_context(|| at.clone())
        })
        .collect()
}

/// Where a task's official rows come from.
enum Source {
    Parquet,
    JsonLines,
}

impl Source {
    /// The rows of `path`, each with where it is, for messages.
    fn rows(&self, path: &Path) -> Result<Vec<(String, Value)>> {
        Ok(match self {
            Source::Parquet => parquet_rows(path)?
                .into_iter()
                .enumerate()
                .map(|(i, v)| (format!("{}: row {}", path.display(), i + 1), v))
                .collect(),
            Source::JsonLines => jsonl_rows(path)?
                .into_iter()
                .map(|(line, v)| (format!("{}:{line}", path.display()), v))
                .collect(),
        })
    }
}

/// Checks the official `train` and `validation` files of `task` and writes
/// `<root>/glue/<task>/{train,dev,test}.jsonl`: dev is 10% of train (stratified, seed 42), test is
/// the validation set.
fn convert(
    root: &Path,
    task: &Task,
    source: Source,
    train: &Path,
    validation: &Path,
) -> Result<PathBuf> {
    let train_rows = source.rows(train)?;
    let train_labels = labels(&train_rows, task, train)?;
    let test: Vec<Value> = {
        let rows = source.rows(validation)?;
        labels(&rows, task, validation)?;
        rows.into_iter().map(|(_, v)| v).collect()
    };
    let held = stratified_held(&train_labels, 0.1, 42);
    let (mut keep, mut dev) = (Vec::new(), Vec::new());
    for ((_, row), h) in train_rows.into_iter().zip(held) {
        if h {
            dev.push(row)
        } else {
            keep.push(row)
        }
    }
    if keep.is_empty() || dev.is_empty() {
        bail!(
            "{}: {} example(s) are too few to hold out a dev set (10%) and keep a training set",
            train.display(),
            keep.len() + dev.len()
        );
    }
    let staged = Staged::new(&root.join("glue").join(task.name))?;
    for (name, rows) in [("train", &keep), ("dev", &dev), ("test", &test)] {
        let text: String = rows.iter().map(|r| r.to_string() + "\n").collect();
        fs_err::write(staged.path().join(format!("{name}.jsonl")), text)?;
    }
    staged.commit_over(&["train.jsonl", "dev.jsonl", "test.jsonl"])
}

/// Every task of `tasks` from the downloaded Parquet files under `root`, into `root/glue`.
pub fn from_parquet(root: &Path, tasks: &[Task]) -> Result<Vec<PathBuf>> {
    tasks
        .iter()
        .map(|task| {
            let (train, validation) = parquet_files(root, task);
            convert(root, task, Source::Parquet, &train, &validation)
        })
        .collect()
}

/// Every task of `tasks` from a `glue_filtered` folder `dir`, into `root/glue`.
pub fn from_local(dir: &Path, root: &Path, tasks: &[Task]) -> Result<Vec<PathBuf>> {
    tasks
        .iter()
        .map(|task| {
            let (train, valid) = super::splits::filtered_files(dir, task);
            if !train.is_file() || !valid.is_file() {
                bail!(
                    "{}: no {} and {}",
                    dir.display(),
                    train.file_name().unwrap_or_default().to_string_lossy(),
                    valid.file_name().unwrap_or_default().to_string_lossy()
                );
            }
            convert(root, task, Source::JsonLines, &train, &valid)
        })
        .collect()
}
