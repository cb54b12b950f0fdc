//! The publish worker: finds publish jobs that are due (on any instance's table), takes each
//! one's lease with a conditional write, and moves it on. A killed instance's jobs become
//! due again when their leases run out, so another instance picks them up.

use chrono::Utc;
use postiqo_domain::{PublishFailure, VideoStatus};
use postiqo_storage::{JobPhase, PublishJob, RepoError, Storage};
use tracing::{debug, info, warn};

use crate::services::{AccountService, PublishService};

const BATCH: u32 = 25;

/// How often (in worker passes) to look for abandoned account deletions.
const DELETION_SWEEP_EVERY: u64 = 25;

#[derive(Clone)]
pub struct Worker {
    storage: Storage,
    publish: PublishService,
    account: AccountService,
}

impl Worker {
    pub fn new(storage: Storage, publish: PublishService, account: AccountService) -> Self {
        Self {
            storage,
            publish,
            account,
        }
    }

    /// Finishes account deletions whose caller went away before the end (they were marked,
    /// so no sign-in can revive them, but their records would otherwise stay).
    pub async fn sweep_deletions(&self) {
        let after = self.publish.config().abandoned_deletion_after;
        let before =
            Utc::now() - chrono::Duration::from_std(after).unwrap_or(chrono::Duration::minutes(10));
        let users = match self.storage.accounts.abandoned_deletions(before, 10).await {
            Ok(u) => u,
            Err(e) => {
                debug!(error = ?e, "could not list abandoned deletions");
                return;
            }
        };
        if !users.is_empty() {
            info!(count = users.len(), "finishing abandoned account deletions");
        }
        for user in users {
            match self.account.delete_account(user, None, true).await {
                Ok(_) => info!(user_id = %user, "abandoned account deletion finished"),
                Err(e) => {
                    warn!(user_id = %user, error = ?e, "abandoned account deletion still incomplete")
                }
            }
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

    /// One pass over the due jobs.
    pub async fn tick(&self) {
        let now = Utc::now();
        let jobs = match self.storage.publish.due_jobs(now, BATCH).await {
            Ok(j) => j,
            Err(e) => {
                crate::metrics::worker_pass_failed();
                debug!(error = ?e, "could not list due publish jobs");
                return;
            }
        };
        crate::metrics::jobs_due(&jobs, now);
        for job in jobs {
            let lease = self.publish.config().worker_lease;
            let until = Utc::now()
                + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30));
            match self
                .storage
                .publish
                .lease(&job, self.publish.instance(), until, Utc::now())
                .await
            {
                Ok(leased) => self.process(leased).await,
                // Someone else has it, or it changed since the (eventually consistent) listing.
                Err(RepoError::Conflict) => {}
                Err(e) => debug!(error = ?e, "could not lease a publish job"),
            }
        }
    }

    async fn process(&self, job: PublishJob) {
        let now = Utc::now();
        let video = match self.storage.videos.get(job.owner, job.video, now).await {
            Ok(v) => v,
            Err(e) => {
                warn!(error = ?e, "publish job's video unreadable; retried after the lease");
                return;
            }
        };
        let Some(video) = video else {
            let _ = self
                .storage
                .publish
                .delete_job(job.owner, job.video, job.version)
                .await;
            return;
        };
        let same_attempt = video
            .tiktok
            .as_ref()
            .is_some_and(|t| t.attempt_id == job.attempt_id);
        let live = video.status == VideoStatus::Publishing
            || (video.status == VideoStatus::Published && job.phase == JobPhase::AwaitPostId);
        if !same_attempt || !live {
            let _ = self
                .storage
                .publish
                .delete_job(job.owner, job.video, job.version)
                .await;
            return;
        }
        if now > job.deadline {
            if job.phase == JobPhase::AwaitPostId {
                info!(video_id = %video.id, "no post id within the wait; TikTok may still publish one");
                let _ = self
                    .storage
                    .publish
                    .delete_job(job.owner, job.video, job.version)
                    .await;
            } else {
                warn!(video_id = %video.id, "publish deadline passed");
                self.publish
                    .fail(video, job, PublishFailure::timeout())
                    .await;
            }
            return;
        }
        match job.phase {
            // Its lease ran out while a request handler was calling init: that process died
            // mid-call, and whether TikTok created the post is unknown.
            JobPhase::Initiating => {
                warn!(video_id = %video.id, "init was interrupted; outcome unknown");
                self.publish
                    .fail(video, job, PublishFailure::outcome_unknown())
                    .await;
            }
            JobPhase::InitRetry => {
                if let Err(e) = self.publish.retry_init(video, job).await {
                    debug!(error = ?e, "init retry postponed");
                }
            }
            JobPhase::Tracking | JobPhase::AwaitPostId => {
                if let Err(e) = self.publish.poll(video, job).await {
                    debug!(error = ?e, "status poll failed; retried later");
                }
            }
        }
    }
}
