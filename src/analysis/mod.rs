//! Offline analysis of evaluation results: how early the ranking of runs predicts the final one.
//! [`inputs`] collects results, [`stats`] holds the rank statistics, [`predictiveness`] pairs
//! anchors with finals, [`aggregate`] writes the tables.

pub mod aggregate;
pub mod inputs;
pub mod predictiveness;
pub mod stats;
pub mod table;
