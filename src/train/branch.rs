//! A WSD budget run's start: the state its trunk (the row's full run) saved at the branch point,
//! taken as the run's own resume state with the run's identity, so training continues from there
//! exactly as the budget run trained straight through would (the batches of a step depend only on
//! seed and step). The trunk may still be on its way: the run waits for the state, or for the
//! trunk's note that it will never come, or for the trunk's end (then it trains from the start);
//! a stop signal ends the wait, to be resumed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use tracing::info;

use super::checkpointer::unreachable_note;
use super::resume::ResumeDir;
use crate::config::layout::checkpoint::{is_checkpoint, write_checksums, META_FILE};
use crate::config::layout::meta::read_meta;
use crate::config::CheckpointLabel;
use crate::config::Run;
use crate::io::{write_json_atomic, Staged};

/// How often a waiting branch looks for its state (and for a stop signal).
const POLL: Duration = Duration::from_secs(1);

/// How [`take_trunk_state`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Branched {
    /// The trunk's state is the run's own now.
    Took,
    /// Nothing to take: not a branch, a state of its own already, or none will ever come.
    No,
    /// A stop signal arrived while waiting (the run resumes the wait when started again).
    Stopped,
}

/// Makes the trunk's state at the branch point `own`'s resume state, unless `own` already has
/// one; the milestones it shares with the trunk are copied either way.
pub fn take_trunk_state(
    run: &Run,
    own: &ResumeDir,
    config_sha256: &str,
    wait: Duration,
    stop: &AtomicBool,
) -> Result<Branched> {
    let Some(branch) = &run.branch else {
        return Ok(Branched::No);
    };
    if own.exists() {
        // A run stopped right after branching has its state but maybe not its milestones yet.
        share_milestones(run, branch.step)?;
        return Ok(Branched::No);
    }
    let trunk_final = branch
        .state_dir
        .parent()
        .map(|d| d.join(CheckpointLabel::Final.to_string()));
    let trunk_state = ResumeDir::at(branch.state_dir.clone());
    let note = unreachable_note(&branch.state_dir);
    let started = Instant::now();
    let mut said = false;
    loop {
        if let Some(r) = trunk_state.load()? {
            let mut state = r.state;
            if state.step != branch.step {
                bail!(
                    "{}: the state is at step {}, not at the branch point {}",
                    branch.state_dir.display(),
                    state.step,
                    branch.step
                );
            }
            state.run_id = run.run_id.to_string();
            state.config_sha256 = config_sha256.to_owned();
            state.metrics_bytes = 0;
            state.wall_time_s = 0.0;
            share_milestones(run, branch.step)?;
            own.save(&state, &r.model, &r.optimizer, r.best.as_ref())?;
            info!(
                run = %run.run_id,
                step = branch.step,
                "branching off {} at step {}",
                branch.trunk,
                branch.step
            );
            return Ok(Branched::Took);
        }
        if note.is_file() {
            let why = fs_err::read_to_string(&note)?;
            info!(run = %run.run_id, "no branch point: {}", why.trim());
            return Ok(Branched::No);
        }
        if trunk_final.as_deref().is_some_and(is_checkpoint) {
            info!(
                run = %run.run_id,
                "{} has finished without a state at step {}: training from the start",
                branch.trunk,
                branch.step
            );
            return Ok(Branched::No);
        }
        if stop.load(Ordering::SeqCst) {
            info!(run = %run.run_id, "stop signal while waiting for {}", branch.trunk);
            return Ok(Branched::Stopped);
        }
        if started.elapsed() >= wait {
            bail!(
                "{}: waited {} s for {} to reach step {} (its state goes to {}); is it running? (train.branch_wait)",
                run.run_id,
                wait.as_secs(),
                branch.trunk,
                branch.step,
                branch.state_dir.display()
            );
        }
        if !said {
            info!(run = %run.run_id, "waiting for {} to reach step {}", branch.trunk, branch.step);
            said = true;
        }
        std::thread::sleep(POLL.min(wait.saturating_sub(started.elapsed())));
    }
}

/// The budget run's milestones up to the branch point are the trunk's checkpoints (the same
/// steps, the same learning rates): copied into the run's folder under the run's identity.
fn share_milestones(run: &Run, upto: u64) -> Result<()> {
    let Some(trunk_dir) = run.branch.as_ref().and_then(|b| b.state_dir.parent()) else {
        return Ok(());
    };
    for m in run.milestone_steps.iter().filter(|m| m.step <= upto) {
        let name = CheckpointLabel::Milestone(m.millions).to_string();
        let (from, to) = (trunk_dir.join(&name), run.output_dir.join(&name));
        if to.exists() || !from.is_dir() {
            continue;
        }
        let staged = Staged::new(&to)?;
        for entry in fs_err::read_dir(&from)? {
            let path = entry?.path();
            fs_err::copy(
                &path,
                staged.path().join(path.file_name().expect("a file name")),
            )?;
        }
        if let Some(mut meta) = read_meta(staged.path())? {
            meta.run_id = run.run_id.clone();
            meta.key.run.anchor = run.key.anchor;
            write_json_atomic(&staged.path().join(META_FILE), &meta)?;
            write_checksums(staged.path())?;
        }
        staged.commit()?;
        info!(run = %run.run_id, "{name}: the trunk's, shared up to the branch point");
    }
    Ok(())
}
