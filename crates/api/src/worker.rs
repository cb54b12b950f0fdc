//! The background worker of every instance (or of `postiqo-api worker`): on each pass it runs
//! the publish jobs that are due (the queue itself is `services::publishing::queue`), and now
//! and then finishes account deletions whose caller went away.

use chrono::Utc;
use tracing::{debug, info};

use crate::services::publishing::IdlePacing;
use crate::services::{AccountService, PublishService};

const BATCH: u32 = 25;

/// How often (in worker passes) to look for abandoned account deletions.
const DELETION_SWEEP_EVERY: u64 = 25;

#[derive(Clone)]
pub struct Worker {
    publish: PublishService,
    account: AccountService,
}

impl Worker {
    pub fn new(publish: PublishService, account: AccountService) -> Self {
        Self { publish, account }
    }

    /// Finishes account deletions whose caller went away before the end.
    pub async fn sweep_deletions(&self) {
        let after = self.publish.config().abandoned_deletion_after;
        let before =
            Utc::now() - chrono::Duration::from_std(after).unwrap_or(chrono::Duration::minutes(10));
        if let Err(e) = self.account.finish_abandoned_deletions(before).await {
            debug!(error = ?e, "could not list abandoned deletions");
        }
    }

    /// Runs until `stop` turns true. Passes come every interval while there is work, less
    /// often while there is none, and on time for every job this instance saved
    /// (`services::publishing::wake`).
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let cfg = self.publish.config();
        let mut pacing = IdlePacing::new(cfg.worker_interval, cfg.worker_idle_max);
        info!(instance = %self.publish.instance(), "publish worker started");
        let mut passes: u64 = 0;
        let mut pass_at = tokio::time::Instant::now() + cfg.worker_interval;
        loop {
            let hinted = self.hinted_deadline();
            let deadline = hinted.map_or(pass_at, |h| h.min(pass_at));
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    if hinted.is_some_and(|h| h <= pass_at) {
                        pacing.reset();
                    }
                    self.publish.wake_hints().covered_through(Utc::now());
                    let leased = self.tick().await;
                    passes += 1;
                    if passes.is_multiple_of(DELETION_SWEEP_EVERY) {
                        self.sweep_deletions().await;
                    }
                    pass_at = tokio::time::Instant::now() + pacing.after_pass(leased);
                }
                // An earlier hint: sleep again with the new deadline.
                _ = self.publish.wake_hints().changed() => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
        }
        info!("publish worker stopped");
    }

    /// When the earliest job this instance saved becomes due, on tokio's clock.
    fn hinted_deadline(&self) -> Option<tokio::time::Instant> {
        let due = self.publish.wake_hints().earliest()?;
        // A hint already past is due now (`to_std` fails on a negative span).
        let after = (due - Utc::now()).to_std().unwrap_or_default();
        Some(tokio::time::Instant::now() + after)
    }

    /// One pass over the due publish jobs (see `services::publishing::queue`); how many this
    /// instance leased.
    pub async fn tick(&self) -> usize {
        self.publish.run_due(BATCH).await
    }
}
