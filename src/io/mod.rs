//! File-system helpers every stage uses so that nothing is ever half-written: atomic file writes
//! (temp file + rename), staged folders replaced in one rename, and SHA-256 digests; and the
//! [`tensorboard`] event files runs and evaluations append to.

use fs_err::{self as fs, File};
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

mod staged;
mod temp;
pub mod tensorboard;

pub use staged::{check_replaceable, Staged};
pub use temp::{is_temp_name, temp_sibling};

/// Writes a file atomically: `write` fills a temp file that is synced and renamed over `path`.
/// On error the temp file is removed and `path` is untouched; a bare I/O error gets the path as
/// context, other errors (input faults found by `write`) are returned as they are.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = temp_sibling(path, "write");
    let result = (|| {
        let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        write(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))
    })();
    match result {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            // A bare I/O error is the write's own; anything else (bad input found while
            // writing) already says what was wrong and where.
            match e.downcast_ref::<std::io::Error>() {
                Some(_) => Err(e.context(format!("writing {}", path.display()))),
                None => Err(e),
            }
        }
    }
}

/// Writes bytes atomically.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| Ok(w.write_all(bytes)?))
}

/// Writes pretty JSON atomically.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value)?;
        Ok(w.write_all(b"\n")?)
    })
}

/// Rows of cells as an aligned text table (columns two spaces apart, widths in characters, no
/// trailing spaces), the header first.
pub fn aligned_table<'a>(header: &[&str], rows: impl IntoIterator<Item = Vec<&'a str>>) -> String {
    use std::io::Write as _;
    let mut tw = tabwriter::TabWriter::new(Vec::new()).minwidth(0).padding(2);
    let mut line = |cells: &[&str]| {
        let _ = writeln!(tw, "{}", cells.join("\t"));
    };
    line(header);
    for row in rows {
        line(&row);
    }
    let bytes = tw.into_inner().expect("writing to memory cannot fail");
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(|l| l.trim_end().to_owned() + "\n")
        .collect()
}

/// Hex SHA-256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Hex SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_leaves_old_file_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_bytes_atomic(&path, b"first").unwrap();
        let err = write_atomic(&path, |w| {
            w.write_all(b"partial")?;
            anyhow::bail!("input.txt: line 3: boom")
        });
        assert_eq!(format!("{:#}", err.unwrap_err()), "input.txt: line 3: boom");
        assert_eq!(fs::read(&path).unwrap(), b"first");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file left behind"
        );
    }

    #[test]
    fn tables_align_on_characters() {
        let t = aligned_table(
            &["#", "name", "x"],
            [vec!["1", "größe", ""], vec!["10", "ab", "z"]],
        );
        assert_eq!(t, "#   name   x\n1   größe\n10  ab     z\n");
    }

    #[test]
    fn sha256_known_value() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, b"abc").unwrap();
        assert_eq!(sha256_file(&p).unwrap(), sha256_hex(b"abc"));
    }
}
