//! TensorBoard event files (`events.out.tfevents.<time>.<host>.<pid>.<role>`): TFRecord frames
//! (length, masked CRC-32C of the length, a protobuf `Event`, its masked CRC-32C) of scalar
//! summaries, as TensorFlow's `SummaryWriter` writes them. A process writes its own file into the
//! run's `tb/` folder; TensorBoard reads every file of a folder as one run, so a resumed run and its
//! evaluations land in the same run. A resumed run first writes a `SessionLog` START just past the
//! step it resumes from, which makes TensorBoard drop the events the interrupted process had
//! written beyond it. The x axis (`step`) is tokens seen, comparable across batch sizes.
//!
//! Written here rather than with the `tensorboard-rs` crate, which pins `image` 0.23 and
//! `protobuf` 2 (RUSTSEC-2024-0437); the two messages are derived with `prost`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use fs_err::File;

/// `tensorflow.Event` (the fields used).
#[derive(Clone, PartialEq, prost::Message)]
struct Event {
    #[prost(double, tag = "1")]
    wall_time: f64,
    #[prost(int64, tag = "2")]
    step: i64,
    #[prost(string, optional, tag = "3")]
    file_version: Option<String>,
    #[prost(message, optional, tag = "5")]
    summary: Option<Summary>,
    #[prost(message, optional, tag = "6")]
    session_log: Option<SessionLog>,
}

/// `tensorflow.Summary`.
#[derive(Clone, PartialEq, prost::Message)]
struct Summary {
    #[prost(message, repeated, tag = "1")]
    value: Vec<SummaryValue>,
}

/// `tensorflow.Summary.Value` with a `simple_value`.
#[derive(Clone, PartialEq, prost::Message)]
struct SummaryValue {
    #[prost(string, tag = "1")]
    tag: String,
    #[prost(float, optional, tag = "2")]
    simple_value: Option<f32>,
}

/// `tensorflow.SessionLog`; status 1 is START.
#[derive(Clone, PartialEq, prost::Message)]
struct SessionLog {
    #[prost(int32, tag = "1")]
    status: i32,
}

/// TensorFlow's masked CRC-32C.
fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One event file of a run's `tb/` folder.
pub struct EventWriter {
    path: PathBuf,
    file: File,
}

impl EventWriter {
    /// A new event file in `dir` (created) for this process; `role` ends its name (`train`,
    /// `eval`). It starts with the file-version event.
    pub fn create(dir: &Path, role: &str) -> Result<EventWriter> {
        fs_err::create_dir_all(dir)?;
        let now = wall_time();
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into());
        let host: String = host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let name = format!(
            "events.out.tfevents.{}.{host}.{}.{role}",
            now as u64,
            std::process::id()
        );
        let path = dir.join(name);
        let file = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let mut w = EventWriter { path, file };
        w.write(&Event {
            wall_time: now,
            file_version: Some("brain.Event:2".into()),
            ..Default::default()
        })?;
        Ok(w)
    }

    /// Scalars at `step` (tokens seen): `(tag, value)`; non-finite values are left out.
    pub fn scalars(&mut self, step: u64, values: &[(&str, f64)]) -> Result<()> {
        let value: Vec<SummaryValue> = values
            .iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(tag, v)| SummaryValue {
                tag: (*tag).to_owned(),
                simple_value: Some(*v as f32),
            })
            .collect();
        if value.is_empty() {
            return Ok(());
        }
        self.write(&Event {
            wall_time: wall_time(),
            step: step as i64,
            summary: Some(Summary { value }),
            ..Default::default()
        })
    }

    /// A session (re)start at `step`: TensorBoard drops what earlier files logged from it on.
    pub fn restart(&mut self, step: u64) -> Result<()> {
        self.write(&Event {
            wall_time: wall_time(),
            step: step as i64,
            session_log: Some(SessionLog { status: 1 }),
            ..Default::default()
        })
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&mut self, event: &Event) -> Result<()> {
        let data = prost::Message::encode_to_vec(event);
        let len = (data.len() as u64).to_le_bytes();
        let mut frame = Vec::with_capacity(data.len() + 16);
        frame.extend_from_slice(&len);
        frame.extend_from_slice(&masked_crc(&len).to_le_bytes());
        frame.extend_from_slice(&data);
        frame.extend_from_slice(&masked_crc(&data).to_le_bytes());
        self.file
            .write_all(&frame)
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

fn wall_time() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the frames back, checking both CRCs.
    fn events(path: &Path) -> Vec<Event> {
        let bytes = fs_err::read(path).unwrap();
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let len = &bytes[at..at + 8];
            let n = u64::from_le_bytes(len.try_into().unwrap()) as usize;
            let crc = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
            assert_eq!(crc, masked_crc(len));
            let data = &bytes[at + 12..at + 12 + n];
            let crc = u32::from_le_bytes(bytes[at + 12 + n..at + 16 + n].try_into().unwrap());
            assert_eq!(crc, masked_crc(data));
            out.push(<Event as prost::Message>::decode(data).unwrap());
            at += 16 + n;
        }
        out
    }

    #[test]
    fn frames_carry_scalars_with_their_crcs() {
        // TensorFlow's masked CRC of an empty string and of "a" (crc32c 0 and 0xc1d04330).
        assert_eq!(masked_crc(b""), 0xa282_ead8);
        assert_eq!(
            masked_crc(b"a"),
            0xc1d0_4330u32.rotate_right(15).wrapping_add(0xa282_ead8)
        );
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(&dir.path().join("tb"), "train").unwrap();
        w.scalars(
            512,
            &[("train/loss", 6.5), ("train/lr", 1e-3), ("x", f64::NAN)],
        )
        .unwrap();
        w.restart(256).unwrap();
        w.scalars(1024, &[("eval/loss", f64::INFINITY)]).unwrap();
        let name = w.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("events.out.tfevents.") && name.ends_with(".train"));
        let ev = events(w.path());
        assert_eq!(
            ev.len(),
            3,
            "header, scalars, restart; nothing for a lone non-finite value"
        );
        assert_eq!(ev[0].file_version.as_deref(), Some("brain.Event:2"));
        let values = &ev[1].summary.as_ref().unwrap().value;
        assert_eq!(ev[1].step, 512);
        assert_eq!(values.len(), 2);
        assert_eq!(values[0].tag, "train/loss");
        assert_eq!(values[0].simple_value, Some(6.5));
        assert_eq!(ev[2].session_log.as_ref().unwrap().status, 1);
        assert_eq!(ev[2].step, 256);
    }
}
