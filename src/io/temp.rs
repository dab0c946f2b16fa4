//! The names of temporary files and folders: beside their target (so a rename is atomic) and
//! recognisable, so a crash's leftovers can be told from a user's files.

use std::path::{Path, PathBuf};

/// A temporary sibling path of `path` (same folder, so `rename` is atomic).
pub fn temp_sibling(path: &Path, tag: &str) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{tag}-{}.tmp", std::process::id()))
}

/// Whether `name` is one of [`temp_sibling`]'s names (`.<name>.<tag>-<pid>.tmp`).
pub fn is_temp_name(name: &str) -> bool {
    let Some(inner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
        return false;
    };
    let Some((rest, pid)) = inner.rsplit_once('-') else {
        return false;
    };
    let tag = rest.rsplit_once('.').map(|(_, tag)| tag);
    !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && tag.is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised() {
        let t = temp_sibling(Path::new("run/resume"), "stage");
        assert!(is_temp_name(&t.file_name().unwrap().to_string_lossy()));
        assert!(is_temp_name(".metrics.jsonl.write-12.tmp"));
        for other in [
            "resume",
            ".resume.stage-.tmp",
            "a.stage-1.tmp",
            ".x.tmp",
            ".hidden",
        ] {
            assert!(!is_temp_name(other), "{other}");
        }
    }
}
