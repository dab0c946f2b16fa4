//! Result files and their schemas: BLiMP per-pair and per-paradigm Parquet tables and the
//! lm-evaluation-harness JSON, written atomically, read back by the aggregator.

pub mod blimp;
pub mod parquet_io;
