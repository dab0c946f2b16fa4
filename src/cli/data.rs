//! `lmeff data`: fetch, clean, train tokenizers, tokenize, or all of the local steps (`prepare`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use lmeff::config::{Settings, SettingsOverrides};
use lmeff::data::clean::CleanOptions;
use lmeff::data::prepare::{self, DEFAULT_VOCAB_SIZES};
use lmeff::data::{fetch, DatasetDir};

#[derive(Debug, Args)]
pub struct DataArgs {
    #[command(subcommand)]
    pub step: Step,
}

#[derive(Debug, Args)]
pub struct DatasetArg {
    /// Dataset folder under data_dir (e.g. tinystories, babylm, web).
    #[arg(long)]
    pub dataset: String,
}

#[derive(Debug, Args)]
pub struct VocabArg {
    /// Tokenizer vocabulary sizes.
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_VOCAB_SIZES)]
    pub vocab_sizes: Vec<u32>,
}

#[derive(Debug, Args)]
pub struct LossyArg {
    /// Replace invalid UTF-8 with U+FFFD instead of failing.
    #[arg(long)]
    pub lossy: bool,
}

#[derive(Debug, Subcommand)]
pub enum Step {
    /// Download a source of configs/sources.toml (tinystories, babylm3, blimp).
    Fetch {
        /// Source name.
        name: String,
        /// Root folder to download into [default: data_dir].
        #[arg(long)]
        dest: Option<PathBuf>,
        /// Sources file.
        #[arg(long, default_value = "configs/sources.toml")]
        sources: PathBuf,
        /// Fetch every file from MIRROR/<name>/<file name> instead.
        #[arg(long)]
        mirror: Option<String>,
    },
    /// Clean raw text into <dataset>/{train,dev}_clean/.
    Clean {
        #[command(flatten)]
        dataset: DatasetArg,
        #[command(flatten)]
        lossy: LossyArg,
    },
    /// Train BPE tokenizers on the cleaned text.
    Tokenizer {
        #[command(flatten)]
        dataset: DatasetArg,
        #[command(flatten)]
        vocab: VocabArg,
    },
    /// Encode the cleaned text into tokens/<V>/{train,dev}.bin.
    Tokenize {
        #[command(flatten)]
        dataset: DatasetArg,
        #[command(flatten)]
        vocab: VocabArg,
    },
    /// Clean, train tokenizers and tokenize.
    Prepare {
        #[command(flatten)]
        dataset: DatasetArg,
        #[command(flatten)]
        vocab: VocabArg,
        #[command(flatten)]
        lossy: LossyArg,
    },
}

pub fn run(
    args: DataArgs,
    settings: impl FnOnce(SettingsOverrides) -> Result<Settings>,
) -> Result<ExitCode> {
    let settings = settings(SettingsOverrides::default())?;
    let ds = |d: &DatasetArg| DatasetDir::new(&settings.data_dir, &d.dataset);
    match &args.step {
        Step::Fetch {
            name,
            dest,
            sources,
            mirror,
        } => {
            let sources = fetch::load_sources(sources)?;
            let root = dest.clone().unwrap_or_else(|| settings.data_dir.clone());
            let opts = fetch::FetchOptions {
                mirror: mirror.clone(),
                ..Default::default()
            };
            let files = fetch::fetch(&sources, name, &root, &opts)?;
            println!(
                "fetched {} file(s) of {name} into {} (manifest {})",
                files.len(),
                root.display(),
                fetch::manifest_path(&root, name).display()
            );
        }
        Step::Clean { dataset, lossy } => {
            prepare::clean(&ds(dataset), CleanOptions { lossy: lossy.lossy })?;
        }
        Step::Tokenizer { dataset, vocab } => {
            prepare::train_tokenizers(&ds(dataset), &vocab.vocab_sizes)?;
        }
        Step::Tokenize { dataset, vocab } => {
            for &v in &vocab.vocab_sizes {
                prepare::tokenize(&ds(dataset), v)?;
            }
        }
        Step::Prepare {
            dataset,
            vocab,
            lossy,
        } => {
            prepare::prepare(
                &ds(dataset),
                &vocab.vocab_sizes,
                CleanOptions { lossy: lossy.lossy },
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
