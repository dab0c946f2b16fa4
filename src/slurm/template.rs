//! Job templates: shell scripts with `{{name}}` placeholders. Users edit the copies in `slurm/`;
//! lmeff carries the same files built in for when a project has none.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The stages of a launch, in submission order: the three a user names (`--stages`), and the
/// race's two (`launch --race`): a rung's evaluation arrays and its decision job.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Train,
    Eval,
    Aggregate,
    Rung,
    Race,
}

impl Stage {
    /// The stages a user names, in submission order.
    pub const ALL: [Stage; 3] = [Stage::Train, Stage::Eval, Stage::Aggregate];

    /// The stage's name (`train`, `eval`, `aggregate`, `rung`, `race`).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Train => "train",
            Stage::Eval => "eval",
            Stage::Aggregate => "aggregate",
            Stage::Rung => "rung",
            Stage::Race => "race",
        }
    }
}

/// What one evaluation array runs: BLiMP, or one GLUE task (so that a run's tasks fine-tune side
/// by side). The manifest records it as `glue_task` (absent for BLiMP).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EvalPart {
    Blimp,
    Glue(String),
}

impl EvalPart {
    /// The part a manifest entry's `glue_task` names.
    pub fn of(glue_task: Option<&str>) -> EvalPart {
        glue_task.map_or(EvalPart::Blimp, |t| EvalPart::Glue(t.to_owned()))
    }

    /// The GLUE task, for the manifest.
    pub fn glue_task(&self) -> Option<&str> {
        match self {
            EvalPart::Blimp => None,
            EvalPart::Glue(t) => Some(t),
        }
    }

    /// The template it renders from.
    pub fn template(&self) -> &'static str {
        match self {
            EvalPart::Blimp => "eval",
            EvalPart::Glue(_) => "glue",
        }
    }

    /// The script (and job name) suffix of a group: `eval-0`, `glue-0-rte`.
    pub fn script_stem(&self, group: usize) -> String {
        match self {
            EvalPart::Blimp => format!("eval-{group}"),
            EvalPart::Glue(t) => format!("glue-{group}-{t}"),
        }
    }
}

impl std::fmt::Display for EvalPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalPart::Blimp => f.write_str("blimp"),
            EvalPart::Glue(t) => write!(f, "glue {t}"),
        }
    }
}

/// Every template's name (`<name>.sbatch`).
pub const TEMPLATES: [&str; 6] = ["train", "eval", "glue", "aggregate", "rung", "race"];

/// The built-in copy of template `name`.
pub fn builtin(name: &str) -> Option<&'static str> {
    Some(match name {
        "train" => include_str!("../../slurm/train.sbatch"),
        "eval" => include_str!("../../slurm/eval.sbatch"),
        "glue" => include_str!("../../slurm/glue.sbatch"),
        "aggregate" => include_str!("../../slurm/aggregate.sbatch"),
        "rung" => include_str!("../../slurm/rung.sbatch"),
        "race" => include_str!("../../slurm/race.sbatch"),
        _ => return None,
    })
}

impl std::str::FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Stage, String> {
        Stage::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| format!("unknown stage {s:?} (train, eval, aggregate)"))
    }
}

/// A template's text and where it came from (for error messages).
#[derive(Debug, Clone)]
pub struct Template {
    pub source: PathBuf,
    pub text: String,
}

impl Template {
    /// `<dir>/<name>.sbatch` (`train`, `eval`, `glue`, `aggregate`, `rung`, `race`), or the built-in copy when
    /// that file does not exist.
    pub fn load(dir: &Path, name: &str) -> Result<Template> {
        let path = dir.join(format!("{name}.sbatch"));
        if path.is_file() {
            let text = fs_err::read_to_string(&path)
                .with_context(|| format!("reading template {}", path.display()))?;
            return Ok(Template { source: path, text });
        }
        let Some(text) = builtin(name) else {
            bail!("no template {name}.sbatch in {}", dir.display());
        };
        Ok(Template {
            source: PathBuf::from(format!("<built-in {name}.sbatch>")),
            text: text.to_owned(),
        })
    }

    /// Replaces every `{{name}}` with its value. A placeholder without a value, or an unclosed
    /// `{{`, is an error naming the template and line.
    pub fn render(&self, values: &HashMap<&str, String>) -> Result<String> {
        let mut out = String::with_capacity(self.text.len() * 2);
        for (n, line) in self.text.split_inclusive('\n').enumerate() {
            let mut rest = line;
            while let Some(start) = rest.find("{{") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                let Some(end) = after.find("}}") else {
                    bail!("{}:{}: `{{{{` without `}}}}`", self.source.display(), n + 1);
                };
                let name = after[..end].trim();
                match values.get(name) {
                    Some(v) => out.push_str(v),
                    None => {
                        let mut known: Vec<&str> = values.keys().copied().collect();
                        known.sort_unstable();
                        bail!(
                            "{}:{}: unknown placeholder {{{{{name}}}}} (known: {})",
                            self.source.display(),
                            n + 1,
                            known.join(", ")
                        );
                    }
                }
                rest = &after[end + 2..];
            }
            out.push_str(rest);
        }
        Ok(out)
    }
}

/// Quotes a word for bash when it needs it (`'…'` with embedded quotes escaped).
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(text: &str) -> Template {
        Template {
            source: "t.sbatch".into(),
            text: text.into(),
        }
    }

    #[test]
    fn placeholders_are_filled_and_unknown_ones_refused() {
        let values = HashMap::from([("a", "1".to_owned()), ("b", "two".to_owned())]);
        assert_eq!(
            template("x={{a}} {{ b }}\ny={{a}}{{a}}\n")
                .render(&values)
                .unwrap(),
            "x=1 two\ny=11\n"
        );
        let err = template("ok\n#SBATCH --x={{c}}\n")
            .render(&values)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t.sbatch:2") && err.contains("{{c}}") && err.contains("a, b"),
            "{err}"
        );
        let err = template("{{a\n").render(&values).unwrap_err().to_string();
        assert!(err.contains("t.sbatch:1"), "{err}");
    }

    #[test]
    fn built_in_templates_are_used_when_the_folder_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let t = Template::load(dir.path(), "eval").unwrap();
        assert!(t.text.contains("eval blimp"));
        let t = Template::load(dir.path(), "glue").unwrap();
        assert!(t.text.contains("eval glue") && t.text.contains("{{glue_task}}"));
        fs_err::write(dir.path().join("eval.sbatch"), "#!/bin/bash\nmine\n").unwrap();
        assert_eq!(
            Template::load(dir.path(), "eval").unwrap().text,
            "#!/bin/bash\nmine\n"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("output/models/a_b-1"), "output/models/a_b-1");
        assert_eq!(shell_quote("my dir"), "'my dir'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
