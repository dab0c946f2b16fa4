//! A result table read as text columns (CSV or Parquet), for the readers that tell the study's
//! tables apart by their header.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};

use crate::results::parquet_io;

/// A table's columns by name, each cell as text (empty cells: None).
pub type Columns = BTreeMap<String, Vec<Option<String>>>;

/// A CSV or Parquet table's columns.
pub fn read_columns(path: &Path) -> Result<Columns> {
    let mut cols = Columns::new();
    if path.extension().is_some_and(|e| e == "parquet") {
        let b = parquet_io::read(path)?;
        for f in b.schema().fields() {
            cols.insert(f.name().clone(), strings(&b, f.name())?);
        }
    } else {
        let mut r =
            csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
        let headers: Vec<String> = r.headers()?.iter().map(str::to_owned).collect();
        for h in &headers {
            cols.insert(h.clone(), Vec::new());
        }
        for (i, rec) in r.records().enumerate() {
            let rec = rec.with_context(|| format!("{}: line {}", path.display(), i + 2))?;
            for (h, v) in headers.iter().zip(rec.iter()) {
                cols.get_mut(h)
                    .expect("header")
                    .push((!v.is_empty()).then(|| v.to_owned()));
            }
        }
    }
    Ok(cols)
}

/// A column's cells as text (numbers written out), null cells as None.
fn strings(b: &RecordBatch, name: &str) -> Result<Vec<Option<String>>> {
    let c = b
        .column_by_name(name)
        .ok_or_else(|| anyhow!("no column `{name}`"))?;
    if let Some(s) = c.as_any().downcast_ref::<StringArray>() {
        return Ok((0..s.len())
            .map(|i| s.is_valid(i).then(|| s.value(i).to_owned()))
            .collect());
    }
    if let Some(s) = c.as_any().downcast_ref::<Int64Array>() {
        return Ok((0..s.len())
            .map(|i| s.is_valid(i).then(|| s.value(i).to_string()))
            .collect());
    }
    if let Some(s) = c.as_any().downcast_ref::<Float64Array>() {
        return Ok((0..s.len())
            .map(|i| s.is_valid(i).then(|| s.value(i).to_string()))
            .collect());
    }
    bail!("column `{name}` is not text or a number")
}
