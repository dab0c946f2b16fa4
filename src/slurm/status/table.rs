//! The aligned table `lmeff status` prints.

use super::{RunStatus, StatusReport, TaskStatus};

impl StatusReport {
    /// The aligned table `lmeff status` prints (GLUE columns when the launch fine-tunes).
    pub fn table(&self) -> String {
        let with_glue = self.runs.iter().any(|r| !r.glue.is_empty());
        let mut header = vec!["#", "run_id", "train", "job", "eval"];
        if with_glue {
            header.push("glue");
        }
        header.extend(["tokens", "checkpoint", "last eval"]);
        if with_glue {
            header.push("last glue");
        }
        header.push("note");
        let task = |t: &TaskStatus| {
            if t.restarts > 0 {
                format!("{} ({}×)", t.state.word(), t.restarts)
            } else {
                t.state.word().to_owned()
            }
        };
        let rows: Vec<Vec<String>> = self
            .runs
            .iter()
            .map(|r| {
                let hub = r
                    .unpushed
                    .as_ref()
                    .filter(|u| !u.is_empty())
                    .map(|u| format!("{} not pushed ({})", u.len(), u.join(", ")));
                let glue_notes = r.glue.iter().map(|(t, s)| (&s.detail, format!("glue {t}")));
                let note = r
                    .eliminated
                    .iter()
                    .cloned()
                    .chain(
                        [
                            (&r.train.detail, "train".to_owned()),
                            (&r.eval.detail, "eval".to_owned()),
                        ]
                        .into_iter()
                        .chain(glue_notes)
                        .filter(|(d, _)| !d.is_empty())
                        .map(|(d, s)| format!("{s}: {d}")),
                    )
                    .chain(hub.map(|h| format!("hub: {h}")))
                    .collect::<Vec<_>>()
                    .join("; ");
                let mut row = vec![
                    r.task_index.to_string(),
                    r.run_id.clone(),
                    task(&r.train),
                    r.train.job.clone().unwrap_or_else(|| "-".into()),
                    task(&r.eval),
                ];
                if with_glue {
                    row.push(glue_word(r));
                }
                row.extend([
                    r.tokens.map_or("-".into(), |t| t.to_string()),
                    r.last_checkpoint.clone().unwrap_or_else(|| "-".into()),
                    r.last_eval.clone().unwrap_or_else(|| "-".into()),
                ]);
                if with_glue {
                    row.push(r.last_glue.clone().unwrap_or_else(|| "-".into()));
                }
                row.push(note);
                row
            })
            .collect();
        let mut out = crate::io::aligned_table(
            &header,
            rows.iter().map(|r| r.iter().map(String::as_str).collect()),
        );
        if let Some(a) = &self.aggregate {
            out.push_str(&format!(
                "aggregate: {} (job {}){}\n",
                a.state.word(),
                a.job.as_deref().unwrap_or("-"),
                if a.detail.is_empty() {
                    String::new()
                } else {
                    format!(", {}", a.detail)
                }
            ));
        }
        if !self.scheduler_reachable {
            out.push_str("Slurm did not answer: states come from the runs' own records only\n");
        }
        out
    }
}

/// The GLUE tasks' states in a word or a count per state (`done`, `3 done, 4 queued`).
fn glue_word(r: &RunStatus) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for t in r.glue.values() {
        match counts.iter_mut().find(|(w, _)| *w == t.state.word()) {
            Some((_, n)) => *n += 1,
            None => counts.push((t.state.word(), 1)),
        }
    }
    match counts[..] {
        [] => "-".into(),
        [(w, _)] => w.to_owned(),
        _ => counts
            .iter()
            .map(|(w, n)| format!("{n} {w}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}
