//! Where a dataset's files live (the study's layout under `data_dir`):
//! raw text in `<name>/{train,dev}/`, cleaned text in `<name>/{train,dev}_clean/`, tokenizers in
//! `<name>/tokenizers/tokenizer_<V>.json`, token files in `<name>/tokens/<V>/{train,dev}.bin` (the
//! study's recipe and encoding under their own names: see [`DataSettings`]).

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::config::{DataSettings, DatasetName};

/// The two splits every dataset has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Dev,
}

impl Split {
    /// Both splits, train first.
    pub const ALL: [Split; 2] = [Split::Train, Split::Dev];

    /// `train` or `dev`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Raw-text file endings the pipeline reads.
pub const RAW_EXTENSIONS: [&str; 4] = ["txt", "train", "dev", "jsonl"];

/// The endings the study's tokenizer trained on (BabyLM's `.dev` files left out).
pub const STUDY_TOKENIZER_EXTENSIONS: [&str; 3] = ["train", "txt", "jsonl"];

/// One dataset folder under `data_dir`.
#[derive(Debug, Clone)]
pub struct DatasetDir {
    root: PathBuf,
    name: String,
    /// Which tokenizer and token files are meant (lmeff's unless [`DatasetDir::with`] says).
    data: DataSettings,
}

impl DatasetDir {
    /// `data_dir/name`; a name that is not a single folder name (`../x`, `a/b`) is an error.
    pub fn new(data_dir: &Path, name: &str) -> Result<DatasetDir> {
        let name = DatasetName::parse(name).map_err(anyhow::Error::msg)?;
        Ok(DatasetDir {
            root: data_dir.join(name.as_str()),
            name: name.to_string(),
            data: DataSettings::default(),
        })
    }

    /// The same folder, its tokenizers and token files those of `data`'s recipe and encoding.
    pub fn with(self, data: DataSettings) -> DatasetDir {
        DatasetDir { data, ..self }
    }

    /// The recipe and encoding of [`DatasetDir::tokenizer_path`] and [`DatasetDir::tokens_dir`].
    pub fn data(&self) -> DataSettings {
        self.data
    }

    /// The dataset's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `data_dir/name`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Raw text of a split.
    pub fn raw_dir(&self, split: Split) -> PathBuf {
        self.root.join(split.name())
    }

    /// Cleaned text of a split.
    pub fn clean_dir(&self, split: Split) -> PathBuf {
        self.root.join(format!("{}_clean", split.name()))
    }

    /// The trained tokenizer of vocabulary `vocab`.
    pub fn tokenizer_path(&self, vocab: u32) -> PathBuf {
        self.root
            .join("tokenizers")
            .join(self.data.tokenizer_file_name(vocab))
    }

    /// Folder of the token files for vocabulary `vocab`.
    pub fn tokens_dir(&self, vocab: u32) -> PathBuf {
        self.root
            .join("tokens")
            .join(self.data.tokens_dir_name(vocab))
    }

    /// The token file of a split.
    pub fn token_file(&self, vocab: u32, split: Split) -> PathBuf {
        self.tokens_dir(vocab).join(format!("{}.bin", split.name()))
    }

    /// Raw files of a split (sorted); a missing or empty folder is an error.
    pub fn raw_files(&self, split: Split) -> Result<Vec<PathBuf>> {
        list_text_files(&self.raw_dir(split), &RAW_EXTENSIONS)
    }

    /// The raw files the study's tokenizer trained on: both splits' `.train`, `.txt` and `.jsonl`
    /// files, train's first, each split's sorted.
    pub fn study_tokenizer_files(&self) -> Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for split in Split::ALL {
            let dir = self.raw_dir(split);
            if dir.is_dir() {
                files
                    .extend(list_text_files(&dir, &STUDY_TOKENIZER_EXTENSIONS).unwrap_or_default());
            }
        }
        if files.is_empty() {
            bail!(
                "dataset {}: no .train, .txt or .jsonl file in {} or {} for the study's tokenizer recipe",
                self.name,
                self.raw_dir(Split::Train).display(),
                self.raw_dir(Split::Dev).display()
            );
        }
        Ok(files)
    }

    /// Cleaned files of a split (sorted); run `lmeff data clean` first.
    pub fn clean_files(&self, split: Split) -> Result<Vec<PathBuf>> {
        list_text_files(&self.clean_dir(split), &["txt", "train", "dev"])
            .with_context(|| format!("dataset {}: run `lmeff data clean` first", self.name))
    }
}

fn list_text_files(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>> {
    let entries = fs_err::read_dir(dir)?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if path.is_file() && extensions.contains(&ext) {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        bail!(
            "{} holds no text files (*.{})",
            dir.display(),
            extensions.join(", *.")
        );
    }
    if let Some(empty) = files
        .iter()
        .find(|f| f.metadata().map(|m| m.len() == 0).unwrap_or(false))
    {
        bail!("{} is empty", empty.display());
    }
    Ok(files)
}
