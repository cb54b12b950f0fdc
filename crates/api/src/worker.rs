//! The background worker of every instance (or of `postiqo-api worker`): on each pass it runs
//! the publish jobs that are due (the queue itself is `services::publishing::queue`), and now
//! and then finishes account deletions whose caller went away.

use chrono::Utc;
use tracing::{debug, info};

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

    /// Runs until `stop` turns true.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let interval = self.publish.config().worker_interval;
        info!(instance = %self.publish.instance(), "publish worker started");
        let mut passes: u64 = 0;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {
                    self.tick().await;
                    passes += 1;
                    if passes.is_multiple_of(DELETION_SWEEP_EVERY) {
                        self.sweep_deletions().await;
                    }
                }
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
        }
        info!("publish worker stopped");
    }

    /// One pass over the due publish jobs (see `services::publishing::queue`).
    pub async fn tick(&self) {
        self.publish.run_due(BATCH).await;
    }
}
