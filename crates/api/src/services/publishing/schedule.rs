//! Scheduled publishes. A schedule is a publish job in phase `Scheduled` whose `next_run_at`
//! is the due time: the worker of any instance leases it with the same conditional write as
//! every other job, so it starts exactly once, and a restarted instance finds it where it
//! was left. Moving or cancelling it changes the job's version in the same transaction as
//! the video, so a worker that leased it a moment before fails its own write and never
//! calls TikTok.

use std::time::Duration;

use chrono::{DateTime, Utc};
use postiqo_domain::{
    AccessLoss, MediaProblem, PublishFailure, PublishJob, SettingsError, TikTokPublish, UserId,
    Video, VideoAction, VideoId, VideoStatus,
};
use postiqo_storage::{JobChange, RepoError, VideoQuery};
use tracing::{info, warn};

use super::start::PublishPlan;
use super::{PublishError, PublishService, PublishStorage};

/// TikTok's creator info must be fresh when a schedule starts, so it cannot be asked for
/// when the schedule is made; this is as far ahead as a schedule may be.
pub const MAX_SCHEDULE_AHEAD: Duration = Duration::from_secs(30 * 24 * 3600);

/// How often a moving or cancelling request re-reads after losing a race.
const ATTEMPTS: u32 = 5;

impl PublishService {
    /// `scheduled_at` is at least the minimum lead and at most 30 days from now.
    pub(super) fn check_schedule_range(&self, at: DateTime<Utc>) -> Result<(), PublishError> {
        let now = self.now();
        let lead = chrono::Duration::from_std(self.cfg.schedule_min_lead)
            .unwrap_or(chrono::Duration::minutes(1));
        let max =
            chrono::Duration::from_std(MAX_SCHEDULE_AHEAD).unwrap_or(chrono::Duration::days(30));
        if at < now + lead || at > now + max {
            return Err(PublishError::ScheduleOutOfRange {
                min_lead_secs: self.cfg.schedule_min_lead.as_secs(),
            });
        }
        Ok(())
    }

    /// UPLOADED/FAILED → SCHEDULED with its job, in one transaction. Nothing goes to TikTok.
    pub(super) async fn schedule(
        &self,
        video: Video,
        plan: PublishPlan,
        settings: postiqo_domain::PublishSettings,
    ) -> Result<Video, PublishError> {
        let Some(due) = plan.scheduled_at else {
            return Err(PublishError::ScheduleOutOfRange {
                min_lead_secs: self.cfg.schedule_min_lead.as_secs(),
            });
        };
        let now = self.now();
        let attempt = TikTokPublish {
            attempt_id: uuid::Uuid::new_v4().to_string(),
            settings,
            started_at: now,
            publish_id: None,
            tiktok_status: None,
            post_id: None,
            post_url: None,
            failure: None,
            publicly_available: None,
            visibility_changed_at: None,
            mode: plan.mode,
            scheduled_at: Some(due),
        };
        let job = PublishJob::schedule(
            video.owner,
            video.id,
            attempt.attempt_id.clone(),
            due,
            self.cfg.schedule_grace,
        );
        let expected = video.version;
        let scheduled = video.schedule(attempt, now)?;
        self.store
            .publish
            .commit(
                &scheduled,
                expected,
                JobChange::Save {
                    job: &job,
                    expected_version: None,
                },
                None,
            )
            .await?;
        info!(video_id = %scheduled.id, due = %due, mode = ?plan.mode, "publish scheduled");
        Ok(scheduled)
    }

    /// Moves a schedule to another time.
    pub async fn reschedule(
        &self,
        user: UserId,
        id: VideoId,
        at: DateTime<Utc>,
    ) -> Result<Video, PublishError> {
        self.check_schedule_range(at)?;
        for _ in 0..ATTEMPTS {
            let (video, job) =
                scheduled(&self.store, user, id, VideoAction::Reschedule, self.now()).await?;
            let read = job.version;
            let moved_job = job
                .reschedule(at, self.cfg.schedule_grace)
                .map_err(|_| PublishError::ConcurrentUpdate)?;
            let expected = video.version;
            let moved = video.reschedule(at, self.now())?;
            match self
                .store
                .publish
                .commit(
                    &moved,
                    expected,
                    JobChange::Save {
                        job: &moved_job,
                        expected_version: Some(read),
                    },
                    None,
                )
                .await
            {
                Ok(()) => {
                    info!(video_id = %id, due = %at, "schedule moved");
                    return Ok(moved);
                }
                // A worker leased it meanwhile (or started it): read again.
                Err(RepoError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(PublishError::ConcurrentUpdate)
    }

    /// Cancels a schedule: SCHEDULED → UPLOADED, its job removed.
    pub async fn cancel_schedule(&self, user: UserId, id: VideoId) -> Result<Video, PublishError> {
        cancel_one(&self.store, user, id, self.now()).await
    }

    /// Cancels every schedule of the user. Returns how many were cancelled.
    pub async fn cancel_schedules(&self, user: UserId) -> Result<usize, PublishError> {
        cancel_all(&self.store, user, self.now()).await
    }

    /// A due schedule whose lease we hold: the same checks as an immediate publish, with
    /// fresh creator info; then the intent (PUBLISHING, job initiating under our lease) in
    /// one conditional transaction, and init within TikTok's per-minute window.
    pub(super) async fn start_due(&self, video: Video, job: PublishJob) {
        let Some(attempt) = video.tiktok.clone() else {
            return;
        };
        let plan = PublishPlan {
            settings: attempt.settings.clone(),
            mode: attempt.mode,
            scheduled_at: attempt.scheduled_at,
        };
        let settings = match self.start_checks(&video, &plan).await {
            Ok(s) => s,
            Err(e) => match refusal_at_due_time(e) {
                Ok(failure) => {
                    warn!(video_id = %video.id, code = %failure.code, "scheduled publish not started");
                    self.fail(video, job, failure).await;
                    return;
                }
                Err(wait) => {
                    info!(video_id = %video.id, wait_ms = wait.as_millis() as u64, "scheduled publish waits");
                    if let Err(e) = self.delay(&video, job, wait).await {
                        warn!(video_id = %video.id, error = ?e, "schedule not delayed; retried when the lease ends");
                    }
                    return;
                }
            },
        };
        let now = self.now();
        let read = job.version;
        let Ok(initiating) = job.begin_scheduled(now, self.cfg.deadline) else {
            return;
        };
        let expected = video.version;
        let Ok(publishing) = video.start_scheduled(settings, now) else {
            return;
        };
        match self
            .store
            .publish
            .commit(
                &publishing,
                expected,
                JobChange::Save {
                    job: &initiating,
                    expected_version: Some(read),
                },
                None,
            )
            .await
        {
            Ok(()) => {}
            // Moved, cancelled, edited or deleted since we leased it: nothing is sent.
            Err(RepoError::Conflict) => {
                info!(video_id = %publishing.id, "schedule changed while starting; not started");
                return;
            }
            Err(e) => {
                warn!(video_id = %publishing.id, error = ?e, "scheduled publish not started; retried when the lease ends");
                return;
            }
        }
        info!(video_id = %publishing.id, attempt = %initiating.attempt_id, "scheduled publish started");
        self.begin_init(publishing, initiating).await;
    }
}

/// What a refused start check means when nobody is waiting for the answer: a failure the
/// owner sees (`Ok`), or a passing trouble to wait out (`Err`, how long).
fn refusal_at_due_time(e: PublishError) -> Result<PublishFailure, Duration> {
    let fail = |code: &str, message: &str| Ok(PublishFailure::new(code, message, true));
    match e {
        PublishError::Settings(SettingsError::PrivacyLevelNotAllowed { .. }) => fail(
            "privacy_level_not_allowed",
            "The chosen privacy level is no longer one this creator can use. Nothing was posted; choose again.",
        ),
        PublishError::Settings(SettingsError::BrandedContentPrivate) => fail(
            "branded_content_private",
            "Branded content cannot be private. Nothing was posted.",
        ),
        PublishError::CannotPostNow { code } => fail(
            "tiktok_cannot_post_now",
            &format!(
                "TikTok said this creator could not post at the scheduled time ({code}). Nothing was posted."
            ),
        ),
        PublishError::ScopeMissing | PublishError::UploadScopeMissing => fail(
            "tiktok_scope_missing",
            "The user no longer grants the TikTok scope this needs. Sign in with TikTok again.",
        ),
        PublishError::InboxFull { .. } => Ok(PublishFailure::inbox_full()),
        // The creator's maximum duration dropped since it was scheduled (the rest was checked
        // then): the same video would be refused again.
        PublishError::Media(problems) => Ok(PublishFailure::new(
            problems
                .first()
                .map_or("video_too_long", MediaProblem::code),
            &problems
                .iter()
                .map(MediaProblem::detail)
                .collect::<Vec<_>>()
                .join(" "),
            false,
        )),
        PublishError::NotConnected => Ok(PublishFailure::access_lost_before_init(
            AccessLoss::NotConnected,
        )),
        PublishError::ReauthRequired(_) => Ok(PublishFailure::access_lost_before_init(
            AccessLoss::ReauthRequired,
        )),
        PublishError::UploadChanged { gone: false } => Ok(PublishFailure::upload_changed()),
        PublishError::UploadChanged { gone: true } => Ok(PublishFailure::new(
            "upload_missing",
            "The video's bytes are no longer in storage. Delete this video and upload it again.",
            false,
        )),
        PublishError::TikTokRateLimited { retry_after } => Err(retry_after),
        // TikTok or storage failing for now: the grace decides how long we keep trying.
        _ => Err(Duration::from_secs(10)),
    }
}

/// The scheduled video and its job, as they stand.
async fn scheduled(
    store: &PublishStorage,
    user: UserId,
    id: VideoId,
    action: VideoAction,
    now: DateTime<Utc>,
) -> Result<(Video, PublishJob), PublishError> {
    let video = store
        .videos
        .get(user, id, now)
        .await?
        .ok_or(PublishError::VideoNotFound)?;
    if video.status != VideoStatus::Scheduled {
        return Err(postiqo_domain::TransitionError {
            current: video.status,
            action,
        }
        .into());
    }
    let job = store.publish.job(user, id).await?;
    let same = |j: &PublishJob| {
        video
            .tiktok
            .as_ref()
            .is_some_and(|t| t.attempt_id == j.attempt_id)
    };
    match job {
        Some(j) if same(&j) => Ok((video, j)),
        // The worker is between its two writes; the caller may try again.
        _ => Err(PublishError::ConcurrentUpdate),
    }
}

/// SCHEDULED → UPLOADED with the job removed, in one transaction conditional on both: a
/// worker that leased the job a moment before then fails its own write.
async fn cancel_one(
    store: &PublishStorage,
    user: UserId,
    id: VideoId,
    now: DateTime<Utc>,
) -> Result<Video, PublishError> {
    for _ in 0..ATTEMPTS {
        let (video, job) = scheduled(store, user, id, VideoAction::CancelSchedule, now).await?;
        let expected = video.version;
        let cancelled = video.cancel_schedule(now)?;
        match store
            .publish
            .commit(
                &cancelled,
                expected,
                JobChange::Remove {
                    expected_version: job.version,
                },
                None,
            )
            .await
        {
            Ok(()) => {
                info!(video_id = %id, "schedule cancelled");
                return Ok(cancelled);
            }
            Err(RepoError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(PublishError::ConcurrentUpdate)
}

/// Cancels every schedule of the user: TikTok was disconnected, and nothing may start for
/// an account Postiqo no longer posts to. Returns how many were cancelled.
pub async fn cancel_all(
    store: &PublishStorage,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<usize, PublishError> {
    let mut cancelled = 0;
    let mut after = None;
    loop {
        let page = store
            .videos
            .list(VideoQuery {
                owner: user,
                status: Some(VideoStatus::Scheduled),
                limit: 100,
                after,
                now,
            })
            .await?;
        for v in &page.videos {
            match cancel_one(store, user, v.id, now).await {
                Ok(_) => cancelled += 1,
                // Started or cancelled meanwhile.
                Err(PublishError::WrongState(_) | PublishError::VideoNotFound) => {}
                Err(e) => return Err(e),
            }
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => return Ok(cancelled),
        }
    }
}
