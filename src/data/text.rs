//! What the cleaned text and the tokenizer share: the document markers, the special tokens, and
//! reading a cleaned file as UTF-8 in line-aligned chunks.

use std::borrow::Cow;
use std::path::Path;

use anyhow::{anyhow, Result};

/// Beginning- and end-of-document markers (the tokenizer's ids 1 and 2).
pub const BOS: &str = "<s>";
/// End-of-document marker.
pub const EOS: &str = "</s>";
/// Special tokens in id order.
pub const SPECIAL_TOKENS: [&str; 3] = ["<pad>", BOS, EOS];
/// `bytes` of the cleaned file `path` as text, or an error naming the first invalid byte.
pub fn utf8<'b>(bytes: &'b [u8], path: &Path) -> Result<&'b str> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        anyhow!(
            "{}: invalid UTF-8 at byte {at} (line {line}); re-run `lmeff data clean`",
            path.display()
        )
    })
}

/// `text` as Python's text mode reads it: `\r\n` and lone `\r` become `\n`.
pub fn universal_newlines(text: &str) -> Cow<'_, str> {
    if !text.contains('\r') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
}

/// `text` cut into pieces of about `size` bytes, each ending at a line end (or the text's end).
pub fn line_chunks(text: &str, size: usize) -> Vec<&str> {
    let mut chunks = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let cut = if rest.len() <= size {
            rest.len()
        } else {
            rest.as_bytes()[size..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |i| size + i + 1)
        };
        chunks.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_read_as_python_reads_text() {
        assert_eq!(universal_newlines("a\r\nb\rc\n"), "a\nb\nc\n");
        assert!(matches!(universal_newlines("a\nb"), Cow::Borrowed(_)));
    }

    #[test]
    fn line_chunks_cut_at_line_ends_and_cover_the_text() {
        let text = "aaa\nbb\n\ncccccc\nd";
        for size in [1, 2, 4, 7, 100] {
            let chunks = line_chunks(text, size);
            assert_eq!(chunks.concat(), text, "size {size}");
            for c in &chunks[..chunks.len() - 1] {
                assert!(c.ends_with('\n'), "{c:?} at size {size}");
            }
        }
        assert_eq!(line_chunks(text, 4), ["aaa\nbb\n", "\ncccccc\n", "d"]);
        assert!(line_chunks("", 4).is_empty());
    }
}
