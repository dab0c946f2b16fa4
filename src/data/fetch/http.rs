//! The HTTP side of a fetch: sizes asked for up front (`HEAD`), downloads with retries and resume
//! (`Range`), gzip-compressed transfers counted as the bytes that crossed the wire, and the file
//! name a server gives in `Content-Disposition` (OSF links carry none in the URL).

use fs_err::OpenOptions;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use tracing::warn;

use crate::progress::byte_bar;

/// Attempts per file before giving up.
const MAX_ATTEMPTS: u32 = 6;

/// The agent every request of a fetch goes through (redirects followed, as OSF needs; a token
/// follows a redirect only to the same host).
pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(15))
        .timeout_read(Duration::from_secs(120))
        .redirect_auth_headers(ureq::RedirectAuthHeaders::SameHost)
        .build()
}

/// The size `url` will take to download (`None` when the server does not say). A host that
/// cannot be reached, or a file it does not have, is an error at once: no retries, since a
/// machine without network would otherwise wait minutes for nothing.
pub fn size(agent: &ureq::Agent, url: &str) -> Result<Option<u64>> {
    match agent.head(url).set("Accept-Encoding", "gzip").call() {
        Ok(resp) => Ok(resp
            .header("Content-Length")
            .and_then(|v| v.parse::<u64>().ok())),
        Err(ureq::Error::Status(code @ (404 | 410), r)) => {
            bail!("{url}: HTTP {code} {}", r.status_text())
        }
        Err(ureq::Error::Status(..)) => Ok(None),
        Err(ureq::Error::Transport(t)) => {
            bail!("cannot reach {}: {t}; nothing was downloaded", host_of(url))
        }
    }
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// What one download brought.
#[derive(Debug, Clone, Default)]
pub struct Got {
    /// Bytes that crossed the wire (compressed when the server compressed).
    pub wire_bytes: u64,
    /// The file name the server gave in `Content-Disposition`.
    pub name: Option<String>,
}

/// Downloads `url` into `part`, resuming what `part` already holds; retries transient failures
/// with doubling delays from `retry_delay`; `auth` is sent as the `Authorization` header. A failure
/// says whether a partial file was kept.
pub fn download(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    retry_delay: Duration,
    auth: Option<&str>,
) -> Result<Got> {
    let mut delay = retry_delay;
    let mut got = Got::default();
    let mut last_error = String::new();
    for attempt in 1..=MAX_ATTEMPTS {
        if attempt > 1 {
            warn!("{url}: attempt {attempt}/{MAX_ATTEMPTS} after: {last_error}");
            std::thread::sleep(delay);
            delay *= 2;
        }
        match try_once(agent, url, part, auth, &mut got) {
            Ok(()) => return Ok(got),
            Err(Attempt::Fatal(e)) => return Err(e),
            Err(Attempt::Retry(e)) => last_error = format!("{e:#}"),
        }
    }
    let kept = match part.metadata().map(|m| m.len()) {
        Ok(n) if n > 0 => format!(
            "the partial file {} ({n} bytes) is kept, and the next run resumes it",
            part.display()
        ),
        _ => {
            let _ = fs_err::remove_file(part);
            "nothing was downloaded".to_owned()
        }
    };
    bail!("{url}: giving up after {MAX_ATTEMPTS} attempts: {last_error} ({kept})");
}

enum Attempt {
    Retry(anyhow::Error),
    Fatal(anyhow::Error),
}

/// One request. A fresh download asks for gzip (BLiMP's JSON lines shrink tenfold) and decodes
/// it; a resumed one asks for the plain bytes after those `part` holds, which are the same bytes
/// whether the first attempt came compressed or not.
fn try_once(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    auth: Option<&str>,
    got: &mut Got,
) -> std::result::Result<(), Attempt> {
    let have = part.metadata().map(|m| m.len()).unwrap_or(0);
    let mut req = if have > 0 {
        agent.get(url).set("Range", &format!("bytes={have}-"))
    } else {
        agent.get(url).set("Accept-Encoding", "gzip")
    };
    if let Some(a) = auth {
        req = req.set("Authorization", a);
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(416, _)) if have > 0 => return Ok(()), // already complete
        Err(ureq::Error::Status(code, _)) if code == 429 || code >= 500 => {
            return Err(Attempt::Retry(anyhow!("HTTP {code}")))
        }
        Err(ureq::Error::Status(code, r)) => {
            return Err(Attempt::Fatal(anyhow!(
                "{url}: HTTP {code} {}",
                r.status_text()
            )))
        }
        Err(e) => return Err(Attempt::Retry(anyhow!(e))),
    };
    if let Some(name) = resp
        .header("Content-Disposition")
        .and_then(disposition_name)
    {
        got.name = Some(name);
    }
    let resumed = resp.status() == 206;
    let gzip = match resp.header("Content-Encoding").map(str::trim) {
        None | Some("identity") => false,
        Some(e) if e.eq_ignore_ascii_case("gzip") && !resumed => true,
        Some(e) => {
            return Err(Attempt::Fatal(anyhow!(
                "{url}: the server sent content encoded as `{e}`, which lmeff does not decode"
            )))
        }
    };
    let wire_total = resp
        .header("Content-Length")
        .and_then(|v| v.parse::<u64>().ok());
    let io = |e: std::io::Error| Attempt::Retry(anyhow!(e));
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(part)
        .map_err(|e| Attempt::Fatal(anyhow!("opening {}: {e}", part.display())))?;
    let bar = byte_bar(
        wire_total.unwrap_or(0),
        url.rsplit('/').next().unwrap_or(url),
    );
    let counted = Counted {
        inner: resp.into_reader(),
        bytes: 0,
        bar: bar.clone(),
    };
    let mut reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(counted))
    } else {
        Box::new(counted)
    };
    let mut buf = vec![0u8; 1 << 16];
    let result = loop {
        match reader.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                if let Err(e) = file.write_all(&buf[..n]) {
                    break Err(io(e));
                }
            }
            Err(e) => break Err(io(e)),
        }
    };
    let wire = bar.position();
    got.wire_bytes += wire;
    bar.finish_and_clear();
    file.sync_all().map_err(io)?;
    result?;
    match wire_total {
        Some(t) if wire != t => Err(Attempt::Retry(anyhow!(
            "transfer ended at byte {wire} of {t}"
        ))),
        _ => Ok(()),
    }
}

/// A reader that counts the bytes read through it on a progress bar.
struct Counted<R> {
    inner: R,
    bytes: u64,
    bar: indicatif::ProgressBar,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        self.bar.set_position(self.bytes);
        Ok(n)
    }
}

/// The file name of a `Content-Disposition` header (`filename*=UTF-8''…` preferred over
/// `filename="…"`); `None` when absent or not a plain file name.
pub fn disposition_name(header: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for param in header.split(';').map(str::trim) {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "filename*" => {
                let encoded = value.trim().rsplit('\'').next().unwrap_or("");
                extended = percent_decode(encoded);
            }
            "filename" => plain = Some(value.trim().trim_matches('"').to_owned()),
            _ => {}
        }
    }
    extended
        .or(plain)
        .filter(|n| !n.is_empty() && n != "." && n != ".." && !n.contains(['/', '\\', '\0']))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_content_disposition() {
        let osf = "attachment; filename=\"train_10M.zip\"; filename*=UTF-8''train_10M.zip";
        assert_eq!(disposition_name(osf).as_deref(), Some("train_10M.zip"));
        let hf = "inline; filename*=UTF-8''TinyStories%20V2.txt; filename=\"TinyStories V2.txt\";";
        assert_eq!(disposition_name(hf).as_deref(), Some("TinyStories V2.txt"));
        assert_eq!(
            disposition_name("attachment; filename=dev.zip").as_deref(),
            Some("dev.zip")
        );
        assert_eq!(disposition_name("attachment"), None);
        assert_eq!(disposition_name("attachment; filename=\"../x\""), None);
        assert_eq!(disposition_name("attachment; filename*=UTF-8''a%2Fb"), None);
    }

    /// A port nobody listens on.
    fn dead_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    #[test]
    fn an_unreachable_host_fails_at_once_and_is_named() {
        let port = dead_port();
        let err = size(&agent(), &format!("http://127.0.0.1:{port}/f.txt")).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains(&format!("cannot reach 127.0.0.1:{port}")),
            "{msg}"
        );
        assert!(msg.contains("nothing was downloaded"), "{msg}");
    }

    #[test]
    fn a_failed_download_says_whether_anything_was_kept() {
        let port = dead_port();
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join(".f.txt.part");
        let url = format!("http://127.0.0.1:{port}/f.txt");
        let err = format!(
            "{:#}",
            download(&agent(), &url, &part, Duration::from_millis(1), None).unwrap_err()
        );
        assert!(err.contains("nothing was downloaded"), "{err}");
        assert!(!err.contains(".part"), "{err}");
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 0);
    }
}
