//! The experiment matrix `configs.csv`: one row per (model, dataset, tokenizer) configuration with
//! the study's columns, validated cell by cell. Every problem names file, line and column.

use std::fmt;
use std::path::{Path, PathBuf};

use super::dataset::DatasetName;
use super::preset::Presets;
use super::settings::Settings;
use super::train::ScheduleKind;
use super::units::{Anchor, SlurmTime};

/// Columns every configs.csv must have (the study's).
pub const REQUIRED_COLUMNS: [&str; 8] = [
    "model_config",
    "dataset",
    "epochs",
    "batch_size",
    "grad_accum",
    "seq_length",
    "anchors",
    "tokenizer_vocab_size",
];
/// Columns lmeff adds, and the study's `gpus_used` (= `gpus`); each may be absent or empty.
pub const OPTIONAL_COLUMNS: [&str; 6] = ["gpus", "gpus_used", "nodes", "time", "seeds", "schedule"];

/// One validated row of configs.csv.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixRow {
    /// 1-based line in the file (the header is line 1).
    pub line: u64,
    /// Model preset name (`configs/models/<model>.yaml`).
    pub model: String,
    /// Dataset folder name under `data_dir`.
    pub dataset: String,
    /// Passes over the training data for a full run.
    pub epochs: u32,
    /// Global batch in sequences; `None` = the preset's.
    pub batch_size: Option<u32>,
    /// Gradient-accumulation micro-steps; `None` = the preset's.
    pub grad_accum: Option<u32>,
    /// Tokens per training sequence.
    pub seq_length: u32,
    /// Anchors of this row, each its own run.
    pub anchors: Vec<Anchor>,
    /// Tokenizer vocabulary size.
    pub vocab_size: u32,
    /// GPUs (ranks) per node.
    pub gpus: u32,
    /// Nodes per run.
    pub nodes: u32,
    /// Slurm time limit for the run (`[D-]HH:MM:SS` or minutes), if given.
    pub time: Option<SlurmTime>,
    /// Seeds for this row; `None` = the settings' (or `--seeds`).
    pub seeds: Option<Vec<u64>>,
    /// `cosine` or `wsd`; `None` = the setting `train.schedule`.
    pub schedule: Option<ScheduleKind>,
}

/// One problem in one place of the matrix file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line.
    pub line: u64,
    /// 1-based column and its name, when the problem is in a cell.
    pub column: Option<(usize, String)>,
    /// What is wrong.
    pub message: String,
}

/// All problems found in a matrix file; nothing is planned while any exist.
#[derive(Debug, Clone, thiserror::Error)]
pub struct MatrixError {
    /// The file read.
    pub file: PathBuf,
    /// Every problem, in file order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for MatrixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{}: {n} problem{}",
            self.file.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {}:{}", self.file.display(), p.line)?;
            if let Some((idx, name)) = &p.column {
                write!(f, ": column {idx} `{name}`")?;
            }
            write!(f, ": {}", p.message)?;
        }
        Ok(())
    }
}

/// Reads and validates `path` against the presets and settings.
pub fn read_matrix(
    path: &Path,
    presets: &Presets,
    settings: &Settings,
) -> Result<Vec<MatrixRow>, MatrixError> {
    let fail = |line, message: String| MatrixError {
        file: path.to_owned(),
        problems: vec![Problem {
            line,
            column: None,
            message,
        }],
    };
    let text = fs_err::read_to_string(path).map_err(|e| fail(0, format!("cannot read: {e}")))?;
    parse_matrix(&text, presets, settings).map_err(|problems| MatrixError {
        file: path.to_owned(),
        problems,
    })
}

/// Validates matrix text; `Err` lists every problem found.
pub fn parse_matrix(
    text: &str,
    presets: &Presets,
    settings: &Settings,
) -> Result<Vec<MatrixRow>, Vec<Problem>> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let header_problem = |message: String| {
        vec![Problem {
            line: 1,
            column: None,
            message,
        }]
    };
    let headers = reader
        .headers()
        .map_err(|e| header_problem(format!("unreadable header: {e}")))?
        .clone();
    let names: Vec<&str> = headers.iter().collect();
    let mut problems = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if !REQUIRED_COLUMNS.contains(name) && !OPTIONAL_COLUMNS.contains(name) {
            problems.push(Problem {
                line: 1,
                column: Some((i + 1, name.to_string())),
                message: format!(
                    "unknown column (known: {}, {})",
                    REQUIRED_COLUMNS.join(", "),
                    OPTIONAL_COLUMNS.join(", ")
                ),
            });
        }
    }
    for required in REQUIRED_COLUMNS {
        if !names.contains(&required) {
            problems.push(Problem {
                line: 1,
                column: None,
                message: format!("missing column `{required}`"),
            });
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(Problem {
                    line,
                    column: None,
                    message: format!("malformed CSV record: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let mut cells = Cells {
            names: &names,
            record: &record,
            line,
            problems: &mut problems,
        };
        if let Some(row) = cells.row(presets, settings) {
            rows.push(row);
        }
    }
    if rows.is_empty() && problems.is_empty() {
        problems.push(Problem {
            line: 1,
            column: None,
            message: "no rows: the matrix plans nothing".into(),
        });
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

/// One record being validated; problems accumulate so a user sees all of them at once.
struct Cells<'a> {
    names: &'a [&'a str],
    record: &'a csv::StringRecord,
    line: u64,
    problems: &'a mut Vec<Problem>,
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

    fn row(&mut self, presets: &Presets, settings: &Settings) -> Option<MatrixRow> {
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
            if settings.vocab_sizes.contains(&v) {
                Ok(v)
            } else {
                Err(format!(
                    "unsupported vocab size (settings `vocab_sizes`: {:?})",
                    settings.vocab_sizes
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

#[cfg(test)]
mod tests {
    use super::*;

    fn presets() -> Presets {
        Presets::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/models")).unwrap()
    }

    const HEADER: &str =
        "model_config,dataset,epochs,batch_size,grad_accum,seq_length,anchors,tokenizer_vocab_size";

    fn parse(body: &str) -> Result<Vec<MatrixRow>, Vec<Problem>> {
        parse_matrix(
            &format!("{HEADER}\n{body}"),
            &presets(),
            &Settings::default(),
        )
    }

    fn only_problem(body: &str) -> Problem {
        let problems = parse(body).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        problems.into_iter().next().unwrap()
    }

    #[test]
    fn the_study_row_parses() {
        let rows = parse("20m,tinystories,50,64,1,256,\"[-1]\",16000\n").unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.line, r.model.as_str(), r.epochs), (2, "20m", 50));
        assert_eq!(r.anchors, vec![Anchor::Full]);
        assert_eq!((r.batch_size, r.gpus, r.nodes), (Some(64), 1, 1));
    }

    #[test]
    fn zero_or_empty_batch_means_the_preset() {
        let rows = parse("60m,babylm,10,0,,256,\"[25, 50]\",16000\n").unwrap();
        assert_eq!((rows[0].batch_size, rows[0].grad_accum), (None, None));
        assert_eq!(rows[0].anchors.len(), 2);
    }

    #[test]
    fn optional_columns() {
        let text = format!("{HEADER},gpus,nodes,time,seeds\n20m,web,1,64,1,256,[-1],8000,4,2,1-00:00:00,\"[3,4]\"\n");
        let rows = parse_matrix(&text, &presets(), &Settings::default()).unwrap();
        assert_eq!((rows[0].gpus, rows[0].nodes), (4, 2));
        assert_eq!(
            rows[0].time.as_ref().map(SlurmTime::as_str),
            Some("1-00:00:00")
        );
        assert_eq!(rows[0].seeds, Some(vec![3, 4]));
    }

    #[test]
    fn bad_cells_name_line_and_column() {
        let p = only_problem("30m,tinystories,50,64,1,256,\"[-1]\",16000\n");
        assert_eq!((p.line, p.column.clone().unwrap().0), (2, 1));
        assert!(p.message.contains("unknown model preset"), "{p:?}");

        let p = only_problem("20m,tinystories,50,64,1,256,\"[25,\",16000\n");
        assert_eq!(p.column.unwrap(), (7, "anchors".to_string()));
        assert!(p.message.contains("JSON"), "{}", p.message);

        let p = only_problem("20m,tinystories,50,64,1,256,\"[-1]\",12345\n");
        assert_eq!(p.column.unwrap().1, "tokenizer_vocab_size");

        let p = only_problem("20m,tinystories,-3,64,1,256,\"[-1]\",16000\n");
        assert!(p.message.contains("negative"), "{}", p.message);

        let p = only_problem("20m,tinystories,50,-64,1,256,\"[-1]\",16000\n");
        assert_eq!(p.column.unwrap().1, "batch_size");

        let p = only_problem("20m,tinystories,50,64,1,512,\"[-1]\",16000\n");
        assert!(
            p.message.contains("max_position_embeddings"),
            "{}",
            p.message
        );

        let p = only_problem("20m,tinystories,50,64,1,256,\"[-2]\",16000\n");
        assert!(p.message.contains("-1"), "{}", p.message);

        let p = only_problem("20m,../etc,50,64,1,256,\"[-1]\",16000\n");
        assert_eq!(p.column.unwrap().1, "dataset");
    }

    #[test]
    fn all_problems_are_reported_with_their_lines() {
        let problems = parse(
            "20m,tinystories,50,64,1,256,\"[-1]\",16000\n30m,x,1,1,1,1,[1],8000\n20m,x,0,1,1,1,[1],8000\n",
        )
        .unwrap_err();
        let lines: Vec<u64> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [3, 4]);
    }

    #[test]
    fn header_problems() {
        let text = "model_config,dataset,epochs,batch_size,grad_accum,seq_length,anchors,vocab\n";
        let problems = parse_matrix(text, &presets(), &Settings::default()).unwrap_err();
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert!(
            messages.iter().any(|m| m.starts_with("unknown column")),
            "{messages:?}"
        );
        assert!(messages
            .iter()
            .any(|m| m.contains("missing column `tokenizer_vocab_size`")));
        assert!(problems.iter().all(|p| p.line == 1));
    }

    #[test]
    fn short_rows_and_empty_files_are_errors() {
        let p = only_problem("20m,tinystories,50\n");
        assert!(p.message.contains("malformed CSV"), "{}", p.message);
        assert_eq!(p.line, 2);
        let p = only_problem("");
        assert!(p.message.contains("no rows"));
    }
}
