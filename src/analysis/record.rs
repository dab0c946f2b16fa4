//! One collected accuracy ([`Record`]): the run it belongs to ([`RunKey`], the study's
//! vocabulary), its checkpoint ([`Milestone`]), and the task, when it is one paradigm's.

use std::fmt;
use std::path::PathBuf;

pub use crate::config::RunKey;

/// A checkpoint of a run: a milestone in millions of tokens (0: the initialisation), or the
/// run's end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Milestone {
    Millions(f64),
    Final,
}

impl Milestone {
    /// Parses `25`, `0.05`, `25M`, `final`, or `init` / `0` (the initialisation, as the study's
    /// tables hold it).
    pub fn parse(s: &str) -> Option<Milestone> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("final") || s == "-1" {
            return Some(Milestone::Final);
        }
        if s.eq_ignore_ascii_case("init") {
            return Some(Milestone::Millions(0.0));
        }
        let v: f64 = s.trim_end_matches(['M', 'm']).parse().ok()?;
        (v.is_finite() && v >= 0.0).then_some(Milestone::Millions(v))
    }

    /// Sort key: milestones by tokens, `final` last.
    pub fn order(&self) -> f64 {
        match self {
            Milestone::Millions(v) => *v,
            Milestone::Final => f64::INFINITY,
        }
    }
}

impl fmt::Display for Milestone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Milestone::Millions(v) => write!(f, "{v}"),
            Milestone::Final => f.write_str("final"),
        }
    }
}

/// The order of model sizes: by their parameter count (`20m` < `60m` < `180m` < `1b`), sizes
/// that are not a number with a `k`/`m`/`b` suffix after them, by name.
pub fn size_order(size: &str) -> (bool, f64, String) {
    let s = size.trim().to_ascii_lowercase();
    let (num, scale) = match s.chars().last() {
        Some('k') => (&s[..s.len() - 1], 1e3),
        Some('m') => (&s[..s.len() - 1], 1e6),
        Some('b') => (&s[..s.len() - 1], 1e9),
        _ => (s.as_str(), 1.0),
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() => (false, v * scale, s.clone()),
        _ => (true, 0.0, s.clone()),
    }
}

/// One accuracy: overall (`task` = None) or of one paradigm.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub run: RunKey,
    pub milestone: Milestone,
    pub task: Option<String>,
    pub field: Option<String>,
    pub phenomenon: Option<String>,
    pub acc: f64,
    /// Pairs behind the accuracy, when known.
    pub n: Option<i64>,
    /// Tokens the checkpoint had seen, when known.
    pub tokens: Option<i64>,
    /// An overall accuracy's paradigms (sorted), when the source says which.
    pub paradigms: Option<Vec<String>>,
    pub source: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milestones_parse_and_order() {
        assert_eq!(Milestone::parse("25"), Some(Milestone::Millions(25.0)));
        assert_eq!(Milestone::parse("0.05M"), Some(Milestone::Millions(0.05)));
        assert_eq!(Milestone::parse("final"), Some(Milestone::Final));
        assert_eq!(Milestone::parse("best"), None);
        assert_eq!(Milestone::parse("-3"), None);
        assert_eq!(Milestone::parse("init"), Some(Milestone::Millions(0.0)));
        assert_eq!(Milestone::Millions(0.0).to_string(), "0");
        assert!(Milestone::Final.order() > Milestone::Millions(2000.0).order());
    }

    #[test]
    fn model_sizes_order_by_parameters() {
        let mut sizes = ["180m", "tiny", "20m", "1b", "60m"];
        sizes.sort_by(|a, b| size_order(a).partial_cmp(&size_order(b)).unwrap());
        assert_eq!(sizes, ["20m", "60m", "180m", "1b", "tiny"]);
    }
}
