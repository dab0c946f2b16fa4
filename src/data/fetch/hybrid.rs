//! `lmeff data fetch hybrid`: the study's composite corpus (its `hybrid_dataset.py`, named
//! `hybrid_3.7B` after its token count) built from the Hugging Face Hub. Each source (repository,
//! revision and file pattern in `configs/sources.toml`, each overridable by
//! `LMEFF_HYBRID__<SOURCE>__{REPO,REVISION,FILES,TEXT}`) fills its fraction of a word budget shard
//! by shard: a shard is downloaded (resumably), its texts admitted as [`crate::data::sink`] does, and
//! deleted; a source stops downloading once its share is filled. The corpus is built in
//! `<name>.partial/` beside its destination with a state file recording each source's finished
//! shards and output lengths, so an interrupted build resumes where it stopped; it is put in
//! place as `<name>/{train,dev}/<source>.jsonl` with `hybrid.json` only when every source is done.

use fs_err::{self as fs, OpenOptions};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::http;
use crate::data::hub::{self, DatasetRepo};
use crate::data::shard_text::for_each_text;
use crate::data::sink::{key, Admission, Seen, Sink, SourceCount};
use crate::io::write_json_atomic;
use crate::progress::count_bar;

/// The `[hybrid]` table of `configs/sources.toml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HybridSpec {
    /// The word budget (the study: 3.2 billion).
    pub words: u64,
    #[serde(rename = "source")]
    pub sources: Vec<HubSource>,
}

/// One source of the hybrid.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HubSource {
    pub name: String,
    /// Dataset repository, `owner/name`.
    pub repo: String,
    #[serde(default = "main")]
    pub revision: String,
    /// Which files: a pattern (`*` within a folder, `**` across folders).
    pub files: String,
    /// The field (JSON) or column (Parquet) holding the text.
    #[serde(default = "text")]
    pub text: String,
    pub fraction: f64,
}

fn main() -> String {
    "main".into()
}

fn text() -> String {
    "text".into()
}

impl HybridSpec {
    /// The spec with `LMEFF_HYBRID__<SOURCE>__<KEY>` applied (keys REPO, REVISION, FILES, TEXT).
    pub fn with_environment(mut self) -> HybridSpec {
        for s in &mut self.sources {
            let var = |key: &str| {
                std::env::var(format!("LMEFF_HYBRID__{}__{key}", s.name.to_uppercase())).ok()
            };
            if let Some(v) = var("REPO") {
                s.repo = v;
            }
            if let Some(v) = var("REVISION") {
                s.revision = v;
            }
            if let Some(v) = var("FILES") {
                s.files = v;
            }
            if let Some(v) = var("TEXT") {
                s.text = v;
            }
        }
        self
    }
}

/// How a build admits examples, beside the spec.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HybridOptions {
    pub words: u64,
    pub admission: Admission,
    pub dedup_across_sources: bool,
    #[serde(skip)]
    pub retry_delay: Duration,
    /// Replace `dest` when it exists (once the build is complete).
    #[serde(skip)]
    pub replace: bool,
}

/// One source's progress, saved after each shard.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct SourceState {
    count: SourceCount,
    shards_done: Vec<String>,
    train_bytes: u64,
    dev_bytes: u64,
    done: bool,
}

/// The build's state file (`<name>.partial/state.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct State {
    spec: HybridSpec,
    options: HybridOptions,
    sources: Vec<SourceState>,
}

/// What a build produced (also `hybrid.json`).
#[derive(Debug, Clone, Serialize)]
pub struct HybridReport {
    pub spec: HybridSpec,
    pub options: HybridOptions,
    pub per_source: Vec<SourceCount>,
}

/// Builds the hybrid into `dest`, resuming `<dest>.partial/`; an existing `dest` is replaced
/// (with `replace`) only once the new corpus is complete.
pub fn build(spec: &HybridSpec, dest: &Path, opts: &HybridOptions) -> Result<HybridReport> {
    let total: f64 = spec.sources.iter().map(|s| s.fraction).sum();
    if (total - 1.0).abs() > 1e-6 {
        bail!("hybrid source fractions sum to {total}, not 1");
    }
    let partial = PathBuf::from(format!("{}.partial", dest.display()));
    let state_path = partial.join("state.json");
    let fresh = State {
        spec: spec.clone(),
        options: opts.clone(),
        sources: spec
            .sources
            .iter()
            .map(|s| SourceState {
                count: SourceCount {
                    name: s.name.clone(),
                    quota_words: (opts.words as f64 * s.fraction).round() as u64,
                    ..Default::default()
                },
                ..Default::default()
            })
            .collect(),
    };
    let mut state = if state_path.is_file() {
        let old: State = serde_json::from_slice(&fs::read(&state_path)?)
            .with_context(|| format!("{} is not a hybrid build state", state_path.display()))?;
        let recorded = |s: &State| serde_json::to_value((&s.spec, &s.options)).ok();
        if recorded(&old) != recorded(&fresh) {
            bail!(
                "{} holds a build with other sources or settings; remove it to start over, or rerun with the same ones",
                partial.display()
            );
        }
        info!("resuming the build in {}", partial.display());
        old
    } else {
        fresh
    };
    for split in ["train", "dev"] {
        fs::create_dir_all(partial.join(split))?;
    }
    write_json_atomic(&state_path, &state)?;

    let agent = http::agent();
    let mut seen = Seen::new();
    for i in 0..spec.sources.len() {
        if !opts.dedup_across_sources {
            seen.clear();
        }
        let files = outputs(&partial, &spec.sources[i].name);
        let st = &state.sources[i];
        truncate_to(&files, [st.train_bytes, st.dev_bytes])?;
        remember(&files, &mut seen)?;
        if st.done {
            continue;
        }
        fill(&agent, &partial, i, spec, opts, &mut state, &mut seen)?;
    }

    let report = HybridReport {
        spec: spec.clone(),
        options: opts.clone(),
        per_source: state.sources.iter().map(|s| s.count.clone()).collect(),
    };
    write_json_atomic(&partial.join("hybrid.json"), &report)?;
    fs::remove_file(&state_path)?;
    let _ = fs::remove_dir_all(partial.join("downloads"));
    let aside = PathBuf::from(format!("{}.replaced", dest.display()));
    if dest.exists() {
        if !opts.replace {
            bail!(
                "{} exists; the new corpus stays in {}",
                dest.display(),
                partial.display()
            );
        }
        fs::rename(dest, &aside)?;
    }
    fs::rename(&partial, dest).with_context(|| format!("placing {}", dest.display()))?;
    if aside.exists() {
        fs::remove_dir_all(&aside)?;
    }
    Ok(report)
}

/// The train and dev files of source `name` in the build.
fn outputs(partial: &Path, name: &str) -> [PathBuf; 2] {
    ["train", "dev"].map(|split| partial.join(split).join(format!("{name}.jsonl")))
}

/// Cuts each file back to the length recorded after its last finished shard (lines of a shard
/// an interruption cut short are written again).
fn truncate_to(files: &[PathBuf; 2], lengths: [u64; 2]) -> Result<()> {
    for (f, len) in files.iter().zip(lengths) {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(f)?;
        if file.metadata()?.len() != len {
            file.set_len(len)?;
        }
    }
    Ok(())
}

/// Adds the keys of the examples already written to `seen`.
fn remember(files: &[PathBuf; 2], seen: &mut Seen) -> Result<()> {
    #[derive(Deserialize)]
    struct Line {
        text: String,
    }
    for f in files {
        for line in BufReader::new(fs::File::open(f)?).lines() {
            let line: Line = serde_json::from_str(&line?)
                .with_context(|| format!("{}: not a JSON line of a build", f.display()))?;
            seen.insert(key(&line.text));
        }
    }
    Ok(())
}

/// Fills source `i` shard by shard until its quota is met or its shards run out.
fn fill(
    agent: &ureq::Agent,
    partial: &Path,
    i: usize,
    spec: &HybridSpec,
    opts: &HybridOptions,
    state: &mut State,
    seen: &mut Seen,
) -> Result<()> {
    let source = &spec.sources[i];
    let repo = DatasetRepo {
        endpoint: hub::endpoint(),
        repo: source.repo.clone(),
        revision: source.revision.clone(),
    };
    let shards = repo.matching(agent, &source.files)?;
    let files = outputs(partial, &source.name);
    let downloads = partial.join("downloads").join(&source.name);
    fs::create_dir_all(&downloads)?;
    let bar = count_bar(state.sources[i].count.quota_words, &source.name, "words");
    for shard in shards {
        let st = &mut state.sources[i];
        if st.shards_done.contains(&shard.path) {
            continue;
        }
        let local = downloads.join(shard.path.replace('/', "__"));
        let part = downloads.join(format!(".{}.part", shard.path.replace('/', "__")));
        if !local.is_file() {
            let url = repo.resolve(&shard.path);
            let auth = repo.auth_for(&url);
            http::download(agent, &url, &part, opts.retry_delay, auth.as_deref())?;
            fs::rename(&part, &local)?;
        }
        let mut sink = Sink::open(
            &files[0],
            &files[1],
            st.count.clone(),
            &opts.admission,
            i as u64,
        )?;
        let read = for_each_text(&local, &source.text, |t| {
            sink.offer(t, seen)?;
            bar.set_position(sink.count.words);
            Ok(!sink.count.full())
        });
        if let Err(e) = read {
            // A shard that cannot be read is downloaded again next time.
            fs::remove_file(&local)?;
            return Err(e.context(format!(
                "source {} shard {} (the build so far is kept in {}; run again to resume)",
                source.name,
                shard.path,
                partial.display()
            )));
        }
        st.count = sink.finish()?;
        st.train_bytes = files[0].metadata()?.len();
        st.dev_bytes = files[1].metadata()?.len();
        st.shards_done.push(shard.path.clone());
        st.done = st.count.full();
        fs::remove_file(&local)?;
        write_json_atomic(&partial.join("state.json"), &*state)?;
        if state.sources[i].done {
            break;
        }
    }
    bar.finish_and_clear();
    let st = &mut state.sources[i];
    if !st.done {
        warn!(
            source = source.name,
            words = st.count.words,
            quota = st.count.quota_words,
            "the source ran out of shards before its quota"
        );
        st.done = true;
        write_json_atomic(&partial.join("state.json"), &*state)?;
    }
    state.sources[i].count.log("source done");
    Ok(())
}
