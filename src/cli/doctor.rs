//! `lmeff doctor`: prove that libtorch links and trains here, on the CPU or the requested GPU.

use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;
use lmeff::config::{Settings, SettingsOverrides};
use lmeff::device;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Optimizer steps of the probe model.
    #[arg(long, default_value_t = 100)]
    pub steps: usize,
}

pub fn run(
    args: DoctorArgs,
    settings: impl FnOnce(SettingsOverrides) -> Result<Settings>,
) -> Result<ExitCode> {
    let settings = settings(SettingsOverrides::default())?;
    device::configure(&settings)?;
    let report = device::probe(settings.device, args.steps)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    let learned = report.final_loss < report.initial_loss;
    if !learned {
        bail!(
            "the probe model did not learn on {} (loss {} -> {})",
            report.device,
            report.initial_loss,
            report.final_loss
        );
    }
    Ok(ExitCode::SUCCESS)
}
