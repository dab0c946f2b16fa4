//! Writing and reading Arrow record batches as Parquet files (atomic writes).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::io::write_bytes_atomic;

/// Writes `batch` to `path` (Snappy-compressed Parquet) via a temporary file and a rename.
pub fn write(path: &Path, batch: &RecordBatch) -> Result<()> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(props))
        .with_context(|| format!("encoding {}", path.display()))?;
    writer.write(batch)?;
    writer.close()?;
    write_bytes_atomic(path, &bytes)
}

/// Reads every row of a Parquet file into one batch.
pub fn read(path: &Path) -> Result<RecordBatch> {
    let file = fs_err::File::open(path)?.into_parts().0;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{}: not a Parquet file", path.display()))?;
    let schema = Arc::clone(reader.schema());
    let batches = reader
        .build()?
        .collect::<std::result::Result<Vec<_>, _>>()
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(arrow_select::concat::concat_batches(&schema, &batches)?)
}

/// Reads the columns `names` (each must be there) of every row of a Parquet file.
pub fn read_columns(path: &Path, names: &[&str]) -> Result<RecordBatch> {
    let file = fs_err::File::open(path)?.into_parts().0;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{}: not a Parquet file", path.display()))?;
    let fields = builder.parquet_schema().root_schema().get_fields();
    let mut roots = Vec::with_capacity(names.len());
    for name in names {
        let Some(i) = fields.iter().position(|f| f.name() == *name) else {
            anyhow::bail!("{}: no column `{name}`", path.display());
        };
        roots.push(i);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder.with_projection(mask).build()?;
    let schema = arrow_array::RecordBatchReader::schema(&reader);
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(arrow_select::concat::concat_batches(&schema, &batches)?)
}
