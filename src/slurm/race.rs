//! A rung of a launch's race (`lmeff race --launch DIR --rung M`, the job `launch --race` submits
//! after the rung's evaluations): reads each running full run's BLiMP accuracy at the rung,
//! decides with [`crate::analysis::race::launched`], records the decision in `race.json` (launch
//! folder and results folder) and cancels every training, evaluation and rung task of the
//! configurations it stops, `scancel <job>_<index>`. A rung already decided is not decided again
//! (its cancellations are repeated, which is harmless).

use anyhow::{bail, Result};

use super::manifest::{utc_now, Manifest};
use super::scheduler::Scheduler;
use super::template::Stage;
use crate::analysis::race::launched::{decide, Elimination, RaceLog, RungDecision};
use crate::config::{Anchor, CheckpointLabel, Configuration, Millions, RaceSettings};
use crate::results::blimp;

/// What deciding a rung did.
#[derive(Debug)]
pub struct RungOutcome {
    pub decision: RungDecision,
    /// Whether this call decided it (false: it had been decided before).
    pub new: bool,
    /// The `<job>_<index>` tasks it asked Slurm to cancel.
    pub cancelled: Vec<String>,
    /// Why cancelling failed, when it did (the decision stands).
    pub cancel_error: Option<String>,
}

/// Decides `rung` of the launch `m` by `settings`, records it, and cancels the stopped
/// configurations' tasks through `scheduler`.
pub fn decide_rung(
    m: &Manifest,
    rung: Millions,
    settings: &RaceSettings,
    scheduler: &dyn Scheduler,
) -> Result<RungOutcome> {
    if !m.rungs().contains(&rung) {
        let known: Vec<String> = m.rungs().iter().map(|r| format!("{r}M")).collect();
        bail!(
            "{}: the launch has no race rung {rung}M (its rungs: {})",
            m.folder.display(),
            if known.is_empty() {
                "none; it was not launched with --race".to_owned()
            } else {
                known.join(", ")
            }
        );
    }
    let mut log = RaceLog::load(&m.folder)?.unwrap_or_else(|| RaceLog::new(settings));
    let (decision, new) = match log.at(rung) {
        Some(d) => (d.clone(), false),
        None => {
            let (running, values) = measured(m, &log, rung);
            let d = decide(rung, &running, &values, &log.settings, utc_now().1);
            log.rungs.push(d.clone());
            log.rungs.sort_by_key(|r| r.rung);
            log.save(&m.folder)?;
            let results = m.workdir.join(&m.results_dir);
            fs_err::create_dir_all(&results)?;
            log.save(&results)?;
            (d, true)
        }
    };
    let stopped: Vec<&Elimination> = decision
        .groups
        .iter()
        .flat_map(|g| g.eliminated.iter())
        .collect();
    let cancelled = tasks_of(m, &stopped);
    let cancel_error = scheduler.cancel(&cancelled).err().map(|e| format!("{e:#}"));
    Ok(RungOutcome {
        decision,
        new,
        cancelled,
        cancel_error,
    })
}

/// The full-run configurations still running at `rung`, and each of their seeds' BLiMP accuracy
/// there (runs without results are left out).
fn measured(
    m: &Manifest,
    log: &RaceLog,
    rung: Millions,
) -> (Vec<Configuration>, Vec<(Configuration, f64)>) {
    let folder = CheckpointLabel::Milestone(rung).to_string();
    let mut running: Vec<Configuration> = Vec::new();
    let mut values = Vec::new();
    for run in &m.runs {
        if run.key.anchor != Anchor::Full || log.elimination_of(&run.key).is_some() {
            continue;
        }
        let c = run.key.configuration();
        if !running.contains(&c) {
            running.push(c.clone());
        }
        let acc = run
            .result_key(&folder)
            .results_dir(&m.results_dir)
            .and_then(|d| blimp::overall_accuracy(&m.workdir.join(d)));
        if let Some(acc) = acc {
            values.push((c, acc));
        }
    }
    (running, values)
}

/// Every training, evaluation and rung task of the runs of the stopped configurations (every
/// seed and budget), as `<job>_<index>`.
fn tasks_of(m: &Manifest, stopped: &[&Elimination]) -> Vec<String> {
    let indices: Vec<usize> = m
        .runs
        .iter()
        .filter(|r| stopped.iter().any(|e| e.covers(&r.key)))
        .map(|r| r.task_index)
        .collect();
    let mut ids = Vec::new();
    for s in &m.submissions {
        if !matches!(s.stage, Stage::Train | Stage::Eval | Stage::Rung) {
            continue;
        }
        let Some(array) = &s.array else { continue };
        for &i in indices.iter().filter(|&&i| array.contains(i)) {
            ids.push(format!("{}_{i}", s.job_id));
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slurm::launch::tests::{options, settings};
    use crate::slurm::launch::{launch, LaunchOptions};
    use crate::slurm::render::tests::plan_and_settings;
    use crate::slurm::submit::tests::Fake;

    /// Writes a run's overall BLiMP accuracy at `rung` where `lmeff eval` would.
    fn result(m: &Manifest, task: usize, rung: Millions, acc: f64) {
        let run = m.run(task).unwrap();
        let folder = CheckpointLabel::Milestone(rung).to_string();
        let dir = m
            .workdir
            .join(run.result_key(&folder).results_dir(&m.results_dir).unwrap());
        fs_err::create_dir_all(&dir).unwrap();
        let json = serde_json::json!({"results": {"blimp": {"acc,none": acc}}});
        fs_err::write(dir.join("blimp_results.json"), json.to_string()).unwrap();
    }

    #[test]
    fn a_rung_stops_the_worse_configuration_and_cancels_its_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let (plan, _) = plan_and_settings();
        let mut s = settings(dir.path());
        s.results_dir = dir.path().join("results");
        s.race.min_anchor = 25.0;
        s.race.group_by = Vec::new();
        s.race.keep = 1;
        let opts = LaunchOptions {
            race: true,
            ..options(dir.path())
        };
        let fake = Fake::default();
        let l = launch(&plan, &s, &opts, &fake).unwrap();
        let m = l.manifest;
        let rung = Millions::new(25.0).unwrap();
        assert!(m.rungs().contains(&rung), "{:?}", m.rungs());
        // Two full-run configurations reach 25M: tinystories 20m and web 180m (babylm has
        // budget runs only); web is clearly worse.
        let full: Vec<(usize, String)> = m
            .runs
            .iter()
            .filter(|r| r.key.anchor == Anchor::Full)
            .map(|r| (r.task_index, r.key.dataset.clone()))
            .collect();
        for (task, dataset) in &full {
            let base = if dataset == "web" { 0.5 } else { 0.7 };
            result(&m, *task, rung, base + 0.01 * (*task % 2) as f64);
        }
        let out = decide_rung(&m, rung, &s.race, &fake).unwrap();
        assert!(out.new);
        let stopped: Vec<&Elimination> = out
            .decision
            .groups
            .iter()
            .flat_map(|g| &g.eliminated)
            .collect();
        assert_eq!(stopped.len(), 1, "{:?}", out.decision);
        assert_eq!(stopped[0].dataset, "web");
        // Every web run is cancelled in every train/eval/rung job, and no other.
        let web: Vec<usize> = m
            .runs
            .iter()
            .filter(|r| r.key.dataset == "web")
            .map(|r| r.task_index)
            .collect();
        assert_eq!(web.len(), 2);
        // Training, BLiMP and every rung's evaluation of both seeds (the web runs reach every
        // study milestone).
        let rungs = m.rungs().len();
        assert_eq!(rungs, 12);
        assert_eq!(out.cancelled.len(), 2 * (2 + rungs), "{:?}", out.cancelled);
        let train = m
            .submissions
            .iter()
            .find(|s| s.stage == Stage::Train && s.group == Some(1));
        let train = &train.unwrap().job_id;
        assert!(out.cancelled.contains(&format!("{train}_{}", web[0])));
        for i in &web {
            assert!(
                out.cancelled.iter().any(|c| c.ends_with(&format!("_{i}"))),
                "{i}: {:?}",
                out.cancelled
            );
        }
        assert_eq!(*fake.cancelled.borrow(), out.cancelled);
        let log = RaceLog::load(&m.folder).unwrap().unwrap();
        assert_eq!(log.rungs.len(), 1);
        assert_eq!(RaceLog::load(&s.results_dir).unwrap(), Some(log));
        // Deciding the rung again keeps the first decision.
        let again = decide_rung(&m, rung, &s.race, &fake).unwrap();
        assert!(!again.new);
        assert_eq!(again.decision.decided, out.decision.decided);
        assert_eq!(again.decision.groups.len(), out.decision.groups.len());
        let err = decide_rung(&m, Millions::new(26.0).unwrap(), &s.race, &fake).unwrap_err();
        assert!(format!("{err:#}").contains("no race rung 26M"), "{err:#}");
    }
}
