//! Offline analysis of evaluation results: how early the ranking of runs predicts the final one.
//! [`inputs`] collects results, [`stats`] holds the rank statistics, [`predictiveness`] pairs
//! anchors with finals, [`glue`] gathers GLUE results, [`aggregate`] writes the tables and
//! [`report`] the Markdown report.

pub mod aggregate;
pub mod aggregate_glue;
pub mod aggregate_noise;
pub mod blimp_inputs;
pub mod columns;
pub mod decision_stats;
pub mod decisions;
pub mod extrapolate;
pub mod glue;
pub mod glue_fidelity;
pub mod glue_import;
pub mod glue_ranking;
pub mod inputs;
pub mod noise;
pub mod phenomena;
pub mod plots;
pub mod predictiveness;
pub mod race;
pub mod record;
pub mod report;
mod rows;
pub mod schedules;
pub mod seeds_plan;
pub mod signal_noise;
pub mod significance;
pub mod stats;
pub mod study_tables;
pub mod summary;
pub mod table;
