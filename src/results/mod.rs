//! Result files and their schemas: BLiMP per-pair and per-paradigm Parquet tables and the
//! lm-evaluation-harness JSON, GLUE predictions, epochs and summaries, written atomically, read
//! back by the aggregator.

pub mod blimp;
pub mod blimp_summary;
pub mod glue;
pub mod parquet_io;
