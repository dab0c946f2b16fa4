//! A small column table written both as CSV and as Parquet (atomically), for the aggregator's
//! outputs.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

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
    /// Adds a column.
    pub fn with(mut self, name: &str, column: Column) -> Table {
        self.columns.push((name.to_owned(), column));
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
