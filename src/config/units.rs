//! Token amounts and anchors: the units every later stage counts in.
//!
//! The study writes milestones and anchors in *millions* of tokens (`25` = 25M; fractions such as
//! `0.05` let tests run tiny studies). Inside lmeff every amount is an exact [`TokenCount`].

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The smallest tokenizer vocabulary lmeff trains: its 3 special tokens (`<pad>`, `<s>`, `</s>`)
/// and the 256 byte symbols. A configs.csv row and `--vocab` accept any size from here on.
pub const MIN_VOCAB: u32 = 3 + 256;

/// An exact number of training tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenCount(pub u64);

impl TokenCount {
    /// The first optimizer step at which `self` tokens have been seen: ceil(tokens / tokens_per_step).
    pub fn step_reached(self, tokens_per_step: u64) -> u64 {
        assert!(tokens_per_step > 0, "tokens_per_step must be positive");
        self.0.div_ceil(tokens_per_step)
    }
}

impl fmt::Display for TokenCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A positive token amount in millions that is a whole number of tokens (`25`, `0.05`); finite,
/// so it compares and hashes as a number.
#[derive(Clone, Copy, Debug)]
pub struct Millions(f64);

impl PartialEq for Millions {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Millions {}

impl PartialOrd for Millions {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Millions {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl std::hash::Hash for Millions {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.to_bits().hash(h);
    }
}

impl Millions {
    /// Validates a millions value: finite, positive and a whole number of tokens.
    pub fn new(value: f64) -> Result<Self, String> {
        if !value.is_finite() || value <= 0.0 {
            return Err(format!(
                "{value} is not a positive number of millions of tokens"
            ));
        }
        let tokens = value * 1e6;
        if (tokens - tokens.round()).abs() > 1e-3 || tokens.round() > u64::MAX as f64 {
            return Err(format!("{value}M is not a whole number of tokens"));
        }
        Ok(Self(value))
    }

    /// The value in millions.
    pub fn get(self) -> f64 {
        self.0
    }

    /// The exact token count.
    pub fn tokens(self) -> TokenCount {
        TokenCount((self.0 * 1e6).round() as u64)
    }
}

impl fmt::Display for Millions {
    /// The study's label: `25`, `0.05` (shortest form that reads back to the same value).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Millions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

impl<'de> Deserialize<'de> for Millions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Millions::new(f64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A run's anchor: a token budget with its own schedule, or the full run (`-1` in configs.csv).
/// Anchors order by their budget, the full run last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Anchor {
    /// Train for exactly this many tokens (rounded up to whole steps); the schedule ends there.
    Budget(Millions),
    /// Train for the configured epochs (with early stopping), saving every milestone.
    Full,
}

impl Anchor {
    /// Reads the configs.csv value: `-1` is the full run, anything else a budget in millions.
    pub fn from_value(value: f64) -> Result<Self, String> {
        if value == -1.0 {
            Ok(Anchor::Full)
        } else {
            Millions::new(value)
                .map(Anchor::Budget)
                .map_err(|e| format!("{e} (use -1 for a full run)"))
        }
    }

    /// Reads a table's cell: `full` or `-1`, or a budget in millions with or without its `M`.
    pub fn from_cell(cell: &str) -> Result<Self, String> {
        let s = cell.trim();
        match s.parse() {
            Ok(a) => Ok(a),
            Err(e) => s.parse::<f64>().map_err(|_| e).and_then(Anchor::from_value),
        }
    }

    /// The budget in tokens, `None` for a full run.
    pub fn budget_tokens(self) -> Option<TokenCount> {
        match self {
            Anchor::Full => None,
            Anchor::Budget(m) => Some(m.tokens()),
        }
    }
}

impl Serialize for Anchor {
    /// As displayed: `full` or `25M`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl std::str::FromStr for Anchor {
    type Err = String;

    /// `full` or a budget such as `25M` (as displayed).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "full" {
            return Ok(Anchor::Full);
        }
        s.strip_suffix('M')
            .and_then(|m| m.parse::<f64>().ok())
            .ok_or_else(|| format!("`{s}` is not an anchor (full, or a budget such as 25M)"))
            .and_then(Millions::new)
            .map(Anchor::Budget)
    }
}

impl<'de> Deserialize<'de> for Anchor {
    /// As displayed; an empty value is the full run (files that wrote none, empty table cells).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "" => Ok(Anchor::Full),
            s => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl fmt::Display for Anchor {
    /// `full` or `25M`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Anchor::Full => write!(f, "full"),
            Anchor::Budget(m) => write!(f, "{m}M"),
        }
    }
}

/// A Slurm time limit as `sbatch --time` takes it (`MM`, `MM:SS`, `HH:MM:SS`, `D-HH`,
/// `D-HH:MM:SS`), kept as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SlurmTime(String);

impl SlurmTime {
    /// The limit as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SlurmTime {
    type Err = String;

    fn from_str(v: &str) -> Result<Self, Self::Err> {
        let (days, rest) = match v.split_once('-') {
            Some((d, r)) => (Some(d), r),
            None => (None, v),
        };
        let parts: Vec<&str> = rest.split(':').collect();
        let numeric = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
        let ok = days.is_none_or(numeric)
            && parts.iter().all(|p| numeric(p))
            && (1..=3).contains(&parts.len());
        if ok {
            Ok(SlurmTime(v.to_owned()))
        } else {
            Err("not a Slurm time (MM, HH:MM:SS, D-HH:MM:SS)".into())
        }
    }
}

impl fmt::Display for SlurmTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_read_table_cells_and_order_by_budget() {
        let a = |s: &str| Anchor::from_cell(s).unwrap();
        assert_eq!(a("full"), Anchor::Full);
        assert_eq!(a("-1"), Anchor::Full);
        assert_eq!(a(" 25M "), a("25"));
        assert_eq!(a("0.05"), Anchor::Budget(Millions::new(0.05).unwrap()));
        for bad in ["", "lots", "-3", "25 M", "0"] {
            assert!(Anchor::from_cell(bad).is_err(), "{bad}");
        }
        let mut anchors = [a("full"), a("100M"), a("25M"), a("0.05M")];
        anchors.sort();
        let text: Vec<String> = anchors.iter().map(|a| a.to_string()).collect();
        assert_eq!(text, ["0.05M", "25M", "100M", "full"]);
        assert_eq!(Millions::new(25.0), Millions::new(25.0));
        let empty: Anchor = serde_json::from_str(r#""""#).unwrap();
        assert_eq!(empty, Anchor::Full, "files that wrote no anchor");
    }

    #[test]
    fn millions_are_exact_tokens() {
        assert_eq!(
            Millions::new(25.0).unwrap().tokens(),
            TokenCount(25_000_000)
        );
        assert_eq!(Millions::new(0.05).unwrap().tokens(), TokenCount(50_000));
        assert_eq!(Millions::new(0.02).unwrap().to_string(), "0.02");
        assert_eq!(Millions::new(1250.0).unwrap().to_string(), "1250");
        assert!(Millions::new(0.0).is_err());
        assert!(Millions::new(-3.0).is_err());
        assert!(Millions::new(f64::NAN).is_err());
        assert!(
            Millions::new(1e-7).is_err(),
            "0.1 tokens is not a token count"
        );
    }

    #[test]
    fn step_reached_rounds_up() {
        // 60m preset: 128 x 2 x 256 = 65,536 tokens/step; 25M tokens -> 381.47 -> step 382.
        assert_eq!(TokenCount(25_000_000).step_reached(65_536), 382);
        assert_eq!(TokenCount(65_536).step_reached(65_536), 1);
        assert_eq!(TokenCount(65_537).step_reached(65_536), 2);
    }

    #[test]
    fn anchors_parse_and_print() {
        assert_eq!(Anchor::from_value(-1.0).unwrap(), Anchor::Full);
        assert_eq!(Anchor::from_value(25.0).unwrap().to_string(), "25M");
        assert_eq!(
            Anchor::from_value(0.05).unwrap().budget_tokens(),
            Some(TokenCount(50_000))
        );
        assert!(Anchor::from_value(-2.0).is_err());
        assert!(Anchor::from_value(0.0).is_err());
    }

    #[test]
    fn slurm_times() {
        for ok in ["30", "30:00", "24:00:00", "2-00", "2-12:00:00"] {
            assert_eq!(ok.parse::<SlurmTime>().unwrap().as_str(), ok);
        }
        for bad in ["1h", "", "1:2:3:4", "x-10"] {
            assert!(bad.parse::<SlurmTime>().is_err(), "{bad}");
        }
    }
}
