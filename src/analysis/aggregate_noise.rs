//! The noise stage of `lmeff aggregate` ([`super::noise`]): `chance`, `learning` and
//! `signal_noise` for BLiMP's accuracy, its mean margin and GLUE, and the BLiMP pairs that cannot
//! be scored right.

use std::path::Path;

use anyhow::Result;

use super::inputs::{Collected, Record};
use super::noise::{self, ChanceRow, LearningRow};
use super::signal_noise::{self, SignalNoiseRow};
use super::table::Table;
use crate::data::blimp_paradigms::IDENTICAL_PAIRS;

/// The measure of the mean margin log p(good) − log p(bad).
pub const MARGIN: &str = "blimp_margin";

/// What the noise stage wrote and the report reads.
#[derive(Debug, Default)]
pub struct NoiseTables {
    pub chance: Vec<ChanceRow>,
    pub learning: Vec<LearningRow>,
    pub signal_noise: Vec<SignalNoiseRow>,
    /// BLiMP's pairs with identical sentences among the paradigms scored (paradigm, pair id).
    pub identical_pairs: Vec<(&'static str, u32)>,
}

/// Writes the noise tables of `c` and of GLUE's test records (the macro-average's and each
/// task's) into `data`.
pub fn write(c: &Collected, glue: (&[Record], &[Record]), data: &Path) -> Result<NoiseTables> {
    let (glue_macro, glue_tasks) = glue;
    let mut chance = noise::chance(&c.overall, "blimp", 0.5);
    chance.extend(noise::chance(&c.margins, MARGIN, 0.0));
    Table::from_rows(&chance)?.write(data, "chance")?;

    let learning: Vec<LearningRow> = [
        noise::learning(&c.overall, "blimp"),
        noise::learning(&c.margins, MARGIN),
        noise::learning(glue_macro, "glue_macro"),
    ]
    .into_iter()
    .flatten()
    .collect();
    Table::from_rows(&learning)?.write(data, "learning")?;

    let tables: [(&[Record], &str, &str); 5] = [
        (&c.overall, "blimp", "overall"),
        (&c.tasks, "blimp", "overall"),
        (&c.margins, MARGIN, "overall"),
        (glue_macro, "glue", "macro"),
        (glue_tasks, "glue", "macro"),
    ];
    let signal_noise: Vec<SignalNoiseRow> = tables
        .iter()
        .flat_map(|(records, measure, overall)| {
            signal_noise::signal_noise(records, measure, overall)
        })
        .collect();
    Table::from_rows(&signal_noise)?.write(data, "signal_noise")?;

    let identical_pairs = IDENTICAL_PAIRS
        .iter()
        .copied()
        .filter(|(p, _)| c.tasks.iter().any(|r| r.task.as_deref() == Some(*p)))
        .collect();
    Ok(NoiseTables {
        chance,
        learning,
        signal_noise,
        identical_pairs,
    })
}
