//! The study's vocabulary of identity: what names a run and a checkpoint, in one place. Every
//! stage that names a run or a checkpoint (the plan, checkpoint metadata, the launch manifest,
//! results, the analysis) speaks these types.

use std::fmt;

use serde::Serialize;

use super::train::ScheduleKind;
use super::units::Anchor;

/// A run's stable identifier, e.g. `tinystories_20m_v16000_seed0_full` or `…_budget25M`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    pub fn new(
        dataset: &str,
        model: &str,
        vocab: u32,
        seed: u64,
        anchor: Anchor,
        schedule: ScheduleKind,
    ) -> RunId {
        let tail = match anchor {
            Anchor::Full => "full".to_owned(),
            Anchor::Budget(m) => format!("budget{m}M"),
        };
        RunId(format!(
            "{dataset}_{model}_v{vocab}_seed{seed}_{tail}{}",
            schedule_suffix(schedule, "_")
        ))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `""` for the study's cosine schedule, `<sep>wsd` for WSD (run ids, folders, results).
pub fn schedule_suffix(schedule: ScheduleKind, sep: &str) -> String {
    match schedule {
        ScheduleKind::Cosine => String::new(),
        ScheduleKind::Wsd => format!("{sep}wsd"),
    }
}
