//! `lmeff config`: the resolved settings, each with the layer it came from.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, ValueEnum};
use lmeff::config::{Settings, SettingsOverrides};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// `key = value  # origin` lines (TOML with comments).
    Toml,
    /// A JSON array of {key, value, from}.
    Json,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[arg(long, value_enum, default_value_t = Format::Toml)]
    pub format: Format,
}

pub fn run(
    args: ConfigArgs,
    file: Option<&Path>,
    overrides: &SettingsOverrides,
) -> Result<ExitCode> {
    let lines = Settings::explain(file, overrides)?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&lines)?),
        Format::Toml => {
            let width = lines
                .iter()
                .map(|o| o.key.len() + o.value.len() + 3)
                .max()
                .unwrap_or(0);
            for o in &lines {
                let kv = format!("{} = {}", o.key, o.value);
                println!("{kv:<width$}  # {}", o.from);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
