//! The aggregator's tables, written both as CSV and as Parquet (atomically). A table's schema is
//! a row struct: [`Table::from_rows`] takes its fields in order as the columns (through
//! serde_arrow), every column nullable, non-finite numbers written as missing.

use std::path::Path;
use std::sync::Arc;

use anyhow::bail;
use anyhow::Result;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt64Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, FieldRef, Schema};
use serde::{Deserialize, Serialize};
use serde_arrow::schema::{SchemaLike, TracingOptions};

use crate::io::write_atomic;
use crate::results::parquet_io;

/// One column's values (`None` = missing).
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Str(Vec<Option<String>>),
    F64(Vec<Option<f64>>),
    I64(Vec<Option<i64>>),
}

impl Column {
    fn len(&self) -> usize {
        match self {
            Column::Str(v) => v.len(),
            Column::F64(v) => v.len(),
            Column::I64(v) => v.len(),
        }
    }

    fn cell(&self, i: usize) -> String {
        match self {
            Column::Str(v) => v[i].clone().unwrap_or_default(),
            Column::F64(v) => v[i]
                .filter(|x| x.is_finite())
                .map(|x| format!("{x}"))
                .unwrap_or_default(),
            Column::I64(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
        }
    }
}

/// Named columns of equal length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<(String, Column)>,
}

impl Table {
    /// The table of `rows`, one column per field of `T` in declaration order.
    pub fn from_rows<T: Serialize + for<'de> Deserialize<'de>>(rows: &[T]) -> Result<Table> {
        let options = TracingOptions::default().strings_as_large_utf8(false);
        let fields = Vec::<FieldRef>::from_type::<T>(options)?;
        let batch = serde_arrow::to_record_batch(&fields, &rows)?;
        let mut table = Table::default();
        for (field, array) in fields.iter().zip(batch.columns()) {
            let column = match array.data_type() {
                DataType::Utf8 => Column::Str(
                    array
                        .as_string::<i32>()
                        .iter()
                        .map(|v| v.map(str::to_owned))
                        .collect(),
                ),
                DataType::Float64 => {
                    Column::F64(array.as_primitive::<Float64Type>().iter().collect())
                }
                DataType::Int64 => Column::I64(array.as_primitive::<Int64Type>().iter().collect()),
                DataType::UInt64 => Column::I64(
                    array
                        .as_primitive::<UInt64Type>()
                        .iter()
                        .map(|v| v.map(|x| x as i64))
                        .collect(),
                ),
                other => bail!("column `{}`: unsupported type {other}", field.name()),
            };
            table.columns.push((field.name().clone(), column));
        }
        Ok(table)
    }

    /// This table's columns followed by `other`'s (the same rows).
    pub fn beside(mut self, other: Table) -> Table {
        debug_assert_eq!(self.rows(), other.rows());
        self.columns.extend(other.columns);
        self
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.1.len())
    }

    /// Writes `<stem>.csv` and `<stem>.parquet` in `dir`.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<()> {
        debug_assert!(self.columns.iter().all(|c| c.1.len() == self.rows()));
        write_atomic(&dir.join(format!("{stem}.csv")), |w| {
            let mut csv = csv::Writer::from_writer(w);
            csv.write_record(self.columns.iter().map(|c| c.0.as_str()))?;
            for i in 0..self.rows() {
                csv.write_record(self.columns.iter().map(|c| c.1.cell(i)))?;
            }
            csv.flush()?;
            Ok(())
        })?;
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|(name, c)| {
                let ty = match c {
                    Column::Str(_) => DataType::Utf8,
                    Column::F64(_) => DataType::Float64,
                    Column::I64(_) => DataType::Int64,
                };
                Field::new(name, ty, true)
            })
            .collect();
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter()
            .map(|(_, c)| -> ArrayRef {
                match c {
                    Column::Str(v) => Arc::new(StringArray::from(v.clone())),
                    Column::F64(v) => Arc::new(Float64Array::from(
                        v.iter()
                            .map(|x| x.filter(|x| x.is_finite()))
                            .collect::<Vec<_>>(),
                    )),
                    Column::I64(v) => Arc::new(Int64Array::from(v.clone())),
                }
            })
            .collect();
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
        parquet_io::write(&dir.join(format!("{stem}.parquet")), &batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Row {
        name: String,
        n: usize,
        acc: f64,
        lo: Option<f64>,
        seed: Option<i64>,
    }

    #[test]
    fn rows_become_columns_in_field_order() {
        let rows = [
            Row {
                name: "a".into(),
                n: 2,
                acc: 0.5,
                lo: None,
                seed: Some(3),
            },
            Row {
                name: "b".into(),
                n: 4,
                acc: f64::NAN,
                lo: Some(0.25),
                seed: None,
            },
        ];
        let t = Table::from_rows(&rows).unwrap();
        let names: Vec<&str> = t.columns.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(names, ["name", "n", "acc", "lo", "seed"]);
        assert_eq!(t.columns[1].1, Column::I64(vec![Some(2), Some(4)]));
        assert_eq!(t.columns[3].1, Column::F64(vec![None, Some(0.25)]));
        let dir = tempfile::tempdir().unwrap();
        t.write(dir.path(), "x").unwrap();
        let csv = fs_err::read_to_string(dir.path().join("x.csv")).unwrap();
        assert_eq!(csv, "name,n,acc,lo,seed\na,2,0.5,,3\nb,4,,0.25,\n");
        let back = parquet_io::read(&dir.path().join("x.parquet")).unwrap();
        assert_eq!(back.column(2).null_count(), 1, "NaN is written as missing");
        assert!(Table::from_rows::<Row>(&[]).unwrap().rows() == 0);
    }
}
