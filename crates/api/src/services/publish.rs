//! Publishing to TikTok (PULL_FROM_URL) and tracking each publish to its end.
//!
//! The order of writes is what makes this safe: the intent (PUBLISHING, an attempt id and a
//! job holding a lease) is stored *before* TikTok is called, and TikTok's publish id right
//! after. If the process dies in between, the job's lease runs out while it still says
//! "initiating", and the worker fails the video with `publish_outcome_unknown` rather than
//! calling init again: a second post is never made without the user asking for it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use postiqo_domain::{
    PublishFailure, PublishSettings, TikTokPublish, User, UserId, Video, VideoId, VideoStatus,
};
use postiqo_storage::{IdempotencyBegin, JobChange, JobPhase, PublishJob, RepoError, Storage};
use postiqo_tiktok::{
    CreatorInfo, PostInfo, PrivacyLevel, PublishId, PublishState, PublishStatus, TikTokError,
};
use serde::Serialize;
use tracing::{info, warn};

use crate::auth::secrets::digest;
use crate::config::PublishConfig;
use crate::problem::{ApiError, ErrorCode};
use crate::services::media::{MediaService, PinError};
use crate::services::tiktok_access::TikTokAccess;

/// TikTok's per-token limits, kept one below TikTok's numbers and over a window one second
/// longer, so clock skew between us and TikTok cannot push a burst over.
const CREATOR_INFO_LIMIT: (usize, Duration) = (19, Duration::from_secs(61));
const INIT_LIMIT: (usize, Duration) = (5, Duration::from_secs(61));
const STATUS_LIMIT: (usize, Duration) = (28, Duration::from_secs(61));
const IDEMPOTENCY_TTL_HOURS: i64 = 24;

/// What TikTok told us about a publish, from a status fetch or a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TikTokUpdate {
    Processing(String),
    Complete { post_id: Option<String> },
    Failed { reason: String },
}

impl TikTokUpdate {
    pub fn from_status(status: &PublishStatus) -> Self {
        match &status.status {
            PublishState::PublishComplete => TikTokUpdate::Complete {
                post_id: status
                    .publicly_available_post_ids
                    .first()
                    .map(|p| p.as_str().to_owned()),
            },
            PublishState::Failed => TikTokUpdate::Failed {
                reason: status
                    .fail_reason
                    .as_ref()
                    .map(|r| r.as_str().to_owned())
                    .unwrap_or_default(),
            },
            other => TikTokUpdate::Processing(other.as_str().to_owned()),
        }
    }
}

/// Outcome of looking up an idempotency key.
pub enum Idempotent {
    /// New key: do the work, then `finish`.
    Proceed { key_digest: String },
    /// Same key and same request as before: this is the earlier answer.
    Replay { status: u16, body: String },
}

#[derive(Clone)]
pub struct PublishService {
    storage: Storage,
    tiktok: TikTokAccess,
    media: MediaService,
    cfg: PublishConfig,
    /// Names this process in job leases.
    instance: String,
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::seconds(30))
}

/// Our own 429 when TikTok's per-user limit would be exceeded.
fn rate_limited(wait: Duration) -> ApiError {
    ApiError::new(ErrorCode::RateLimited)
        .detail("TikTok allows only a few of these calls per minute for one user.")
        .retry_after(wait.as_secs().max(1))
}

#[derive(Serialize)]
struct RequestFingerprint<'a> {
    video: String,
    settings: &'a PublishSettings,
}

impl PublishService {
    pub fn new(
        storage: Storage,
        tiktok: TikTokAccess,
        media: MediaService,
        cfg: PublishConfig,
        instance: String,
    ) -> Self {
        Self {
            storage,
            tiktok,
            media,
            cfg,
            instance,
        }
    }

    pub fn config(&self) -> &PublishConfig {
        &self.cfg
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub fn media(&self) -> &MediaService {
        &self.media
    }

    async fn user(&self, id: UserId) -> Result<User, ApiError> {
        self.storage
            .users
            .get(id)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::SessionEnded))
    }

    /// TikTok's creator info, fresh, within TikTok's 20 calls a minute.
    pub async fn creator_info(&self, user: UserId) -> Result<CreatorInfo, ApiError> {
        let profile = self.user(user).await?;
        if !profile.has_scope("video.publish") {
            return Err(ApiError::new(ErrorCode::TikTokScopeMissing));
        }
        let (limit, window) = CREATOR_INFO_LIMIT;
        if let Err(wait) = self
            .storage
            .rates
            .try_acquire(user, "creator_info", limit, window, now())
            .await?
        {
            return Err(rate_limited(wait));
        }
        let client = self.tiktok.client().clone();
        match self
            .tiktok
            .with_token_raw(user, |token| {
                let client = client.clone();
                async move { client.creator_info(&token).await }
            })
            .await?
        {
            Ok(info) => Ok(info),
            Err(e) if e.cannot_post_now() => Err(cannot_post(&e)),
            Err(e) => Err(crate::services::tiktok_access::tiktok_problem(e)),
        }
    }

    /// Checks an idempotency key: a replay gets the stored answer, a different request with
    /// the same key is refused, a concurrent one waits briefly for the first to finish.
    pub async fn idempotency(
        &self,
        user: UserId,
        key: &str,
        video: VideoId,
        settings: &PublishSettings,
    ) -> Result<Idempotent, ApiError> {
        let key_digest = digest(key);
        let fingerprint = serde_json::to_string(&RequestFingerprint {
            video: video.to_string(),
            settings,
        })
        .map_err(|e| ApiError::new(ErrorCode::Internal).source(e))?;
        let request_hash = digest(&fingerprint);
        let expires = now() + chrono::Duration::hours(IDEMPOTENCY_TTL_HOURS);
        for _ in 0..50 {
            match self
                .storage
                .idempotency
                .begin(user, &key_digest, &request_hash, expires, now())
                .await?
            {
                IdempotencyBegin::Started => return Ok(Idempotent::Proceed { key_digest }),
                IdempotencyBegin::Done {
                    request_hash: h, ..
                }
                | IdempotencyBegin::InProgress { request_hash: h }
                    if h != request_hash =>
                {
                    return Err(ApiError::new(ErrorCode::IdempotencyKeyReused));
                }
                IdempotencyBegin::Done { status, body, .. } => {
                    return Ok(Idempotent::Replay { status, body });
                }
                IdempotencyBegin::InProgress { .. } => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
            }
        }
        Err(ApiError::new(ErrorCode::IdempotencyInProgress).retry_after(1))
    }

    pub async fn finish_idempotency(
        &self,
        user: UserId,
        key_digest: &str,
        status: u16,
        body: &str,
    ) {
        if let Err(e) = self
            .storage
            .idempotency
            .finish(user, key_digest, status, body)
            .await
        {
            warn!(error = ?e, "idempotency record not completed; a retry with this key will wait and then run again");
        }
    }

    pub async fn abandon_idempotency(&self, user: UserId, key_digest: &str) {
        if let Err(e) = self.storage.idempotency.abandon(user, key_digest).await {
            warn!(error = ?e, "idempotency record not removed; it expires by TTL");
        }
    }

    /// Publishes an UPLOADED (or FAILED) video. Returns the video as it stands afterwards:
    /// PUBLISHING, or FAILED when TikTok refused the init outright.
    pub async fn publish(
        &self,
        user: UserId,
        id: VideoId,
        requested: PublishSettings,
    ) -> Result<Video, ApiError> {
        let video = self
            .storage
            .videos
            .get(user, id, now())
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::VideoNotFound))?;
        if !matches!(video.status, VideoStatus::Uploaded | VideoStatus::Failed) {
            return Err(postiqo_domain::TransitionError {
                current: video.status,
                action: postiqo_domain::VideoAction::StartPublish,
            }
            .into());
        }
        // Refused before anything changes, so the owner learns it now rather than from a
        // failed publish (the init checks again: the object can change in between).
        match self.media.pinned(&video).await {
            Ok(_) => {}
            Err(PinError::Changed) => {
                return Err(ApiError::new(ErrorCode::UploadChanged).detail(
                    "The video's stored bytes were overwritten after upload-complete verified them, so they will not be sent to TikTok. Delete this video and upload it again.",
                ));
            }
            Err(PinError::Missing) => {
                return Err(ApiError::new(ErrorCode::UploadChanged).detail(
                    "The video's bytes are no longer in storage. Delete this video and upload it again.",
                ));
            }
            Err(PinError::Storage(e)) => return Err(e.into()),
        }
        let creator = self.creator_info(user).await?;
        let settings = validate_settings(&creator, requested)?;

        let at = now();
        let attempt = TikTokPublish {
            attempt_id: uuid::Uuid::new_v4().to_string(),
            settings,
            started_at: at,
            publish_id: None,
            tiktok_status: None,
            post_id: None,
            post_url: None,
            failure: None,
        };
        let lease_until = at + dur(self.cfg.worker_lease);
        let job = PublishJob {
            owner: user,
            video: id,
            attempt_id: attempt.attempt_id.clone(),
            phase: JobPhase::Initiating,
            publish_id: None,
            // If we die mid-call, the job becomes due when its lease ends.
            next_run_at: lease_until,
            deadline: at + dur(self.cfg.deadline),
            runs: 0,
            lease_owner: Some(self.instance.clone()),
            lease_until: Some(lease_until),
            version: 1,
        };
        let expected = video.version;
        let publishing = video.start_publish(attempt, at)?;
        match self
            .storage
            .publish
            .commit(
                &publishing,
                expected,
                JobChange::Save {
                    job: &job,
                    expected_version: None,
                },
                None,
            )
            .await
        {
            Ok(()) => {}
            // Another publish of this video won the race.
            Err(RepoError::Conflict) => return Err(ApiError::new(ErrorCode::ConcurrentUpdate)),
            Err(e) => return Err(e.into()),
        }
        info!(video_id = %id, attempt = %job.attempt_id, "publish started");
        // The video is ours now; TikTok's 6 inits a minute decide only *when* init happens.
        let (limit, window) = INIT_LIMIT;
        match self
            .storage
            .rates
            .try_acquire(user, "init", limit, window, now())
            .await
        {
            Ok(Ok(())) => Ok(self.run_init(publishing, job).await),
            Ok(Err(wait)) => {
                info!(video_id = %id, wait_ms = wait.as_millis() as u64, "init deferred by TikTok's rate limit");
                Ok(self.reschedule_init_after(publishing, job, wait).await)
            }
            Err(e) => {
                warn!(video_id = %id, error = ?e, "rate window unreadable; init deferred");
                Ok(self.reschedule_init(publishing, job).await)
            }
        }
    }

    /// Calls TikTok's init for a video in PUBLISHING whose job we hold, and records the
    /// outcome. Never returns an error: every outcome is a state of the video.
    pub async fn run_init(&self, video: Video, job: PublishJob) -> Video {
        let owner = video.owner;
        let Some(attempt) = video.tiktok.clone() else {
            return video;
        };
        // Only the verified content goes to TikTok: checked here in every mode, and in proxy
        // mode pinned in the URL as well (the route reads S3 with If-Match on it).
        let pinned = match self.media.pinned(&video).await {
            Ok(tag) => tag,
            Err(PinError::Changed) => {
                warn!(video_id = %video.id, "the object changed after it was verified; not sent to TikTok");
                return self
                    .fail(video, job, PublishFailure::upload_changed())
                    .await;
            }
            Err(PinError::Missing) => {
                warn!(video_id = %video.id, "the object is gone; nothing to send to TikTok");
                let gone = PublishFailure::new(
                    "upload_missing",
                    "The video's bytes are no longer in storage. Delete this video and upload it again.",
                    false,
                );
                return self.fail(video, job, gone).await;
            }
            Err(PinError::Storage(e)) => {
                warn!(video_id = %video.id, error = ?e, "object not checked; will retry");
                return self.reschedule_init(video, job).await;
            }
        };
        let url = match self.media.url_for(&video, &pinned).await {
            Ok(u) => u,
            Err(e) => {
                warn!(video_id = %video.id, error = ?e, "media URL could not be made; will retry");
                return self.reschedule_init(video, job).await;
            }
        };
        let mut post = PostInfo::new(PrivacyLevel::parse(&attempt.settings.privacy_level));
        post.title = Some(video.title.as_str().to_owned()).filter(|t| !t.is_empty());
        post.disable_comment = attempt.settings.disable_comment;
        post.disable_duet = attempt.settings.disable_duet;
        post.disable_stitch = attempt.settings.disable_stitch;
        post.video_cover_timestamp_ms = attempt.settings.video_cover_timestamp_ms;
        post.brand_content_toggle = attempt.settings.brand_content_toggle;
        post.brand_organic_toggle = attempt.settings.brand_organic_toggle;
        post.is_aigc = Some(attempt.settings.is_aigc);
        let client = self.tiktok.client().clone();
        let result = self
            .tiktok
            .with_token_raw(owner, |token| {
                let client = client.clone();
                let post = post.clone();
                let url = url.clone();
                async move { client.init_video_publish(&token, &post, &url).await }
            })
            .await;
        match result {
            Ok(Ok(publish_id)) => self.record_publish_id(video, job, publish_id).await,
            Ok(Err(e)) if not_created(&e) => {
                warn!(video_id = %video.id, error = %e, "TikTok refused the init for now; will retry");
                self.reschedule_init(video, job).await
            }
            Ok(Err(e)) if matches!(e, TikTokError::Transport(_) | TikTokError::Timeout) => {
                // The request may have reached TikTok: never guess, never init twice.
                warn!(video_id = %video.id, error = %e, "init outcome unknown");
                self.fail(video, job, PublishFailure::outcome_unknown())
                    .await
            }
            Ok(Err(e)) => {
                let failure = init_failure(&e);
                warn!(video_id = %video.id, code = %failure.code, "TikTok refused the publish");
                self.fail(video, job, failure).await
            }
            Err(e) => {
                let failure = match e.code {
                    ErrorCode::TikTokReauthRequired | ErrorCode::TikTokNotConnected => {
                        PublishFailure::new(
                            e.code.code(),
                            "Postiqo no longer has access to this TikTok account; sign in with TikTok again.",
                            false,
                        )
                    }
                    ErrorCode::StorageUnavailable => return self.reschedule_init(video, job).await,
                    _ => PublishFailure::new(
                        "tiktok_unavailable",
                        "TikTok could not be reached.",
                        true,
                    ),
                };
                self.fail(video, job, failure).await
            }
        }
    }

    /// The worker's second try at init after TikTok answered 429/5xx. The job is switched back
    /// to "initiating" (under our lease) before TikTok is called, so a crash during this call
    /// too ends as "outcome unknown", never as a second init.
    pub async fn retry_init(&self, video: Video, job: PublishJob) -> Result<(), ApiError> {
        let (limit, window) = INIT_LIMIT;
        if let Err(wait) = self
            .storage
            .rates
            .try_acquire(video.owner, "init", limit, window, now())
            .await?
        {
            return self.delay(&video, job, wait).await;
        }
        let initiating = PublishJob {
            phase: JobPhase::Initiating,
            next_run_at: job.lease_until.unwrap_or_else(now),
            version: job.version + 1,
            ..job.clone()
        };
        self.storage
            .publish
            .commit(
                &video,
                video.version,
                JobChange::Save {
                    job: &initiating,
                    expected_version: Some(job.version),
                },
                None,
            )
            .await?;
        self.run_init(video, initiating).await;
        Ok(())
    }

    async fn record_publish_id(
        &self,
        video: Video,
        job: PublishJob,
        publish_id: PublishId,
    ) -> Video {
        let at = now();
        let mut current = (video, job);
        for _ in 0..5 {
            let (video, job) = current;
            let expected = video.version;
            let Ok(next) = video
                .clone()
                .record_publish_id(publish_id.as_str().to_owned(), at)
            else {
                return video;
            };
            let tracked = PublishJob {
                phase: JobPhase::Tracking,
                publish_id: Some(publish_id.as_str().to_owned()),
                next_run_at: at + dur(self.cfg.poll_initial),
                lease_owner: None,
                lease_until: None,
                version: job.version + 1,
                ..job.clone()
            };
            match self
                .storage
                .publish
                .commit(
                    &next,
                    expected,
                    JobChange::Save {
                        job: &tracked,
                        expected_version: Some(job.version),
                    },
                    Some(publish_id.as_str()),
                )
                .await
            {
                Ok(()) => {
                    info!(video_id = %next.id, publish_id = %publish_id, "TikTok accepted the publish");
                    return next;
                }
                Err(e) => {
                    warn!(video_id = %next.id, error = ?e, "publish id not stored yet; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let reread_video = self
                        .storage
                        .videos
                        .get(next.owner, next.id, now())
                        .await
                        .ok()
                        .flatten();
                    let reread_job = self
                        .storage
                        .publish
                        .job(next.owner, next.id)
                        .await
                        .ok()
                        .flatten();
                    match (reread_video, reread_job) {
                        (Some(v), Some(j)) => current = (v, j),
                        _ => current = (video, job),
                    }
                }
            }
        }
        // Could not store it: the lease will run out and the worker will report the outcome
        // as unknown (TikTok has the post; we lost its id).
        current.0
    }

    async fn reschedule_init(&self, video: Video, job: PublishJob) -> Video {
        let wait = backoff(&self.cfg, job.runs + 1).max(Duration::from_secs(10));
        self.reschedule_init_after(video, job, wait).await
    }

    async fn reschedule_init_after(&self, video: Video, job: PublishJob, wait: Duration) -> Video {
        let at = now();
        let next = PublishJob {
            phase: JobPhase::InitRetry,
            next_run_at: at + dur(wait),
            runs: job.runs + 1,
            lease_owner: None,
            lease_until: None,
            version: job.version + 1,
            ..job.clone()
        };
        let touched = video.clone().note_tiktok_status("INIT_RETRY", at);
        match self
            .storage
            .publish
            .commit(
                &touched,
                video.version,
                JobChange::Save {
                    job: &next,
                    expected_version: Some(job.version),
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

    pub async fn fail(&self, video: Video, job: PublishJob, failure: PublishFailure) -> Video {
        let expected = video.version;
        let Ok(failed) = video.clone().mark_failed(failure, now()) else {
            return video;
        };
        match self
            .storage
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
            Ok(()) => failed,
            Err(e) => {
                warn!(video_id = %video.id, error = ?e, "failure not recorded yet; the worker retries");
                video
            }
        }
    }

    /// Applies what TikTok said (status fetch or webhook) to the video and its job. Safe to
    /// repeat: a duplicate update changes nothing.
    pub async fn apply_update(
        &self,
        owner: UserId,
        id: VideoId,
        publish_id: &str,
        update: TikTokUpdate,
    ) -> Result<(), ApiError> {
        for _ in 0..5 {
            let Some(video) = self.storage.videos.get(owner, id, now()).await? else {
                return Ok(());
            };
            let matches = video
                .tiktok
                .as_ref()
                .is_some_and(|t| t.publish_id.as_deref() == Some(publish_id));
            if !matches {
                return Ok(());
            }
            let job = self.storage.publish.job(owner, id).await?;
            match self.next_state(video, job, update.clone()).await {
                Ok(()) => return Ok(()),
                Err(RepoError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::new(ErrorCode::ConcurrentUpdate))
    }

    async fn next_state(
        &self,
        video: Video,
        job: Option<PublishJob>,
        update: TikTokUpdate,
    ) -> Result<(), RepoError> {
        let at = now();
        let expected = video.version;
        let public = video
            .tiktok
            .as_ref()
            .is_some_and(|t| t.settings.privacy_level == "PUBLIC_TO_EVERYONE");
        let (next, job_change_phase) = match update {
            TikTokUpdate::Processing(status) => {
                if video.status != VideoStatus::Publishing {
                    return Ok(());
                }
                (
                    video.clone().note_tiktok_status(&status, at),
                    Some(JobPhase::Tracking),
                )
            }
            TikTokUpdate::Complete { post_id } => {
                let username = self
                    .storage
                    .users
                    .get(video.owner)
                    .await?
                    .and_then(|u| u.username);
                let url = post_id
                    .as_deref()
                    .map(|p| postiqo_domain::post_url(username.as_deref(), p));
                let has_post =
                    post_id.is_some() || video.tiktok.as_ref().is_some_and(|t| t.post_id.is_some());
                let Ok(next) = video.clone().mark_published(post_id, url, at) else {
                    return Ok(());
                };
                // Public posts get their id after moderation: keep asking for it a while.
                let phase = (public && !has_post).then_some(JobPhase::AwaitPostId);
                (next, phase)
            }
            TikTokUpdate::Failed { reason } => {
                let failure = self.failure_for(&video, &reason).await;
                let Ok(next) = video.clone().mark_failed(failure, at) else {
                    return Ok(());
                };
                (next, None)
            }
        };
        let job_change_owned;
        let change = match (&job, job_change_phase) {
            (Some(j), Some(phase)) => {
                let runs = if phase == j.phase { j.runs + 1 } else { 0 };
                let delay = if phase == JobPhase::AwaitPostId {
                    backoff(&self.cfg, runs + 2)
                } else {
                    backoff(&self.cfg, runs)
                };
                job_change_owned = PublishJob {
                    phase,
                    runs,
                    next_run_at: at + dur(delay),
                    deadline: if phase == JobPhase::AwaitPostId && j.phase != JobPhase::AwaitPostId
                    {
                        at + dur(self.cfg.post_id_wait)
                    } else {
                        j.deadline
                    },
                    lease_owner: None,
                    lease_until: None,
                    version: j.version + 1,
                    ..j.clone()
                };
                JobChange::Save {
                    job: &job_change_owned,
                    expected_version: Some(j.version),
                }
            }
            (Some(j), None) => JobChange::Remove {
                expected_version: j.version,
            },
            (None, _) => JobChange::Keep,
        };
        if next == video && matches!(change, JobChange::Keep) {
            return Ok(());
        }
        self.storage
            .publish
            .commit(&next, expected, change, None)
            .await?;
        if next.status != video.status {
            info!(video_id = %next.id, status = %next.status, "publish status changed");
        }
        Ok(())
    }

    /// TikTok's fail reason as our failure. A failed download of an object that was
    /// overwritten after its verification is what the media route refused: say so, since
    /// publishing again cannot help.
    async fn failure_for(&self, video: &Video, reason: &str) -> PublishFailure {
        if video.status == VideoStatus::Publishing
            && reason == "video_pull_failed"
            && matches!(self.media.pinned(video).await, Err(PinError::Changed))
        {
            return PublishFailure::upload_changed();
        }
        PublishFailure::from_fail_reason(reason)
    }

    /// One status fetch for a tracked job (the worker's step), within TikTok's 30 a minute
    /// per user.
    pub async fn poll(&self, video: Video, job: PublishJob) -> Result<(), ApiError> {
        let Some(publish_id) = job.publish_id.clone() else {
            return Ok(());
        };
        let (limit, window) = STATUS_LIMIT;
        if let Err(wait) = self
            .storage
            .rates
            .try_acquire(video.owner, "status", limit, window, now())
            .await?
        {
            return self.delay(&video, job, wait).await;
        }
        let client = self.tiktok.client().clone();
        let pid = PublishId::new(publish_id.clone());
        let result = self
            .tiktok
            .with_token_raw(video.owner, |token| {
                let client = client.clone();
                let pid = pid.clone();
                async move { client.fetch_status(&token, &pid).await }
            })
            .await;
        match result {
            Ok(Ok(status)) => {
                let update = TikTokUpdate::from_status(&status);
                self.apply_update(video.owner, video.id, &publish_id, update)
                    .await
            }
            Ok(Err(e)) if e.is_retryable() => {
                warn!(video_id = %video.id, error = %e, "status fetch failed; backing off");
                self.delay(&video, job.clone(), backoff(&self.cfg, job.runs + 2))
                    .await
            }
            Ok(Err(e)) => {
                let code = match &e {
                    TikTokError::Api { code, .. } => code.as_str().to_owned(),
                    _ => "tiktok_error".to_owned(),
                };
                warn!(video_id = %video.id, error = %e, "status fetch refused");
                if video.status == VideoStatus::Publishing {
                    self.fail(
                        video,
                        job,
                        PublishFailure::new(
                            &code,
                            "TikTok refused to report on this publish.",
                            false,
                        ),
                    )
                    .await;
                } else {
                    self.remove_job(&video, &job).await;
                }
                Ok(())
            }
            Err(e)
                if matches!(
                    e.code,
                    ErrorCode::TikTokReauthRequired | ErrorCode::TikTokNotConnected
                ) =>
            {
                if video.status == VideoStatus::Publishing {
                    self.fail(
                        video,
                        job,
                        PublishFailure::new(
                            e.code.code(),
                            "Postiqo lost access to this TikTok account.",
                            false,
                        ),
                    )
                    .await;
                } else {
                    self.remove_job(&video, &job).await;
                }
                Ok(())
            }
            Err(e) => {
                self.delay(&video, job.clone(), backoff(&self.cfg, job.runs + 2))
                    .await?;
                Err(e)
            }
        }
    }

    /// Puts the job back for later (keeping its phase), releasing the lease.
    pub async fn delay(
        &self,
        video: &Video,
        job: PublishJob,
        wait: Duration,
    ) -> Result<(), ApiError> {
        let next = PublishJob {
            next_run_at: now() + dur(wait),
            runs: job.runs + 1,
            lease_owner: None,
            lease_until: None,
            version: job.version + 1,
            ..job.clone()
        };
        match self
            .storage
            .publish
            .commit(
                video,
                video.version,
                JobChange::Save {
                    job: &next,
                    expected_version: Some(job.version),
                },
                None,
            )
            .await
        {
            Ok(()) | Err(RepoError::Conflict) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn remove_job(&self, video: &Video, job: &PublishJob) {
        let _ = self
            .storage
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

    /// Asks TikTok to cancel an ongoing download; TikTok then fails the publish
    /// (`publish_cancelled`), which tracking records.
    pub async fn cancel(&self, user: UserId, id: VideoId) -> Result<Video, ApiError> {
        let video = self
            .storage
            .videos
            .get(user, id, now())
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::VideoNotFound))?;
        let publish_id = match (
            &video.status,
            video.tiktok.as_ref().and_then(|t| t.publish_id.clone()),
        ) {
            (VideoStatus::Publishing, Some(p)) => p,
            _ => {
                return Err(ApiError::new(ErrorCode::InvalidState)
                    .detail("Only a publish TikTok is still processing can be cancelled."));
            }
        };
        let client = self.tiktok.client().clone();
        let pid = PublishId::new(publish_id);
        self.tiktok
            .with_token(user, |token| {
                let client = client.clone();
                let pid = pid.clone();
                async move { client.cancel_publish(&token, &pid).await }
            })
            .await?;
        info!(video_id = %id, "cancel requested at TikTok");
        Ok(video)
    }
}

/// Exponential backoff from the first poll delay, capped.
pub fn backoff(cfg: &PublishConfig, runs: u32) -> Duration {
    let factor = 1.5f64.powi(i32::try_from(runs.min(30)).unwrap_or(30));
    let ms = (cfg.poll_initial.as_millis() as f64 * factor).min(cfg.poll_max.as_millis() as f64);
    Duration::from_millis(ms as u64)
}

/// 429 and 5xx answers from init mean TikTok created nothing: safe to init again later.
fn not_created(e: &TikTokError) -> bool {
    match e {
        TikTokError::Api {
            http_status, code, ..
        } => {
            *http_status == 429
                || *http_status >= 500
                || matches!(
                    code,
                    postiqo_tiktok::ApiErrorCode::RateLimitExceeded
                        | postiqo_tiktok::ApiErrorCode::InternalError
                )
        }
        TikTokError::Decode { http_status, .. } => *http_status >= 500,
        _ => false,
    }
}

fn init_failure(e: &TikTokError) -> PublishFailure {
    let code = match e {
        TikTokError::Api { code, .. } => code.as_str().to_owned(),
        TikTokError::OAuth { error, .. } => error.as_str().to_owned(),
        _ => "tiktok_error".to_owned(),
    };
    let message = match code.as_str() {
        "url_ownership_unverified" => {
            "TikTok refused the media URL: its domain or URL prefix is not verified for this app."
        }
        "privacy_level_option_mismatch" => "The privacy level is not one this creator can use now.",
        "spam_risk_too_many_posts" => "The creator reached TikTok's daily post limit.",
        "spam_risk_user_banned_from_posting" => "TikTok does not allow this creator to post.",
        "reached_active_user_cap" => "The app reached TikTok's daily limit of posting users.",
        "unaudited_client_can_only_post_to_private_accounts" => {
            "This TikTok app is not audited: it can only post to private accounts."
        }
        _ => "TikTok refused the publish.",
    };
    PublishFailure::new(&code, message, false)
}

fn cannot_post(e: &TikTokError) -> ApiError {
    let code = match e {
        TikTokError::Api { code, .. } => code.as_str().to_owned(),
        _ => String::new(),
    };
    ApiError::new(ErrorCode::TikTokCannotPostNow).detail(format!(
        "TikTok says this creator cannot post right now ({code}). Try again later."
    ))
}

/// TikTok's UX rules as checks: the privacy level must be one of the creator's current
/// options (no default), branded content cannot be private, and interactions the creator
/// switched off stay off.
pub fn validate_settings(
    creator: &CreatorInfo,
    mut s: PublishSettings,
) -> Result<PublishSettings, ApiError> {
    if !creator
        .privacy_level_options
        .iter()
        .any(|o| o.as_str() == s.privacy_level)
    {
        let options: Vec<&str> = creator
            .privacy_level_options
            .iter()
            .map(|o| o.as_str())
            .collect();
        return Err(ApiError::new(ErrorCode::PrivacyLevelNotAllowed)
            .detail(format!("Choose one of: {}.", options.join(", "))));
    }
    if s.brand_content_toggle && s.privacy_level == "SELF_ONLY" {
        return Err(ApiError::new(ErrorCode::BrandedContentPrivate));
    }
    s.disable_comment |= creator.comment_disabled;
    s.disable_duet |= creator.duet_disabled;
    s.disable_stitch |= creator.stitch_disabled;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creator() -> CreatorInfo {
        CreatorInfo {
            privacy_level_options: vec![PrivacyLevel::PublicToEveryone, PrivacyLevel::SelfOnly],
            comment_disabled: true,
            ..Default::default()
        }
    }

    fn settings(level: &str) -> PublishSettings {
        PublishSettings {
            privacy_level: level.into(),
            disable_comment: false,
            disable_duet: false,
            disable_stitch: false,
            video_cover_timestamp_ms: None,
            brand_content_toggle: false,
            brand_organic_toggle: false,
            is_aigc: false,
        }
    }

    #[test]
    fn privacy_must_be_one_of_the_creators_options() {
        assert!(validate_settings(&creator(), settings("FOLLOWER_OF_CREATOR")).is_err());
        let ok = validate_settings(&creator(), settings("PUBLIC_TO_EVERYONE")).expect("valid");
        assert!(
            ok.disable_comment,
            "comments stay off when the creator disabled them"
        );
    }

    #[test]
    fn branded_content_cannot_be_private() {
        let mut s = settings("SELF_ONLY");
        s.brand_content_toggle = true;
        assert_eq!(
            validate_settings(&creator(), s).err().map(|e| e.code),
            Some(ErrorCode::BrandedContentPrivate)
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let cfg = PublishConfig {
            media_mode: crate::config::MediaMode::Proxy,
            media_url_ttl: Duration::from_secs(7200),
            worker: true,
            worker_interval: Duration::from_secs(1),
            worker_lease: Duration::from_secs(30),
            deadline: Duration::from_secs(7200),
            post_id_wait: Duration::from_secs(3600),
            poll_initial: Duration::from_secs(3),
            poll_max: Duration::from_secs(60),
            webhook_tolerance: Duration::from_secs(300),
            abandoned_deletion_after: Duration::from_secs(600),
        };
        assert_eq!(backoff(&cfg, 0), Duration::from_secs(3));
        assert!(backoff(&cfg, 3) > backoff(&cfg, 2));
        assert_eq!(backoff(&cfg, 30), Duration::from_secs(60));
    }

    #[test]
    fn only_429_and_5xx_mean_nothing_was_created() {
        let api = |status, code: &str| TikTokError::Api {
            code: postiqo_tiktok::ApiErrorCode::parse(code),
            http_status: status,
            message: String::new(),
            log_id: None,
        };
        assert!(not_created(&api(429, "rate_limit_exceeded")));
        assert!(not_created(&api(503, "internal_error")));
        assert!(!not_created(&api(403, "url_ownership_unverified")));
        assert!(!not_created(&TikTokError::Timeout));
    }
}
