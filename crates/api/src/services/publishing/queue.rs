//! The job queue the worker runs: due jobs are leased with a conditional write (on any
//! instance's table), and each leased job does one step; backing off, failing a publish and
//! dropping stale jobs are here too. A killed instance's jobs become due again when their
//! leases run out, so another instance picks them up.

use std::time::Duration;

use postiqo_domain::{JobStep, PublishFailure, PublishJob, Video};
use postiqo_storage::{JobChange, RepoError};
use tracing::{debug, info, warn};

use super::{PublishError, PublishService};

impl PublishService {
    /// One pass over the jobs due now: leases up to `batch` of them and moves each one on.
    /// Returns how many this instance leased.
    pub async fn run_due(&self, batch: u32) -> usize {
        let listed_at = self.now();
        let jobs = match self.store.publish.due_jobs(listed_at, batch).await {
            Ok(j) => j,
            Err(e) => {
                crate::metrics::worker_pass_failed();
                debug!(error = ?e, "could not list due publish jobs");
                return 0;
            }
        };
        crate::metrics::jobs_due(&jobs, listed_at);
        let mut leased = 0;
        for job in jobs {
            let now = self.now();
            let until = now
                + chrono::Duration::from_std(self.cfg.worker_lease)
                    .unwrap_or(chrono::Duration::seconds(30));
            match self
                .store
                .publish
                .lease(&job, &self.instance, until, now)
                .await
            {
                Ok(job) => {
                    leased += 1;
                    self.process(job).await;
                }
                // Someone else has it, or it changed since the (eventually consistent) listing.
                Err(RepoError::Conflict) => {}
                Err(e) => debug!(error = ?e, "could not lease a publish job"),
            }
        }
        leased
    }

    /// One step of a job whose lease we hold.
    async fn process(&self, job: PublishJob) {
        let now = self.now();
        let video = match self.store.videos.get(job.owner, job.video, now).await {
            Ok(v) => v,
            Err(e) => {
                warn!(error = ?e, "publish job's video unreadable; retried after the lease");
                return;
            }
        };
        let step = job.next_step(video.as_ref(), now);
        let Some(video) = video else {
            self.discard(&job).await;
            return;
        };
        match step {
            JobStep::Discard => self.discard(&job).await,
            JobStep::StopAwaitingPostId => {
                info!(video_id = %video.id, "no post id within the wait; TikTok may still publish one");
                self.discard(&job).await;
            }
            JobStep::TimedOut => {
                warn!(video_id = %video.id, "publish deadline passed");
                self.fail(video, job, PublishFailure::timeout()).await;
            }
            // Its lease ran out while someone was calling init: that process died mid-call,
            // and whether TikTok created the post is unknown.
            JobStep::OutcomeUnknown => {
                warn!(video_id = %video.id, "init was interrupted; outcome unknown");
                self.fail(video, job, PublishFailure::outcome_unknown())
                    .await;
            }
            JobStep::RetryInit => {
                if let Err(e) = self.retry_init(video, job).await {
                    debug!(error = ?e, "init retry postponed");
                }
            }
            JobStep::StartScheduled => self.start_due(video, job).await,
            JobStep::ScheduleMissed => {
                warn!(video_id = %video.id, "scheduled publish found after its grace; not started");
                self.fail(video, job, PublishFailure::schedule_missed())
                    .await;
            }
            JobStep::Poll => {
                if let Err(e) = self.poll(video, job).await {
                    debug!(error = ?e, "status poll failed; retried later");
                }
            }
        }
    }

    /// Deletes a job that has nothing left to do (if nobody changed it meanwhile).
    async fn discard(&self, job: &PublishJob) {
        if let Err(e) = self
            .store
            .publish
            .delete_job(job.owner, job.video, job.version)
            .await
        {
            debug!(error = ?e, "stale publish job not deleted; retried when due");
        }
    }

    /// Puts the job back for later (keeping its phase), releasing the lease.
    pub async fn delay(
        &self,
        video: &Video,
        job: PublishJob,
        wait: Duration,
    ) -> Result<(), PublishError> {
        let read = job.version;
        let next = job.delay(self.now(), wait);
        match self
            .store
            .publish
            .commit(
                video,
                video.version,
                JobChange::Save {
                    job: &next,
                    expected_version: Some(read),
                },
                None,
            )
            .await
        {
            Ok(()) | Err(RepoError::Conflict) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the job of a video that is no longer publishing.
    pub async fn remove_job(&self, video: &Video, job: &PublishJob) {
        let _ = self
            .store
            .publish
            .commit(
                video,
                video.version,
                JobChange::Remove {
                    expected_version: job.version,
                },
                None,
            )
            .await;
    }

    /// Init again later with backoff (at least 10 s): TikTok created nothing.
    pub(super) async fn reschedule_init(&self, video: Video, job: PublishJob) -> Video {
        let wait = self
            .backoff()
            .delay(job.runs + 1)
            .max(Duration::from_secs(10));
        self.reschedule_init_after(video, job, wait).await
    }

    pub(super) async fn reschedule_init_after(
        &self,
        video: Video,
        job: PublishJob,
        wait: Duration,
    ) -> Video {
        let at = self.now();
        let read = job.version;
        let next = match job.defer_init(at, wait) {
            Ok(j) => j,
            Err(e) => {
                warn!(video_id = %video.id, error = %e, "init retry not scheduled");
                return video;
            }
        };
        let touched = video.clone().note_tiktok_status("INIT_RETRY", at);
        match self
            .store
            .publish
            .commit(
                &touched,
                video.version,
                JobChange::Save {
                    job: &next,
                    expected_version: Some(read),
                },
                None,
            )
            .await
        {
            Ok(()) => touched,
            Err(e) => {
                warn!(video_id = %video.id, error = ?e, "init retry not scheduled; the lease expiry will");
                video
            }
        }
    }

    /// PUBLISHING → FAILED with the reason, removing the job in the same transaction.
    pub async fn fail(&self, video: Video, job: PublishJob, failure: PublishFailure) -> Video {
        let expected = video.version;
        let Ok(failed) = video.clone().mark_failed(failure, self.now()) else {
            return video;
        };
        match self
            .store
            .publish
            .commit(
                &failed,
                expected,
                JobChange::Remove {
                    expected_version: job.version,
                },
                None,
            )
            .await
        {
            Ok(()) => {
                crate::metrics::publish_finished(&failed);
                failed
            }
            Err(e) => {
                warn!(video_id = %video.id, error = ?e, "failure not recorded yet; the worker retries");
                video
            }
        }
    }
}
