//! Warmup–stable–decay plans: every budget of a row from one run. A WSD row's full run is the
//! trunk: warm-up, then a constant learning rate, decaying over its last `cooldown_fraction`. A
//! budget run of S steps is the same schedule ended early: it shares the trunk's steps up to its
//! decay start ⌈(1 − f)·S⌉, so it starts from the trunk's state there (the trunk saves it as it
//! passes, in `<trunk>/branch-<M>M/`) and trains only its cooldown.

use std::path::PathBuf;

use serde::Serialize;

use super::identity::RunId;
use super::units::Anchor;

/// Where a WSD budget run starts: its trunk's state at `step`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Branch {
    pub trunk: RunId,
    /// The trunk's state at `step`, saved by the trunk.
    pub state_dir: PathBuf,
    pub step: u64,
}

/// A step at which a trunk saves the state one of its budget runs starts from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BranchPoint {
    pub anchor: Anchor,
    pub step: u64,
    pub state_dir: PathBuf,
}

/// The first step of a WSD run's decay: ⌈(1 − f)·total⌉, not before the warm-up ends and not
/// after the run does.
pub fn decay_start(total: u64, warmup: u64, cooldown_fraction: f64) -> u64 {
    let stable_end = ((1.0 - cooldown_fraction) * total as f64).ceil() as u64;
    stable_end.max(warmup).min(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_starts_after_warmup_and_within_the_run() {
        assert_eq!(decay_start(100, 10, 0.2), 80);
        assert_eq!(decay_start(101, 10, 0.2), 81, "⌈0.8 × 101⌉ = ⌈80.8⌉");
        assert_eq!(decay_start(20, 30, 0.2), 20, "never after the run's end");
        assert_eq!(decay_start(100, 90, 0.2), 90, "never in the warm-up");
        assert_eq!(decay_start(100, 0, 0.0), 100);
    }
}
