//! The GLUE and SuperGLUE tasks of the BabyLM pipeline: how an example becomes one or two texts
//! (`finetune_classification.py`'s keys, MultiRC's and WSC's templates), its labels, the metric
//! early stopping watches (F1 for binary tasks, accuracy for MNLI) and the metric the study
//! reports and averages (its plotting code's table: accuracy; F1 for MRPC and QQP; MCC for CoLA).

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A metric of a task's predictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    Accuracy,
    F1,
    Mcc,
}

impl Metric {
    /// The metric's name as the tables write it: `accuracy`, `f1`, `mcc`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::F1 => "f1",
            Metric::Mcc => "mcc",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        [Metric::Accuracy, Metric::F1, Metric::Mcc]
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s.trim()))
    }

    /// This metric of a prediction's (accuracy, F1, MCC).
    pub fn pick<T>(self, accuracy: T, f1: T, mcc: T) -> T {
        match self {
            Metric::Accuracy => accuracy,
            Metric::F1 => f1,
            Metric::Mcc => mcc,
        }
    }

    /// The values the metric can take: [0, 1], MCC's [−1, 1].
    pub fn range(self) -> std::ops::RangeInclusive<f64> {
        match self {
            Metric::Mcc => -1.0..=1.0,
            _ => 0.0..=1.0,
        }
    }
}

/// One task.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Task {
    pub name: &'static str,
    /// Label values in id order, as the files write them when not as ids.
    pub labels: &'static [&'static str],
    /// What early stopping and the best epoch follow (the pipeline's recipe).
    pub watch: Metric,
    /// What the study reports and averages (its `GLUE_TASK_METRICS`).
    pub reported: Metric,
}

const BINARY: &[&str] = &["0", "1"];
const NLI3: &[&str] = &["entailment", "neutral", "contradiction"];
const NLI2: &[&str] = &["entailment", "not_entailment"];

/// Every task lmeff fine-tunes on.
pub const TASKS: [Task; 11] = [
    Task {
        name: "boolq",
        labels: &["False", "True"],
        watch: Metric::F1,
        reported: Metric::Accuracy,
    },
    Task {
        name: "cola",
        labels: BINARY,
        watch: Metric::F1,
        reported: Metric::Mcc,
    },
    Task {
        name: "mnli",
        labels: NLI3,
        watch: Metric::Accuracy,
        reported: Metric::Accuracy,
    },
    Task {
        name: "mnli-mm",
        labels: NLI3,
        watch: Metric::Accuracy,
        reported: Metric::Accuracy,
    },
    Task {
        name: "mrpc",
        labels: BINARY,
        watch: Metric::F1,
        reported: Metric::F1,
    },
    Task {
        name: "multirc",
        labels: &["False", "True"],
        watch: Metric::F1,
        reported: Metric::Accuracy,
    },
    Task {
        name: "qnli",
        labels: NLI2,
        watch: Metric::F1,
        reported: Metric::Accuracy,
    },
    Task {
        name: "qqp",
        labels: BINARY,
        watch: Metric::F1,
        reported: Metric::F1,
    },
    Task {
        name: "rte",
        labels: NLI2,
        watch: Metric::F1,
        reported: Metric::Accuracy,
    },
    Task {
        name: "sst2",
        labels: BINARY,
        watch: Metric::F1,
        reported: Metric::Accuracy,
    },
    Task {
        name: "wsc",
        labels: &["False", "True"],
        watch: Metric::F1,
        reported: Metric::Accuracy,
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

    /// The task whose training set this one trains on: MNLI's for mnli-mm (mismatched is an
    /// evaluation set only), its own otherwise.
    pub fn train_source(&self) -> &'static str {
        match self.name {
            "mnli-mm" => "mnli",
            name => name,
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

    /// The study's `GLUE_TASK_METRICS`, and the pipeline's watched metric beside it.
    #[test]
    fn reported_and_watched_metrics() {
        let of = |t: &str| {
            let t = Task::named(t).unwrap();
            (t.watch.name(), t.reported.name())
        };
        for (task, reported) in [
            ("wsc", "accuracy"),
            ("rte", "accuracy"),
            ("mrpc", "f1"),
            ("boolq", "accuracy"),
            ("multirc", "accuracy"),
            ("mnli", "accuracy"),
            ("qqp", "f1"),
            ("cola", "mcc"),
            ("sst2", "accuracy"),
            ("qnli", "accuracy"),
            ("mnli-mm", "accuracy"),
        ] {
            assert_eq!(of(task).1, reported, "{task}");
        }
        assert_eq!(of("wsc").0, "f1");
        assert_eq!(of("mnli").0, "accuracy");
        assert_eq!(Metric::parse("F1"), Some(Metric::F1));
        assert_eq!(Metric::parse("acc"), None);
        assert_eq!(Metric::Mcc.pick(0.5, 0.4, -0.2), -0.2);
    }
}
