//! `lmeff doctor`: prove that libtorch links and trains here, on the CPU or the requested GPU.

use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;
use lmeff::config::{Settings, SettingsOverrides};
use lmeff::device;
use lmeff::model::kernels::cuda::smoke_test;
use lmeff::model::kernels::manifest::Manifest;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Optimizer steps of the probe model.
    #[arg(long, default_value_t = 100)]
    pub steps: usize,
    /// Also load the fused kernels compiled into DIR (`env/kernels/liger.py compile`) on the CUDA
    /// device and run one against ATen.
    #[arg(long, value_name = "DIR")]
    pub kernels: Option<std::path::PathBuf>,
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
    if let Some(dir) = &args.kernels {
        let lmeff::config::Device::Cuda(ordinal) = settings.device else {
            bail!("--kernels: the fused kernels run on CUDA (use --device cuda)");
        };
        let manifest = Manifest::load(dir)?;
        let report = smoke_test(&manifest, ordinal)?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        if report.swiglu_max_diff.is_nan() || report.swiglu_max_diff > 1e-2 {
            bail!(
                "the fused SwiGLU differs from ATen by {} on {}",
                report.swiglu_max_diff,
                report.arch
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
