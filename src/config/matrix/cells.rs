//! The cells of one configs.csv record, each parsed and checked; every problem is kept with its
//! line and column so a user sees all of them at once.

use super::row::{MatrixRow, Problem};
use crate::config::dataset::DatasetName;
use crate::config::preset::Presets;
use crate::config::train::ScheduleKind;
use crate::config::units::{Anchor, SlurmTime};

/// One record being validated; problems accumulate so a user sees all of them at once.
pub(super) struct Cells<'a> {
    pub(super) names: &'a [&'a str],
    pub(super) record: &'a csv::StringRecord,
    pub(super) line: u64,
    pub(super) problems: &'a mut Vec<Problem>,
}

impl Cells<'_> {
    fn get(&self, column: &str) -> Option<(usize, &str)> {
        let idx = self.names.iter().position(|n| *n == column)?;
        Some((idx, self.record.get(idx).unwrap_or("")))
    }

    fn problem(&mut self, column: &str, message: String) {
        let idx = self.names.iter().position(|n| *n == column).unwrap_or(0);
        self.problems.push(Problem {
            line: self.line,
            column: Some((idx + 1, column.to_owned())),
            message,
        });
    }

    /// Parses a cell with `parse`; empty optional cells are `Ok(None)`.
    fn cell<T>(
        &mut self,
        column: &str,
        required: bool,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<Option<T>> {
        let value = self
            .get(column)
            .map(|(_, v)| v.to_owned())
            .unwrap_or_default();
        if value.is_empty() {
            if required {
                self.problem(column, "empty value".into());
                return None;
            }
            return Some(None);
        }
        match parse(&value) {
            Ok(v) => Some(Some(v)),
            Err(message) => {
                self.problem(column, format!("{message} (value `{value}`)"));
                None
            }
        }
    }

    pub(super) fn row(&mut self, presets: &Presets) -> Option<MatrixRow> {
        let model = self.cell("model_config", true, |v| {
            presets.get(v).map(|p| p.name.clone()).ok_or_else(|| {
                format!(
                    "unknown model preset (in {}: {})",
                    presets.dir().display(),
                    presets.names().collect::<Vec<_>>().join(", ")
                )
            })
        });
        let dataset = self.cell("dataset", true, |v| {
            DatasetName::parse(v).map(|d| d.to_string())
        });
        let epochs = self.cell("epochs", true, positive::<u32>);
        let batch_size = self.cell("batch_size", false, zero_is_default);
        let grad_accum = self.cell("grad_accum", false, zero_is_default);
        let seq_length = self.cell("seq_length", true, positive::<u32>);
        let anchors = self.cell("anchors", true, parse_anchors);
        let vocab_size = self.cell("tokenizer_vocab_size", true, |v| {
            let v = positive::<u32>(v)?;
            if v >= super::super::MIN_VOCAB {
                Ok(v)
            } else {
                Err(format!(
                    "vocab size below {} (the 3 special tokens and 256 byte symbols)",
                    super::super::MIN_VOCAB
                ))
            }
        });
        let gpus = match (
            self.cell("gpus", false, positive::<u32>),
            self.cell("gpus_used", false, positive::<u32>),
        ) {
            (Some(Some(a)), Some(Some(b))) if a != b => {
                self.problem(
                    "gpus_used",
                    format!("{b} disagrees with `gpus` {a} (the same setting; give one)"),
                );
                None
            }
            (Some(a), Some(b)) => Some(a.or(b)),
            _ => None,
        };
        let nodes = self.cell("nodes", false, positive::<u32>);
        let time = self.cell("time", false, |v| v.parse::<SlurmTime>());
        let schedule = self.cell("schedule", false, |v| v.parse::<ScheduleKind>());
        let seeds = self.cell("seeds", false, |v| {
            let seeds: Vec<u64> = serde_json::from_str(v)
                .map_err(|e| format!("not a JSON list of non-negative integers: {e}"))?;
            if seeds.is_empty() {
                return Err("empty seed list".into());
            }
            Ok(seeds)
        });

        let row = MatrixRow {
            line: self.line,
            model: model??,
            dataset: dataset??,
            epochs: epochs??,
            batch_size: batch_size?.flatten(),
            grad_accum: grad_accum?.flatten(),
            seq_length: seq_length??,
            anchors: anchors??,
            vocab_size: vocab_size??,
            gpus: gpus?.unwrap_or(1),
            nodes: nodes?.unwrap_or(1),
            time: time?,
            seeds: seeds?,
            schedule: schedule?,
        };
        let max_pos = presets.get(&row.model)?.model.max_position_embeddings;
        if row.seq_length > max_pos {
            self.problem(
                "seq_length",
                format!(
                    "{} exceeds the {} preset's max_position_embeddings {max_pos}",
                    row.seq_length, row.model
                ),
            );
            return None;
        }
        Some(row)
    }
}

fn positive<T: std::str::FromStr + PartialEq + Default>(v: &str) -> Result<T, String> {
    match v.parse::<T>() {
        Ok(n) if n != T::default() => Ok(n),
        Ok(_) => Err("must be positive".into()),
        Err(_) if v.starts_with('-') => Err("must not be negative".into()),
        Err(_) if is_digits(v) => Err(format!("{v} is too large")),
        Err(_) => Err("not a whole number".into()),
    }
}

/// `0` means "the preset's value", like an empty cell.
fn zero_is_default(v: &str) -> Result<Option<u32>, String> {
    match v.parse::<u32>() {
        Ok(0) => Ok(None),
        Ok(n) => Ok(Some(n)),
        Err(_) if v.starts_with('-') => Err("must not be negative (0 = the preset's)".into()),
        Err(_) if is_digits(v) => Err(format!("{v} is too large (at most {})", u32::MAX)),
        Err(_) => Err("not a whole number".into()),
    }
}

fn is_digits(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

fn parse_anchors(v: &str) -> Result<Vec<Anchor>, String> {
    let values: Vec<f64> = serde_json::from_str(v)
        .map_err(|e| format!("not a JSON list of millions of tokens (-1 = full run): {e}"))?;
    if values.is_empty() {
        return Err("empty anchor list".into());
    }
    let anchors = values
        .into_iter()
        .map(Anchor::from_value)
        .collect::<Result<Vec<_>, _>>()?;
    for (i, a) in anchors.iter().enumerate() {
        if anchors[..i].contains(a) {
            return Err(format!("anchor {a} is listed twice"));
        }
    }
    Ok(anchors)
}
