//! What `lmeff race --replay` leaves: `race.csv`/`race.parquet` (a row per configuration),
//! `race.json` (per group: rungs, compute, whether the best survived) and the race figure, put in
//! place together; and the line it prints per group.

use std::path::Path;

use anyhow::Result;

use super::rows::{GroupOutcome, Replay};
use crate::analysis::plots;
use crate::analysis::table::Table;
use crate::io::{check_replaceable, write_json_atomic, Staged};

/// The files a replay writes (its folder may hold nothing else).
pub fn files() -> Vec<String> {
    let mut out = vec!["race.csv".into(), "race.parquet".into(), "race.json".into()];
    out.extend(plots::EXTENSIONS.map(|e| format!("race.{e}")));
    out
}

/// Writes the replay's files into `out` (staged, then put in place).
pub fn write(out: &Path, replay: &Replay, dpi: u32) -> Result<()> {
    let own = files();
    let own: Vec<&str> = own.iter().map(String::as_str).collect();
    check_replaceable(out, &own)?;
    let staged = Staged::new(out)?;
    Table::from_rows(&replay.rows)?.write(staged.path(), "race")?;
    write_json_atomic(&staged.path().join("race.json"), replay)?;
    plots::race::write(staged.path(), replay, dpi)?;
    staged.commit_over(&own)?;
    Ok(())
}

/// One group's outcome in a sentence.
pub fn describe(g: &GroupOutcome) -> String {
    let compute = match g.compute_fraction {
        Some(f) => format!(
            "{:.0}% of the training compute of running everything to the end",
            100.0 * f
        ),
        None => "compute unknown (token counts or model presets missing)".into(),
    };
    let best = match (g.best_survived, g.top3_survived) {
        (true, true) => "the final best and top 3 survived",
        (true, false) => "the final best survived, not all of the top 3",
        (false, _) => "THE FINAL BEST WAS STOPPED",
    };
    format!(
        "{}: {} of {} configurations stopped; {best}; {compute}",
        g.group, g.eliminated, g.configurations
    )
}
