//! The texts of a dataset shard as the Hub stores them, read in bounded memory: Parquet (one
//! record batch of the text column at a time), JSON lines (`.jsonl`, `.json`, gzip-compressed as
//! `.json.gz` / `.jsonl.gz`) with a text field, or plain text (one example per line).

use fs_err::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use arrow_array::{Array, LargeStringArray, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

/// Calls `take` with each text of the shard at `path` (field or column `field`) until it
/// returns `false`. Returns the texts read.
pub fn for_each_text(
    path: &Path,
    field: &str,
    mut take: impl FnMut(&str) -> Result<bool>,
) -> Result<u64> {
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_lowercase();
    let mut n = 0u64;
    let mut each = |t: &str| -> Result<bool> {
        n += 1;
        take(t)
    };
    if name.ends_with(".parquet") {
        parquet_texts(path, field, &mut each)?;
    } else if name.ends_with(".jsonl")
        || name.ends_with(".json")
        || name.ends_with(".jsonl.gz")
        || name.ends_with(".json.gz")
    {
        json_texts(path, field, name.ends_with(".gz"), &mut each)?;
    } else if name.ends_with(".txt") || name.ends_with(".txt.gz") {
        for line in reader(path, name.ends_with(".gz"))?.lines() {
            let line = line.with_context(|| format!("reading {}", path.display()))?;
            if !line.trim().is_empty() && !each(&line)? {
                break;
            }
        }
    } else {
        bail!(
            "{}: not a shard lmeff reads (.parquet, .jsonl, .json, .json.gz, .jsonl.gz, .txt)",
            path.display()
        );
    }
    Ok(n)
}

fn reader(path: &Path, gz: bool) -> Result<Box<dyn BufRead>> {
    let file = File::open(path)?;
    let inner: Box<dyn Read> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 20, inner)))
}

fn json_texts(
    path: &Path,
    field: &str,
    gz: bool,
    each: &mut dyn FnMut(&str) -> Result<bool>,
) -> Result<()> {
    for (i, line) in reader(path, gz)?.lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| anyhow!("{}:{}: invalid JSON: {e}", path.display(), i + 1))?;
        let text = value
            .get(field)
            .and_then(|t| t.as_str())
            .ok_or_else(|| anyhow!("{}:{}: no string field `{field}`", path.display(), i + 1))?;
        if !each(text)? {
            break;
        }
    }
    Ok(())
}

fn parquet_texts(
    path: &Path,
    column: &str,
    each: &mut dyn FnMut(&str) -> Result<bool>,
) -> Result<()> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?.into_parts().0)
        .with_context(|| format!("{} is not a Parquet file", path.display()))?;
    let schema = builder.parquet_schema();
    let index = (0..schema.num_columns())
        .find(|&i| schema.column(i).name() == column)
        .ok_or_else(|| anyhow!("{}: no column `{column}`", path.display()))?;
    let mask = ProjectionMask::leaves(schema, [index]);
    let batches = builder
        .with_projection(mask)
        .with_batch_size(1024)
        .build()
        .with_context(|| format!("reading {}", path.display()))?;
    for batch in batches {
        let batch = batch.with_context(|| format!("reading {}", path.display()))?;
        let col = batch.column(0);
        let texts: Box<dyn Iterator<Item = Option<&str>>> =
            if let Some(a) = col.as_any().downcast_ref::<StringArray>() {
                Box::new(a.iter())
            } else if let Some(a) = col.as_any().downcast_ref::<LargeStringArray>() {
                Box::new(a.iter())
            } else {
                bail!("{}: column `{column}` is not text", path.display());
            };
        for t in texts.flatten() {
            if !each(t)? {
                return Ok(());
            }
        }
    }
    Ok(())
}
