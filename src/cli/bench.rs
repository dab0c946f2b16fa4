//! `lmeff bench train`: training throughput of the trainer's own step (model, fused AdamW,
//! clipping) on fixed random tokens, one JSON line per model size — the figure `make bench-train`
//! and `make gpu-check` set beside the study's Python stack.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use lmeff::config::memory::{MemoryEstimate, MicroBatching};
use lmeff::config::{Kernels, Presets, Settings, SettingsOverrides};
use lmeff::device::Compute;
use lmeff::dist::World;
use lmeff::model::kernels::launcher;
use lmeff::model::weights;
use lmeff::train::optim::AdamW;
use lmeff::train::profile::{ProfileRequest, StepProfiler};
use lmeff::train::step::{train_step, StepOptions};
use lmeff::train::{init_model, Precision};
use tch::{Kind, Tensor};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Tokens per second of training steps.
    Train(TrainBench),
}

#[derive(Debug, Args)]
pub struct TrainBench {
    /// Model presets, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "20m")]
    pub sizes: Vec<String>,
    /// Sequences per micro-step (default: the preset's).
    #[arg(long)]
    pub batch: Option<u32>,
    /// Micro-steps per optimizer step (default: the preset's).
    #[arg(long)]
    pub grad_accum: Option<u32>,
    #[arg(long, default_value_t = 256)]
    pub seq_len: u32,
    #[arg(long, default_value_t = 16000)]
    pub vocab: u32,
    /// Timed steps (after the warm-up steps).
    #[arg(long, default_value_t = 20)]
    pub steps: u32,
    #[arg(long, default_value_t = 3)]
    pub warmup_steps: u32,
    /// fp32 | bf16 | auto.
    #[arg(long, default_value = "auto", value_parser = super::train::parse_precision)]
    pub precision: Precision,
    /// The most sequences a rank runs at once [setting train.max_micro_batch].
    #[arg(long, value_name = "N")]
    pub max_micro_batch: Option<u32>,
    /// aten | fused [setting train.kernels].
    #[arg(long, value_parser = parse_kernels)]
    pub kernels: Option<Kernels>,
    /// Record the first size's timed steps with libtorch's profiler into DIR (see `train
    /// --profile`).
    #[arg(long, value_name = "DIR")]
    pub profile: Option<std::path::PathBuf>,
}

fn parse_kernels(s: &str) -> Result<Kernels, String> {
    match s {
        "aten" => Ok(Kernels::Aten),
        "fused" => Ok(Kernels::Fused),
        _ => Err(format!("`{s}`: expected aten or fused")),
    }
}

pub fn run(
    args: BenchArgs,
    settings: impl FnOnce(SettingsOverrides) -> Result<Settings>,
) -> Result<ExitCode> {
    let settings = settings(SettingsOverrides::default())?;
    let BenchWhat::Train(mut b) = args.what;
    lmeff::device::configure(&settings)?;
    let mut world = World::init()?;
    let compute = Compute::new(world.rank_device(settings.device)?, b.precision)?;
    let device = compute.device;
    let presets = Presets::load(&settings.models_dir)?;
    for size in &b.sizes {
        let preset = presets.get(size).with_context(|| {
            format!(
                "no model preset {size} in {}",
                settings.models_dir.display()
            )
        })?;
        let t = &preset.training;
        let (batch, accum) = (
            b.batch.unwrap_or(t.batch_size),
            b.grad_accum.unwrap_or(t.grad_accum),
        );
        let (vs, mut model) = init_model(&preset.model, b.vocab, 0, device)?;
        let kernels = b.kernels.unwrap_or(settings.train.kernels);
        let dir = settings.train.kernels_dir.as_deref();
        launcher::choose(&mut model, kernels, device, compute.bf16, dir)?;
        let params = weights::variables(&vs);
        let n_params: i64 = params.values().map(|p| p.numel() as i64).sum();
        let mut opt = AdamW::for_training(&params, t, t.weight_decay);
        opt.set_lr(3e-4);
        let ranks = world.size() as u32;
        let max = b.max_micro_batch.unwrap_or(settings.train.max_micro_batch);
        let micro = MicroBatching::plan(batch, accum, ranks, max, false)
            .map_err(|e| anyhow::anyhow!("--batch {batch}: {e}"))?;
        let rows = micro.rows_per_rank(ranks);
        let estimate = MemoryEstimate::of(
            &preset.model,
            n_params as u64,
            b.vocab,
            rows,
            b.seq_len,
            compute.bf16,
        );
        let estimate = match kernels {
            Kernels::Fused => estimate.fused(&preset.model, rows, b.seq_len, b.vocab),
            Kernels::Aten => estimate,
        };
        let ids = Tensor::randint_low(
            3,
            b.vocab as i64,
            [rows as i64, b.seq_len as i64 + 1],
            (Kind::Int64, device),
        );
        let loss_sum = Tensor::zeros([], (Kind::Float, device));
        let mut comm_secs = 0f64;
        let options = StepOptions {
            comm: settings.train.comm_dtype,
            loss_scale: 1.0,
            compute,
            max_grad_norm: t.max_grad_norm,
        };
        let mut step = |n: u32, comm_secs: &mut f64| -> Result<()> {
            for _ in 0..n {
                let batches = (0..micro.count).map(|_| Ok(ids.shallow_clone()));
                let out = train_step(&model, &mut opt, &world, batches, &loss_sum, options)?;
                *comm_secs += out.comm_secs;
            }
            Ok(())
        };
        let t0 = Instant::now();
        step(b.warmup_steps, &mut comm_secs)?;
        let _ = loss_sum.double_value(&[]);
        let warm = t0.elapsed().as_secs_f64();
        let _ = loss_sum.shallow_clone().zero_();
        comm_secs = 0.0;
        world.barrier();
        let request = b.profile.take().map(|dir| ProfileRequest {
            dir,
            steps: b.steps as u64,
        });
        let mut profiler = StepProfiler::of(
            request.as_ref(),
            (0, b.steps as u64),
            world.rank(),
            compute.is_cuda(),
        )?;
        profiler.before_step(1)?;
        let t0 = Instant::now();
        step(b.steps, &mut comm_secs)?;
        let loss = loss_sum.double_value(&[]) / b.steps as f64;
        let secs = t0.elapsed().as_secs_f64();
        profiler.after_step(b.steps as u64, true)?;
        let mut l = [loss];
        world.sum_f64(&mut l);
        let loss = l[0] / world.size() as f64;
        if !world.is_main() {
            continue;
        }
        let tokens = batch as f64 * accum as f64 * b.seq_len as f64 * b.steps as f64;
        println!(
            "{}",
            serde_json::json!({
                "bench": "train", "impl": "lmeff", "size": size, "device": format!("{device:?}"),
                "precision": if compute.bf16 { "bf16" } else { "fp32" }, "kernels": kernels, "params_M": (n_params as f64 / 1e4).round() / 100.0,
                "batch": batch, "grad_accum": accum, "micro_batch": rows, "passes": micro.count,
                "seq_len": b.seq_len, "vocab": b.vocab, "steps": b.steps,
                "estimated_peak_gib": (estimate.gib() * 10.0).round() / 10.0,
                "tokens_per_s": (tokens / secs).round(), "warmup_s": (warm * 10.0).round() / 10.0,
                "loss": (loss * 1e6).round() / 1e6,
                "ranks": world.size(), "allreduce_share": ((comm_secs / secs) * 1000.0).round() / 1000.0,
            })
        );
    }
    Ok(ExitCode::SUCCESS)
}
