//! Array task sets: the plan's task indices an array job covers, in Slurm's `--array` syntax
//! (`0-3,7,9-11`), and back from what `scontrol` prints (`0-3%2`, `4,6-8`, `0-15:5`).

use std::fmt;

use anyhow::{bail, Context, Result};

/// A sorted set of array task indices (= task indices of the plan).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskSet(Vec<usize>);

impl TaskSet {
    /// The set of these indices (sorted, duplicates dropped).
    pub fn new(mut indices: Vec<usize>) -> TaskSet {
        indices.sort_unstable();
        indices.dedup();
        TaskSet(indices)
    }

    /// Parses Slurm's array syntax; a `%N` throttle suffix is ignored.
    pub fn parse(spec: &str) -> Result<TaskSet> {
        let body = spec.split('%').next().unwrap_or("");
        let mut out = Vec::new();
        for part in body.split(',').filter(|p| !p.is_empty()) {
            let num = |s: &str| {
                s.trim()
                    .parse::<usize>()
                    .with_context(|| format!("array spec {spec:?}: {s:?} is not an index"))
            };
            let (range, step) = match part.split_once(':') {
                Some((r, s)) => (r, num(s)?),
                None => (part, 1),
            };
            if step == 0 {
                bail!("array spec {spec:?}: step 0");
            }
            match range.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (num(a)?, num(b)?);
                    if a > b {
                        bail!("array spec {spec:?}: range {a}-{b} runs backwards");
                    }
                    out.extend((a..=b).step_by(step));
                }
                None => out.push(num(range)?),
            }
        }
        Ok(TaskSet::new(out))
    }

    /// The indices, ascending.
    pub fn indices(&self) -> &[usize] {
        &self.0
    }

    pub fn contains(&self, index: usize) -> bool {
        self.0.binary_search(&index).is_ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `--array` value, with `%throttle` when it is positive.
    pub fn spec(&self, throttle: u32) -> String {
        if throttle > 0 {
            format!("{self}%{throttle}")
        } else {
            self.to_string()
        }
    }
}

impl serde::Serialize for TaskSet {
    /// As its `--array` text (`0-3,7`).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for TaskSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        TaskSet::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for TaskSet {
    /// Consecutive runs compressed: `0-3,7,9-11`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut i = 0;
        let mut first = true;
        while i < self.0.len() {
            let start = self.0[i];
            let mut end = start;
            while i + 1 < self.0.len() && self.0[i + 1] == end + 1 {
                i += 1;
                end = self.0[i];
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if end > start {
                write!(f, "{start}-{end}")?;
            } else {
                write!(f, "{start}")?;
            }
            i += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compresses_and_parses_back() {
        let s = TaskSet::new(vec![9, 0, 1, 2, 3, 7, 10, 11, 3]);
        assert_eq!(s.to_string(), "0-3,7,9-11");
        assert_eq!(s.spec(4), "0-3,7,9-11%4");
        assert_eq!(TaskSet::parse(&s.spec(4)).unwrap(), s);
        assert_eq!(TaskSet::parse("0-15:5").unwrap().indices(), [0, 5, 10, 15]);
        assert_eq!(TaskSet::parse("5").unwrap().indices(), [5]);
        assert!(TaskSet::parse("3-1").is_err());
        assert!(TaskSet::parse("a").is_err());
        assert!(s.contains(7) && !s.contains(8));
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"0-3,7,9-11\"");
        assert_eq!(
            serde_json::from_str::<TaskSet>("\"0-3,7,9-11\"").unwrap(),
            s
        );
    }
}
