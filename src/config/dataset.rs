//! Dataset names: a dataset is a folder directly under `data_dir`, so its name is one path
//! component of letters, digits, `_`, `-` and `.` that does not start with a dot (no `..`, no `/`).

use std::fmt;

/// Whether `name` is one plain folder name: letters, digits, `_`, `-` and `.`, not starting with
/// a dot (so never `..`, an absolute path or a path of several parts). Names from outside —
/// flags, checkpoint metadata, a server's answers — must be one before they become paths.
pub fn is_folder_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A valid dataset name (see the module).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DatasetName(String);

impl DatasetName {
    /// Validates `name`.
    pub fn parse(name: &str) -> Result<DatasetName, String> {
        match is_folder_name(name) {
            true => Ok(DatasetName(name.to_owned())),
            false => Err(format!(
                "dataset name {name:?} must be a folder name of letters, digits, `_`, `-`, `.` \
                 (not starting with `.`): datasets live directly under data_dir"
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for DatasetName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        DatasetName::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_folder_names() {
        for ok in ["tinystories", "babylm10m", "hybrid_3.7B", "web-mix"] {
            assert_eq!(DatasetName::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "..", "../evil", "a/b", ".hidden", "/abs", "a b", "x\\y"] {
            assert!(DatasetName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
