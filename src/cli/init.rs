//! `lmeff init DIR`: an editable study skeleton, as `cargo new` makes a crate — the settings
//! (`configs/lmeff.toml`), an experiment matrix (`configs/configs.csv`), the model presets, the
//! download sources and the Slurm job templates, all lmeff's own built-in copies. Nothing that
//! exists is overwritten: if any of the files is there, nothing is written.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use lmeff::config::preset::BUILTIN;
use lmeff::slurm::template::{builtin, TEMPLATES};

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The study's folder (created; may exist, but none of the skeleton's files may).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// The skeleton: (path inside the study folder, contents).
fn skeleton() -> Vec<(PathBuf, &'static str)> {
    let mut files = vec![
        (
            PathBuf::from("configs/lmeff.toml"),
            include_str!("../../configs/lmeff.toml"),
        ),
        (
            PathBuf::from("configs/configs.csv"),
            include_str!("../../configs/configs.csv"),
        ),
        (
            PathBuf::from("configs/sources.toml"),
            include_str!("../../configs/sources.toml"),
        ),
    ];
    for (name, text) in BUILTIN {
        files.push((PathBuf::from(format!("configs/models/{name}.yaml")), text));
    }
    for name in TEMPLATES {
        let text = builtin(name).expect("every template is built in");
        files.push((PathBuf::from(format!("slurm/{name}.sbatch")), text));
    }
    files
}

pub fn init(args: InitArgs) -> Result<ExitCode> {
    let files = skeleton();
    let there: Vec<String> = files
        .iter()
        .map(|(p, _)| args.dir.join(p))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !there.is_empty() {
        bail!(
            "{}: already has {} (lmeff init writes nothing over existing files)",
            args.dir.display(),
            there.join(", ")
        );
    }
    for (path, text) in &files {
        let path = args.dir.join(path);
        let parent = path.parent().unwrap_or(Path::new("."));
        fs_err::create_dir_all(parent)?;
        lmeff::io::write_bytes_atomic(&path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "created a study in {} ({} files): edit configs/configs.csv and configs/lmeff.toml, then\n  cd {} && lmeff plan",
        args.dir.display(),
        files.len(),
        args.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
