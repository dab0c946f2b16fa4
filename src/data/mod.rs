//! Data: fetching the study's corpora, cleaning them, training BPE tokenizers and encoding
//! memory-mapped token files, laid out as the study did under `data_dir`; and the GLUE tasks'
//! data ([`glue`]).

pub mod blimp_paradigms;
pub mod clean;
pub mod encode;
pub mod fetch;
pub mod glue;
pub mod hub;
pub mod layout;
pub mod mix;
pub mod prepare;
pub mod shard_text;
pub mod sink;
pub mod study_encoding;
pub mod text;
pub mod tokenizer;
pub mod tokens;
pub mod windows;

pub use layout::{DatasetDir, Split};
pub use tokens::TokenFile;
