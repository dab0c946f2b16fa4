//! The experiment matrix `configs.csv`: one row per (model, dataset, tokenizer) configuration with
//! the study's columns, validated cell by cell. Every problem names file, line and column.

use std::fmt;
use std::path::{Path, PathBuf};

mod cells;
mod row;

use super::preset::Presets;
use cells::Cells;
pub use row::{MatrixRow, Problem};

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

/// Reads and validates `path` against the presets.
pub fn read_matrix(path: &Path, presets: &Presets) -> Result<Vec<MatrixRow>, MatrixError> {
    let fail = |line, message: String| MatrixError {
        file: path.to_owned(),
        problems: vec![Problem {
            line,
            column: None,
            message,
        }],
    };
    let text = fs_err::read_to_string(path).map_err(|e| fail(0, format!("cannot read: {e}")))?;
    parse_matrix(&text, presets).map_err(|problems| MatrixError {
        file: path.to_owned(),
        problems,
    })
}

/// Validates matrix text; `Err` lists every problem found.
pub fn parse_matrix(text: &str, presets: &Presets) -> Result<Vec<MatrixRow>, Vec<Problem>> {
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
        if let Some(row) = cells.row(presets) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::units::{Anchor, SlurmTime};

    fn presets() -> Presets {
        Presets::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/models")).unwrap()
    }

    const HEADER: &str =
        "model_config,dataset,epochs,batch_size,grad_accum,seq_length,anchors,tokenizer_vocab_size";

    fn parse(body: &str) -> Result<Vec<MatrixRow>, Vec<Problem>> {
        parse_matrix(&format!("{HEADER}\n{body}"), &presets())
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
        let rows = parse_matrix(&text, &presets()).unwrap();
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

        let p = only_problem("20m,tinystories,50,64,1,256,\"[-1]\",258\n");
        assert_eq!(p.column.unwrap().1, "tokenizer_vocab_size");
        assert!(p.message.contains("below 259"), "{}", p.message);
        // Any size a tokenizer can have, as `lmeff train --vocab` takes it.
        assert_eq!(
            parse("20m,tinystories,50,64,1,256,\"[-1]\",12345\n").unwrap()[0].vocab_size,
            12345
        );

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
        let problems = parse_matrix(text, &presets()).unwrap_err();
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
