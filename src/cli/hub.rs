//! `lmeff push` (a run's checkpoints to their Hub branches) and `lmeff hub revisions` (a
//! repository's checkpoint branches). Credentials: HF_TOKEN, HF_NAMESPACE, HF_ENDPOINT from the
//! environment or ./.env.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use lmeff::hub::pull::revisions;
use lmeff::hub::push::{plan, push};
use lmeff::hub::{Credentials, Hub, RepoId};

/// Where credentials are read from besides the environment.
const DOTENV: &str = ".env";

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The run folder whose checkpoints to publish (init/, milestone-*/, final/).
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// Print what would go where, and push nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Create new repositories public (default: private).
    #[arg(long)]
    pub public: bool,
}

#[derive(Debug, Args)]
pub struct HubArgs {
    #[command(subcommand)]
    pub what: HubWhat,
}

#[derive(Debug, Subcommand)]
pub enum HubWhat {
    /// The checkpoint branches of a model repository, in token order: branch, seed, run, checkpoint, commit.
    Revisions {
        /// owner/name
        repo: String,
    },
}

pub fn push_run(args: PushArgs) -> Result<ExitCode> {
    let creds = Credentials::load(Path::new(DOTENV))?;
    let hub = Hub::connect(creds.clone())?;
    let namespace = match (&creds.namespace, args.dry_run && creds.token.is_none()) {
        (Some(ns), _) => ns.clone(),
        (None, true) => {
            eprintln!(
                "no HF_NAMESPACE and no Hub token: repositories are shown under NAMESPACE; set \
                 HF_NAMESPACE (or HF_TOKEN, whose owner it then is) to see where they go"
            );
            "NAMESPACE".to_owned()
        }
        (None, false) => hub.namespace()?,
    };
    let items = plan(&args.run, &namespace)?;
    let mut out = tabwriter::TabWriter::new(std::io::stdout());
    writeln!(out, "checkpoint\trepository\tbranch\tstate")?;
    for it in &items {
        let state = match (it.pushed, args.dry_run) {
            (true, _) => "pushed",
            (false, true) => "to push",
            (false, false) => {
                tracing::info!("pushing {} to {}@{}", it.dir.display(), it.repo, it.branch);
                push(&hub, &args.run, it, args.public)?;
                "pushed now"
            }
        };
        writeln!(
            out,
            "{}\t{}\t{}\t{state}",
            it.dir.file_name().unwrap_or_default().to_string_lossy(),
            it.repo,
            it.branch
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: HubArgs) -> Result<ExitCode> {
    let HubWhat::Revisions { repo } = args.what;
    let hub = Hub::connect(Credentials::load(Path::new(DOTENV))?)?;
    let repo = RepoId::parse(&repo)?;
    let mut out = tabwriter::TabWriter::new(std::io::stdout());
    writeln!(out, "branch\tseed\trun\tcheckpoint\tcommit")?;
    for (head, branch) in revisions(&hub, &repo)? {
        let (seed, run, ck) = match branch {
            Some(b) => (
                b.seed.to_string(),
                b.budget
                    .map_or("full".to_owned(), |m| format!("budget {m}M")),
                b.checkpoint.label(),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        writeln!(out, "{}\t{seed}\t{run}\t{ck}\t{}", head.name, head.commit)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
