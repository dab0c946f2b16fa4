//! `--profile DIR`: a few training steps recorded by libtorch's Kineto profiler (operators with
//! their shapes and memory; CUDA kernels on a GPU) into a Chrome trace that Perfetto
//! (ui.perfetto.dev) or chrome://tracing opens.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tracing::info;

/// What to profile: `steps` steps into `dir`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRequest {
    pub dir: PathBuf,
    pub steps: u64,
}

/// Records steps `first ..= last` (1-based, counted as the trainer counts them) of one rank.
#[derive(Debug)]
pub struct StepProfiler {
    first: u64,
    last: u64,
    cuda: bool,
    trace: PathBuf,
    running: bool,
}

impl StepProfiler {
    /// The profiler of `request` for a run resuming after step `done` of `total`: it skips one
    /// warm-up step (allocations, autotuning) when the run has steps to spare, then records
    /// `request.steps`. The trace is `DIR/trace-rank<R>-steps-<first>-<last>.json`; `DIR` is
    /// created, an existing trace of that name refused.
    pub fn new(
        request: &ProfileRequest,
        (done, total): (u64, u64),
        rank: usize,
        cuda: bool,
    ) -> Result<StepProfiler> {
        if request.steps == 0 {
            bail!("--profile-steps must be positive");
        }
        let left = total.saturating_sub(done);
        let warmup = u64::from(left > request.steps);
        let first = done + 1 + warmup;
        let last = (first + request.steps - 1).min(total);
        let trace = request
            .dir
            .join(format!("trace-rank{rank}-steps-{first}-{last}.json"));
        fs_err::create_dir_all(&request.dir)?;
        if trace.exists() {
            bail!(
                "{}: a profile is already there (choose another --profile directory or move it)",
                trace.display()
            );
        }
        Ok(StepProfiler {
            first,
            last,
            cuda,
            trace,
            running: false,
        })
    }

    /// A profiler that records nothing (no `--profile`).
    pub fn off() -> StepProfiler {
        StepProfiler {
            first: u64::MAX,
            last: u64::MAX,
            cuda: false,
            trace: PathBuf::new(),
            running: false,
        }
    }

    /// The profiler of `request`, if any ([`StepProfiler::new`]), else [`StepProfiler::off`].
    pub fn of(
        request: Option<&ProfileRequest>,
        steps: (u64, u64),
        rank: usize,
        cuda: bool,
    ) -> Result<StepProfiler> {
        match request {
            Some(r) => StepProfiler::new(r, steps, rank, cuda),
            None => Ok(StepProfiler::off()),
        }
    }

    /// Before step `step` (1-based): starts recording at the first profiled step.
    pub fn before_step(&mut self, step: u64) -> Result<()> {
        if step == self.first && !self.running {
            crate::shim::profiler_start(self.cuda)?;
            self.running = true;
        }
        Ok(())
    }

    /// After step `step`, or with `end` when the loop ends early: stops at the last profiled
    /// step and writes the trace (through a temporary name, so a crash leaves no half trace).
    pub fn after_step(&mut self, step: u64, end: bool) -> Result<()> {
        if !self.running || (step < self.last && !end) {
            return Ok(());
        }
        self.running = false;
        let partial = self.trace.with_extension("json.partial");
        crate::shim::profiler_stop(&partial)?;
        fs_err::rename(&partial, &self.trace)
            .with_context(|| format!("writing {}", self.trace.display()))?;
        info!(trace = %self.trace.display(), "profile written (open in ui.perfetto.dev)");
        Ok(())
    }

    /// Where the trace goes.
    pub fn trace(&self) -> &Path {
        &self.trace
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_after_one_warm_up_step_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let request = ProfileRequest {
            dir: dir.path().join("prof"),
            steps: 3,
        };
        let p = StepProfiler::new(&request, (0, 100), 0, false).unwrap();
        assert_eq!((p.first, p.last), (2, 4));
        assert!(p.trace().ends_with("trace-rank0-steps-2-4.json"));
        // A resumed run with two steps left records both, without a warm-up step.
        let p = StepProfiler::new(&request, (98, 100), 1, false).unwrap();
        assert_eq!((p.first, p.last), (99, 100));
        assert!(StepProfiler::new(
            &ProfileRequest {
                steps: 0,
                ..request.clone()
            },
            (0, 9),
            0,
            false
        )
        .is_err());
    }

    /// A real CPU profile of a matmul: a Chrome trace naming the ATen operator; a second
    /// profiler of the same steps refuses to overwrite it.
    #[test]
    fn a_trace_records_the_operators_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let request = ProfileRequest {
            dir: dir.path().to_path_buf(),
            steps: 1,
        };
        let mut p = StepProfiler::new(&request, (0, 5), 0, false).unwrap();
        let x = tch::Tensor::randn([64, 64], (tch::Kind::Float, tch::Device::Cpu));
        for step in 1..=3 {
            p.before_step(step).unwrap();
            let _ = x.matmul(&x).sum(tch::Kind::Float).double_value(&[]);
            p.after_step(step, false).unwrap();
        }
        let text = std::fs::read_to_string(p.trace()).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let names: Vec<&str> = json["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["name"].as_str())
            .collect();
        assert!(
            names.contains(&"aten::matmul"),
            "{:?}",
            &names[..names.len().min(20)]
        );
        assert!(StepProfiler::new(&request, (0, 5), 0, false).is_err());
    }
}
