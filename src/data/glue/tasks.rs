//! The GLUE and SuperGLUE tasks of the BabyLM pipeline: how an example becomes one or two texts
//! (`finetune_classification.py`'s keys, MultiRC's and WSC's templates), its labels, and the
//! metric early stopping watches (F1 for binary tasks, accuracy for MNLI).

use anyhow::{bail, Result};
use serde_json::Value;

/// What early stopping and the best epoch follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    F1,
    Accuracy,
}

/// One task.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Task {
    pub name: &'static str,
    /// Label values in id order, as the files write them when not as ids.
    pub labels: &'static [&'static str],
    pub watch: Watch,
}

const BINARY: &[&str] = &["0", "1"];
const NLI3: &[&str] = &["entailment", "neutral", "contradiction"];
const NLI2: &[&str] = &["entailment", "not_entailment"];

/// Every task lmeff fine-tunes on.
pub const TASKS: [Task; 11] = [
    Task {
        name: "boolq",
        labels: &["False", "True"],
        watch: Watch::F1,
    },
    Task {
        name: "cola",
        labels: BINARY,
        watch: Watch::F1,
    },
    Task {
        name: "mnli",
        labels: NLI3,
        watch: Watch::Accuracy,
    },
    Task {
        name: "mnli-mm",
        labels: NLI3,
        watch: Watch::Accuracy,
    },
    Task {
        name: "mrpc",
        labels: BINARY,
        watch: Watch::F1,
    },
    Task {
        name: "multirc",
        labels: &["False", "True"],
        watch: Watch::F1,
    },
    Task {
        name: "qnli",
        labels: NLI2,
        watch: Watch::F1,
    },
    Task {
        name: "qqp",
        labels: BINARY,
        watch: Watch::F1,
    },
    Task {
        name: "rte",
        labels: NLI2,
        watch: Watch::F1,
    },
    Task {
        name: "sst2",
        labels: BINARY,
        watch: Watch::F1,
    },
    Task {
        name: "wsc",
        labels: &["False", "True"],
        watch: Watch::F1,
    },
];

/// The study's seven tasks (the pipeline also runs cola, sst2, qnli and mnli-mm).
pub const STUDY_TASKS: [&str; 7] = ["boolq", "mnli", "mrpc", "multirc", "qqp", "rte", "wsc"];

/// Text pairs the pipeline recognises by their keys, in the order it tries them.
const PAIRS: [(&str, &str); 5] = [
    ("sentence1", "sentence2"),
    ("question1", "question2"),
    ("premise", "hypothesis"),
    ("question", "passage"),
    ("question", "sentence"),
];

impl Task {
    pub fn named(name: &str) -> Result<Task> {
        match TASKS.iter().find(|t| t.name == name) {
            Some(t) => Ok(*t),
            None => bail!(
                "unknown GLUE task `{name}`; the tasks are {}",
                TASKS.map(|t| t.name).join(", ")
            ),
        }
    }

    pub fn num_labels(&self) -> usize {
        self.labels.len()
    }

    /// The first and (for pair tasks) second text of an example.
    pub fn texts(&self, row: &Value) -> Result<(String, Option<String>)> {
        let get = |k: &str| -> Result<String> {
            match row.get(k) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => bail!("field `{k}` is not text: {other}"),
                None => bail!("no field `{k}`"),
            }
        };
        match self.name {
            "multirc" => Ok((
                format!("Question: {} Answer: {}", get("question")?, get("answer")?),
                Some(get("paragraph")?),
            )),
            "wsc" => Ok((
                format!(
                    "Does \"{}\" refer to \"{}\" in this passage?",
                    get("span2_text")?,
                    get("span1_text")?
                ),
                Some(get("text")?),
            )),
            _ => {
                for (a, b) in PAIRS {
                    if row.get(a).is_some() && row.get(b).is_some() {
                        return Ok((get(a)?, Some(get(b)?)));
                    }
                }
                Ok((get("sentence")?, None))
            }
        }
    }

    /// The label id of an example: an id, a boolean, or one of the task's label names.
    pub fn label(&self, row: &Value) -> Result<i64> {
        let n = self.num_labels() as i64;
        let id = match row.get("label") {
            Some(Value::Number(x)) => x.as_i64().filter(|i| (0..n).contains(i)),
            Some(Value::Bool(b)) if n == 2 => Some(i64::from(*b)),
            Some(Value::String(s)) => self
                .labels
                .iter()
                .position(|l| l.eq_ignore_ascii_case(s))
                .map(|i| i as i64),
            None => bail!("no field `label`"),
            _ => None,
        };
        match id {
            Some(id) => Ok(id),
            None => bail!(
                "label {} is not one of {}'s: 0..{} or {}",
                row["label"],
                self.name,
                n - 1,
                self.labels.join(", ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn texts_and_labels_as_the_pipeline_reads_them() {
        let wsc = Task::named("wsc").unwrap();
        let row = json!({"text": "Mark told Pete a lie.", "span1_text": "Pete", "span2_text": "him", "label": true});
        assert_eq!(
            wsc.texts(&row).unwrap(),
            (
                "Does \"him\" refer to \"Pete\" in this passage?".into(),
                Some("Mark told Pete a lie.".into())
            )
        );
        assert_eq!(wsc.label(&row).unwrap(), 1);
        let multirc = Task::named("multirc").unwrap();
        let row = json!({"paragraph": "P", "question": "Q?", "answer": "A", "label": 0});
        assert_eq!(
            multirc.texts(&row).unwrap(),
            ("Question: Q? Answer: A".into(), Some("P".into()))
        );
        let mnli = Task::named("mnli").unwrap();
        let row = json!({"premise": "a", "hypothesis": "b", "label": "neutral"});
        assert_eq!(mnli.texts(&row).unwrap(), ("a".into(), Some("b".into())));
        assert_eq!(mnli.label(&row).unwrap(), 1);
        assert!(mnli.label(&json!({"label": 3})).is_err());
        assert!(mnli.label(&json!({"label": "maybe"})).is_err());
        let sst2 = Task::named("sst2").unwrap();
        assert_eq!(
            sst2.texts(&json!({"sentence": "good", "label": 1}))
                .unwrap(),
            ("good".into(), None)
        );
        assert!(sst2.texts(&json!({"text": "x"})).is_err());
        assert!(Task::named("squad").is_err());
    }
}
