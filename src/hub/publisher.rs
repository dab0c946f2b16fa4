//! Pushing checkpoints while a run trains (`[train] milestone_store = "hf"`): the trainer hands
//! each finished checkpoint folder to [`Publisher::offer`] and goes on; a thread of its own pushes
//! them in order, trying each again after a failure (10 s, 1 min, 5 min, then it moves on). A push
//! never stops or slows training. At the run's end the trainer waits at most
//! `train.push_wait` seconds for the queue; whatever is still not on the Hub then is listed by
//! `lmeff status` and pushed by `lmeff push --run DIR`. A resumed run first pushes what its
//! earlier attempts saved but did not push.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use tracing::{info, warn};

use super::client::Hub;
use super::credentials::Credentials;
use super::push::{item, push, read_pushed, unpushed, PUSHED_FILE};
use crate::io::write_json_atomic;
use anyhow::Result;

/// Waits between tries of one checkpoint.
const BACKOFF: [u64; 3] = [10, 60, 300];

/// The background pusher of one run.
pub struct Publisher {
    queue: Option<mpsc::Sender<PathBuf>>,
    done: mpsc::Receiver<()>,
    run: PathBuf,
}

impl Publisher {
    /// Starts the pusher of the run folder `run`; its (empty) `hub_push.json` tells `lmeff status`
    /// that the run publishes.
    pub fn start(run: &Path, creds: Credentials, public: bool) -> Result<Publisher> {
        let record = run.join(PUSHED_FILE);
        if !record.is_file() {
            write_json_atomic(&record, &read_pushed(run)?)?;
        }
        let (queue, inbox) = mpsc::channel::<PathBuf>();
        let (finished, done) = mpsc::channel();
        let folder = run.to_owned();
        std::thread::Builder::new()
            .name("hub-publisher".into())
            .spawn(move || {
                publish(&folder, creds, public, inbox);
                let _ = finished.send(());
            })
            .expect("spawning the hub publisher thread");
        Ok(Publisher {
            queue: Some(queue),
            done,
            run: run.to_owned(),
        })
    }

    /// Queues a finished checkpoint folder.
    pub fn offer(&self, checkpoint: &Path) {
        if let Some(q) = &self.queue {
            let _ = q.send(checkpoint.to_owned());
        }
    }

    /// Closes the queue and waits at most `wait` for the pushes still under way.
    pub fn finish(mut self, wait: Duration) {
        self.queue = None;
        if self.done.recv_timeout(wait).is_err() {
            warn!(
                "checkpoints are still being pushed after {}s (train.push_wait); `lmeff push --run {}` pushes what is left",
                wait.as_secs(),
                self.run.display()
            );
        }
    }
}

fn publish(run: &Path, creds: Credentials, public: bool, inbox: mpsc::Receiver<PathBuf>) {
    let hub = match Hub::connect(creds) {
        Ok(h) => h,
        Err(e) => return warn!("pushing to the Hub is off for this run: {e:#}"),
    };
    let namespace = match hub.namespace() {
        Ok(ns) => ns,
        Err(e) => return warn!("pushing to the Hub is off for this run: {e:#}"),
    };
    let earlier: Vec<PathBuf> = unpushed(run)
        .unwrap_or_default()
        .into_iter()
        .map(|f| run.join(f))
        .collect();
    for dir in earlier.into_iter().chain(inbox) {
        for (attempt, wait) in BACKOFF.iter().map(Some).chain([None]).enumerate() {
            let pushed = read_pushed(run)
                .and_then(|p| item(&dir, &namespace, &p))
                .and_then(|it| {
                    if it.pushed {
                        return Ok(format!("{}@{} (already there)", it.repo, it.branch));
                    }
                    push(&hub, run, &it, public).map(|e| format!("{}@{}", e.repo, e.branch))
                });
            match (pushed, wait) {
                (Ok(to), _) => {
                    info!("pushed {} to {to}", dir.display());
                    break;
                }
                (Err(e), Some(w)) => {
                    warn!(
                        "pushing {} (try {}): {e:#}; again in {w}s",
                        dir.display(),
                        attempt + 1
                    );
                    std::thread::sleep(Duration::from_secs(*w));
                }
                (Err(e), None) => {
                    warn!("giving up pushing {} for now: {e:#}", dir.display());
                }
            }
        }
    }
}
