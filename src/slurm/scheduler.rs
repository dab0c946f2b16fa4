//! Talking to Slurm: `sbatch --parsable` to submit, `scancel`, and `scontrol -o show job` to read
//! job and array-task states (no accounting database needed). [`Scheduler`] is a trait so the
//! chaining logic is tested without a cluster.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::array::TaskSet;

/// How to submit one script.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubmitOptions {
    /// `--dependency=…` (with `--kill-on-invalid-dep=yes`, so a task whose dependency can never
    /// be met is cancelled instead of pending forever).
    pub dependency: Option<String>,
    /// `--array=…`, overriding the script's own.
    pub array: Option<String>,
    /// `--hold`: submit held (release with `scontrol release`).
    pub hold: bool,
}

/// One job or array task as `scontrol` reports it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobRecord {
    pub job_id: String,
    /// The array's job id; `None` for a job that is not an array task.
    pub array_job_id: Option<String>,
    /// The array task ids this record stands for (one, or a range for tasks still pending together).
    pub tasks: TaskSet,
    /// `JobState`, e.g. `PENDING`, `RUNNING`, `COMPLETED`, `FAILED`.
    pub state: String,
    /// `Reason`, e.g. `Dependency`, `DependencyNeverSatisfied`, `JobHeldUser`.
    pub reason: String,
    /// How often Slurm requeued it.
    pub restarts: u32,
    /// `ExitCode` (`code:signal`).
    pub exit_code: String,
}

/// What lmeff needs from a batch scheduler.
pub trait Scheduler {
    /// Submits a script; returns the job id.
    fn submit(&self, script: &Path, opts: &SubmitOptions) -> Result<String>;
    /// Asks whether a script would be accepted (`sbatch --test-only`); returns Slurm's answer.
    fn test_only(&self, script: &Path) -> Result<String>;
    /// Cancels jobs.
    fn cancel(&self, job_ids: &[String]) -> Result<()>;
    /// Records of these jobs (an array job gives one per task); `None` when no scheduler answers.
    fn jobs(&self, job_ids: &[String]) -> Result<Option<Vec<JobRecord>>>;
}

/// The Slurm command-line tools on `PATH`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Slurm;

impl Slurm {
    /// Whether `sbatch` can be started here.
    pub fn available() -> bool {
        Command::new("sbatch")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

fn output(cmd: &mut Command) -> Result<std::process::Output> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.output()
        .with_context(|| format!("running {program} (is Slurm installed and on PATH?)"))
}

impl Scheduler for Slurm {
    fn submit(&self, script: &Path, opts: &SubmitOptions) -> Result<String> {
        let mut cmd = Command::new("sbatch");
        cmd.arg("--parsable");
        if let Some(dep) = &opts.dependency {
            cmd.arg(format!("--dependency={dep}"))
                .arg("--kill-on-invalid-dep=yes");
        }
        if let Some(array) = &opts.array {
            cmd.arg(format!("--array={array}"));
        }
        if opts.hold {
            cmd.arg("--hold");
        }
        let out = output(cmd.arg(script))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "sbatch {} failed: {}",
                script.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        parse_parsable(&stdout)
            .with_context(|| format!("sbatch {}: unexpected answer {stdout:?}", script.display()))
    }

    fn test_only(&self, script: &Path) -> Result<String> {
        let out = output(Command::new("sbatch").arg("--test-only").arg(script))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            bail!("sbatch --test-only {}: {}", script.display(), text.trim());
        }
        Ok(text.trim().to_owned())
    }

    fn cancel(&self, job_ids: &[String]) -> Result<()> {
        if job_ids.is_empty() {
            return Ok(());
        }
        let out = output(Command::new("scancel").args(job_ids))?;
        if !out.status.success() {
            bail!(
                "scancel {}: {}",
                job_ids.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    fn jobs(&self, job_ids: &[String]) -> Result<Option<Vec<JobRecord>>> {
        let mut records = Vec::new();
        for id in job_ids {
            let out = match Command::new("scontrol")
                .args(["-o", "show", "job", id])
                .output()
            {
                Ok(o) => o,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e).context("running scontrol"),
            };
            let stderr = String::from_utf8_lossy(&out.stderr);
            if out.status.success() {
                records.extend(parse_scontrol(&String::from_utf8_lossy(&out.stdout))?);
            } else if stderr.contains("Invalid job id") {
                // Ended longer ago than the cluster's MinJobAge: only the runs' records remain.
            } else if stderr.contains("Unable to contact") || stderr.contains("Could not establish")
            {
                return Ok(None);
            } else {
                bail!("scontrol show job {id}: {}", stderr.trim());
            }
        }
        Ok(Some(records))
    }
}

/// The job id of `sbatch --parsable` output (`123` or `123;cluster`).
pub fn parse_parsable(stdout: &str) -> Result<String> {
    let id = stdout.trim().split(';').next().unwrap_or("").trim();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("no job id");
    }
    Ok(id.to_owned())
}

/// Parses `scontrol -o show job` output: one line per job or array task, `Key=Value` words.
pub fn parse_scontrol(text: &str) -> Result<Vec<JobRecord>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields: Vec<(&str, String)> = Vec::new();
        for word in line.split_whitespace() {
            match word.split_once('=') {
                Some((k, v))
                    if !k.is_empty()
                        && k.chars().all(|c| {
                            c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '/'
                        }) =>
                {
                    fields.push((k, v.to_owned()))
                }
                // A value with spaces (a job name, a reason): glue the word back on.
                _ => {
                    if let Some(last) = fields.last_mut() {
                        last.1.push(' ');
                        last.1.push_str(word);
                    }
                }
            }
        }
        let get = |k: &str| {
            fields
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.clone())
        };
        let Some(job_id) = get("JobId") else {
            bail!("scontrol output without JobId: {line:?}");
        };
        let tasks = match get("ArrayTaskId") {
            Some(t) => TaskSet::parse(&t)?,
            None => TaskSet::default(),
        };
        out.push(JobRecord {
            job_id,
            array_job_id: get("ArrayJobId"),
            tasks,
            state: get("JobState").unwrap_or_default(),
            reason: get("Reason").unwrap_or_default(),
            restarts: get("Restarts").and_then(|r| r.parse().ok()).unwrap_or(0),
            exit_code: get("ExitCode").unwrap_or_default(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_scontrol_prints() {
        let text = "JobId=14 ArrayJobId=13 ArrayTaskId=0 JobName=lmeff-train-0 UserId=root(0) JobState=PENDING Reason=BeginTime Dependency=(null) Requeue=1 Restarts=1 BatchFlag=1 ExitCode=0:0\n\
JobId=13 ArrayJobId=13 ArrayTaskId=1 JobName=my job JobState=COMPLETED Reason=None Restarts=0 ExitCode=0:0\n\
JobId=20 ArrayJobId=20 ArrayTaskId=2-5%2 JobState=PENDING Reason=Dependency Restarts=0 ExitCode=0:0\n\
JobId=30 JobName=lmeff-aggregate JobState=FAILED Reason=NonZeroExitCode Restarts=0 ExitCode=1:0\n";
        let r = parse_scontrol(text).unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(
            (
                r[0].job_id.as_str(),
                r[0].array_job_id.as_deref(),
                r[0].restarts
            ),
            ("14", Some("13"), 1)
        );
        assert_eq!(r[0].tasks.indices(), [0]);
        assert_eq!(r[1].state, "COMPLETED");
        assert_eq!(r[2].tasks.indices(), [2, 3, 4, 5]);
        assert_eq!(
            (r[3].array_job_id.clone(), r[3].exit_code.as_str()),
            (None, "1:0")
        );
        assert!(parse_scontrol("Foo=1\n").is_err());
    }

    #[test]
    fn parsable_job_ids() {
        assert_eq!(parse_parsable("123\n").unwrap(), "123");
        assert_eq!(parse_parsable("77;cluster\n").unwrap(), "77");
        assert!(parse_parsable("sbatch: error").is_err());
    }
}
