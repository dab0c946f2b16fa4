//! `lmeff data`: fetch, clean, train tokenizers, tokenize, or all of the local steps (`prepare`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use lmeff::config::{DatasetName, Settings, SettingsOverrides};
use lmeff::data::clean::CleanOptions;
use lmeff::data::fetch::hybrid;
use lmeff::data::prepare;
use lmeff::data::sink::{Admission, LongExamples};
use lmeff::data::{fetch, glue, mix, DatasetDir};

#[derive(Debug, Args)]
pub struct DataArgs {
    #[command(subcommand)]
    pub step: Step,
}

#[derive(Debug, Args)]
pub struct DatasetArg {
    /// Dataset folder under data_dir (e.g. tinystories, babylm, web).
    #[arg(long)]
    pub dataset: DatasetName,
}

#[derive(Debug, Args)]
pub struct VocabArg {
    /// Tokenizer vocabulary sizes, comma-separated [setting vocab_sizes: 8000,16000,32000,50257].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub vocab_sizes: Option<Vec<u32>>,
}

#[derive(Debug, Args)]
pub struct LossyArg {
    /// Replace invalid UTF-8 with U+FFFD instead of failing.
    #[arg(long)]
    pub lossy: bool,
}

/// Options of `lmeff data fetch` for the sources built after downloading: `hybrid` and `glue`.
#[derive(Debug, Args)]
pub struct FetchExtras {
    /// hybrid: the dataset folder to build under --dest [default: hybrid].
    #[arg(long, value_name = "NAME")]
    pub name: Option<DatasetName>,
    /// hybrid: the word budget [default: sources.toml's, 3.2 billion].
    #[arg(long)]
    pub words: Option<u64>,
    /// hybrid: replace an existing dataset folder of that name.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub admit: CompositeArgs,
    /// glue: convert the BabyLM pipeline's glue_filtered folder (<task>.{train,valid}.jsonl)
    /// instead of downloading.
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
    /// glue: only these tasks (comma-separated) [default: every task whose files are there].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub tasks: Option<Vec<String>>,
}

/// How a composite corpus admits examples.
#[derive(Debug, Args)]
pub struct CompositeArgs {
    /// Cut examples over 2000 words into pieces instead of dropping them (the study drops them).
    #[arg(long)]
    pub cut_long: bool,
    /// Remove an example also when another source gave it (the study: within each source).
    #[arg(long)]
    pub dedup_across_sources: bool,
}

impl CompositeArgs {
    fn long(&self) -> LongExamples {
        if self.cut_long {
            LongExamples::Cut
        } else {
            LongExamples::Drop
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Step {
    /// Download sources of configs/sources.toml (tinystories, babylm3, babylm2023, blimp, glue), whole
    /// or some of their files. Says first how much it will download.
    Fetch {
        /// SOURCE, or SOURCE:FILE[,FILE…] for some of its files (e.g.
        /// tinystories:TinyStoriesV2-GPT4-valid.txt babylm3:train_10M.zip blimp); `glue`, the
        /// GLUE/SuperGLUE tasks as glue/<task>/{train,dev,test}.jsonl; or `hybrid`, the study's
        /// composite corpus built from the Hugging Face Hub.
        #[arg(required = true, value_name = "SOURCE[:FILES]")]
        picks: Vec<fetch::Pick>,
        /// Root folder to download into [default: data_dir].
        #[arg(long)]
        dest: Option<PathBuf>,
        /// Sources file.
        #[arg(long, default_value = "configs/sources.toml")]
        sources: PathBuf,
        /// Fetch every file from MIRROR/<source>/<file name> instead.
        #[arg(long)]
        mirror: Option<String>,
        #[command(flatten)]
        extra: FetchExtras,
    },
    /// Build a composite corpus (the study's hybrid) from local sources by word-budget fractions.
    Mix {
        /// Name of the new dataset folder under data_dir.
        #[arg(long)]
        name: DatasetName,
        /// A source as NAME=DIR:FRACTION (repeat; fractions sum to 1), e.g. wikipedia=/src/wiki:0.15.
        #[arg(long = "source", required = true)]
        sources: Vec<mix::MixSource>,
        /// Total words of the mix.
        #[arg(long)]
        words: u64,
        /// Seed of the dev split and file order.
        #[arg(long, default_value_t = 1337)]
        seed: u64,
        /// Fraction of examples for dev.
        #[arg(long, default_value_t = 0.05)]
        dev_fraction: f64,
        /// Replace an existing dataset folder of that name.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        long: CompositeArgs,
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
    /// Encode the cleaned text into tokens/<V>/{train,dev}.bin (setting data.encoding = "study":
    /// the raw text, as the study did, into tokens/<V>-study/).
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
    let ds = |d: &DatasetArg| {
        DatasetDir::new(&settings.data_dir, d.dataset.as_str()).map(|ds| ds.with(settings.data))
    };
    let sizes = |v: &VocabArg| {
        v.vocab_sizes
            .clone()
            .unwrap_or(settings.vocab_sizes.clone())
    };
    match &args.step {
        Step::Fetch {
            picks,
            dest,
            sources,
            mirror,
            extra,
        } => {
            let root = dest.clone().unwrap_or_else(|| settings.data_dir.clone());
            if let Some(dir) = &extra.from {
                return glue_from_local(picks, dir, &root, extra.tasks.as_deref());
            }
            let sources = fetch::load_sources(sources)?;
            if picks.iter().any(|p| p.source == "hybrid") {
                return fetch_hybrid(picks, sources, &root, extra);
            }
            let opts = fetch::FetchOptions {
                mirror: mirror.clone(),
                ..Default::default()
            };
            let picks = &glue_picks(picks, extra.tasks.as_deref())?;
            let report = fetch::fetch(&sources.files, picks, &root, &opts)?;
            let names: Vec<&str> = picks.iter().map(|p| p.source.as_str()).collect();
            println!(
                "fetched {} file(s) of {} into {}: {} downloaded in {:.1} s (manifests fetch-manifest-<source>.json)",
                report.files.len(),
                names.join(", "),
                root.display(),
                indicatif::DecimalBytes(report.downloaded),
                report.seconds
            );
            if picks.iter().any(|p| p.source == "glue") {
                let tasks = glue_tasks(extra.tasks.as_deref(), |t| {
                    root.join(glue::fetch::RAW)
                        .join(format!("{}.validation.parquet", t.name))
                        .is_file()
                })?;
                for dir in glue::fetch::from_parquet(&root, &tasks)? {
                    println!("wrote {}", dir.display());
                }
            }
        }
        Step::Mix {
            name,
            sources,
            words,
            seed,
            dev_fraction,
            force,
            long,
        } => {
            let dest = DatasetDir::new(&settings.data_dir, name.as_str())?;
            if dest.root().exists() && !force {
                anyhow::bail!(
                    "{} exists; pass --force to replace it",
                    dest.root().display()
                );
            }
            let mut spec = mix::MixSpec::study(sources.clone(), *words);
            spec.admission.seed = *seed;
            spec.admission.dev_fraction = *dev_fraction;
            spec.admission.long = long.long();
            spec.dedup_across_sources = long.dedup_across_sources;
            let report = mix::mix(&spec, dest.root())?;
            println!("{}", serde_json::to_string_pretty(&report.per_source)?);
        }
        Step::Clean { dataset, lossy } => {
            prepare::clean(&ds(dataset)?, CleanOptions { lossy: lossy.lossy })?;
        }
        Step::Tokenizer { dataset, vocab } => {
            prepare::train_tokenizers(&ds(dataset)?, &sizes(vocab))?;
        }
        Step::Tokenize { dataset, vocab } => {
            for v in sizes(vocab) {
                prepare::tokenize(&ds(dataset)?, v)?;
            }
        }
        Step::Prepare {
            dataset,
            vocab,
            lossy,
        } => {
            prepare::prepare(
                &ds(dataset)?,
                &sizes(vocab),
                CleanOptions { lossy: lossy.lossy },
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Builds the hybrid corpus (alone: it is no list of files to fetch).
fn fetch_hybrid(
    picks: &[fetch::Pick],
    sources: fetch::SourcesFile,
    root: &std::path::Path,
    a: &FetchExtras,
) -> Result<ExitCode> {
    if picks.len() > 1 || !picks[0].files.is_empty() {
        anyhow::bail!(
            "`hybrid` is fetched on its own and whole: `lmeff data fetch hybrid [--words N]`"
        );
    }
    let spec = sources
        .hybrid
        .ok_or_else(|| anyhow::anyhow!("the sources file has no [hybrid] table"))?
        .with_environment();
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| "hybrid".parse().expect("a dataset name"));
    let dest = DatasetDir::new(root, name.as_str())?;
    if dest.root().exists() && !a.force {
        anyhow::bail!(
            "{} exists; pass --force to replace it",
            dest.root().display()
        );
    }
    let opts = hybrid::HybridOptions {
        words: a.words.unwrap_or(spec.words),
        admission: Admission {
            long: a.admit.long(),
            ..Admission::study()
        },
        dedup_across_sources: a.admit.dedup_across_sources,
        retry_delay: std::time::Duration::from_millis(500),
        replace: a.force,
    };
    let report = hybrid::build(&spec, dest.root(), &opts)?;
    println!("{}", serde_json::to_string_pretty(&report.per_source)?);
    println!("built {} (manifest hybrid.json)", dest.root().display());
    Ok(ExitCode::SUCCESS)
}

/// The GLUE tasks named in `list`, else every task `present` says is there.
fn glue_tasks(
    list: Option<&[String]>,
    present: impl Fn(&glue::Task) -> bool,
) -> Result<Vec<glue::Task>> {
    match list {
        Some(names) => names.iter().map(|n| glue::Task::named(n)).collect(),
        None => Ok(glue::tasks::TASKS
            .into_iter()
            .filter(|t| present(t))
            .collect()),
    }
}

/// `lmeff data fetch glue --from DIR`: the BabyLM pipeline's glue_filtered folder as task folders.
fn glue_from_local(
    picks: &[fetch::Pick],
    dir: &std::path::Path,
    root: &std::path::Path,
    list: Option<&[String]>,
) -> Result<ExitCode> {
    if picks.iter().any(|p| p.source != "glue") {
        anyhow::bail!("--from converts GLUE data: `lmeff data fetch glue --from DIR`");
    }
    // A task is there when one of its own files is (mnli-mm has only its validation file).
    let tasks = glue_tasks(list, |t| {
        ["train", "valid"]
            .iter()
            .any(|s| dir.join(format!("{}.{s}.jsonl", t.name)).is_file())
    })?;
    if tasks.is_empty() {
        anyhow::bail!(
            "{}: no <task>.train.jsonl and <task>.valid.jsonl of any GLUE task",
            dir.display()
        );
    }
    for out in glue::fetch::from_local(dir, root, &tasks)? {
        println!("wrote {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// A whole `glue` pick narrowed to the files of `--tasks`.
fn glue_picks(picks: &[fetch::Pick], list: Option<&[String]>) -> Result<Vec<fetch::Pick>> {
    let mut out = picks.to_vec();
    if let Some(names) = list {
        for p in out
            .iter_mut()
            .filter(|p| p.source == "glue" && p.files.is_empty())
        {
            for name in names {
                let task = glue::Task::named(name)?;
                let (train, valid) = glue::fetch::parquet_names(&task);
                p.files.extend([train, valid]);
            }
        }
    }
    Ok(out)
}
