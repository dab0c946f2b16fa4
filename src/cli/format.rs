//! `--format text|json` of the commands that end with a summary (train, eval, aggregate): JSON
//! for scripts and pipelines, one document on stdout; logs stay on stderr either way.

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum SummaryFormat {
    /// Lines for a person.
    #[default]
    Text,
    /// One JSON document.
    Json,
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}
