//! Starting a publish: the idempotency key, the intent (video PUBLISHING and its job, in one
//! transaction), and TikTok's init, first from the request and again from the worker.

use std::time::Duration;

use chrono::{DateTime, Utc};
use postiqo_domain::{
    AccessLoss, INIT_WINDOW, PublishFailure, PublishJob, PublishMode, PublishSettings,
    TikTokPublish, TransitionError, UserId, Video, VideoAction, VideoId, VideoStatus,
};
use postiqo_storage::{IdempotencyBegin, JobChange, RepoError};
use postiqo_tiktok::{PostInfo, PrivacyLevel, PublishId};
use serde::Serialize;
use tracing::{info, warn};

use super::check::{check_draft_media_rules, check_media_rules, check_media_when_scheduling};
use super::creator::creator_options;
use super::{PublishError, PublishService};
use crate::credentials::secrets::digest;
use crate::services::media::PinError;
use crate::services::ports::TikTokCallError;
use crate::services::tiktok_access::TikTokAccessError;

const IDEMPOTENCY_TTL_HOURS: i64 = 24;
/// How long a request waits for a concurrent one with the same key (50 × 100 ms).
const IDEMPOTENCY_WAIT_ROUNDS: u32 = 50;

/// Outcome of looking up an idempotency key.
#[derive(Debug, PartialEq, Eq)]
pub enum Idempotent {
    /// New key: do the work, then `finish_idempotency` (or `abandon_idempotency`).
    Proceed { key_digest: String },
    /// Same key and same request as before: this is the earlier answer.
    Replay { status: u16, body: String },
}

/// What an idempotent publish came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Once {
    /// This request ran; the answer recorded for its key (the video, rendered).
    Ran(String),
    /// The key was used before for the same request: the answer recorded then.
    Replayed { status: u16, body: String },
}

/// The status recorded with an accepted publish's answer (a replay answers with it again).
const ACCEPTED: u16 = 202;

/// What the caller asked for: the creator's choices (none for a draft), how it goes to
/// TikTok, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishPlan {
    pub settings: PublishSettings,
    pub mode: PublishMode,
    pub scheduled_at: Option<DateTime<Utc>>,
}

impl PublishPlan {
    /// Direct Post, now: what `POST /publish` did before schedules and drafts.
    pub fn now(settings: PublishSettings) -> Self {
        Self {
            settings,
            mode: PublishMode::Direct,
            scheduled_at: None,
        }
    }
}

#[derive(Serialize)]
struct RequestFingerprint<'a> {
    video: String,
    settings: &'a PublishSettings,
    // Absent for a direct publish now, so keys recorded before these existed still match.
    #[serde(skip_serializing_if = "is_direct")]
    mode: PublishMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_at: Option<DateTime<Utc>>,
}

fn is_direct(m: &PublishMode) -> bool {
    *m == PublishMode::Direct
}

/// TikTok's `post_info` for the video and the creator's (validated) choices.
fn post_info(video: &Video, s: &PublishSettings) -> PostInfo {
    let mut post = PostInfo::new(PrivacyLevel::parse(&s.privacy_level));
    post.title = Some(video.title.as_str().to_owned()).filter(|t| !t.is_empty());
    post.disable_comment = s.disable_comment;
    post.disable_duet = s.disable_duet;
    post.disable_stitch = s.disable_stitch;
    post.video_cover_timestamp_ms = s.video_cover_timestamp_ms;
    post.brand_content_toggle = s.brand_content_toggle;
    post.brand_organic_toggle = s.brand_organic_toggle;
    post.is_aigc = Some(s.is_aigc);
    post
}

impl PublishService {
    /// Checks an idempotency key: a replay gets the stored answer, a different request with
    /// the same key is refused, a concurrent one waits briefly for the first to finish.
    pub async fn idempotency(
        &self,
        user: UserId,
        key: &str,
        video: VideoId,
        settings: &PublishSettings,
    ) -> Result<Idempotent, PublishError> {
        self.idempotency_for(user, key, video, &PublishPlan::now(settings.clone()))
            .await
    }

    /// [`Self::idempotency`] for any plan (a schedule, a draft).
    pub async fn idempotency_for(
        &self,
        user: UserId,
        key: &str,
        video: VideoId,
        plan: &PublishPlan,
    ) -> Result<Idempotent, PublishError> {
        let key_digest = digest(key);
        let fingerprint = serde_json::to_string(&RequestFingerprint {
            video: video.to_string(),
            settings: &plan.settings,
            mode: plan.mode,
            scheduled_at: plan.scheduled_at,
        })
        .map_err(PublishError::Fingerprint)?;
        let request_hash = digest(&fingerprint);
        let expires = self.now() + chrono::Duration::hours(IDEMPOTENCY_TTL_HOURS);
        for _ in 0..IDEMPOTENCY_WAIT_ROUNDS {
            match self
                .store
                .idempotency
                .begin(user, &key_digest, &request_hash, expires, self.now())
                .await?
            {
                IdempotencyBegin::Started => return Ok(Idempotent::Proceed { key_digest }),
                IdempotencyBegin::Done {
                    request_hash: h, ..
                }
                | IdempotencyBegin::InProgress { request_hash: h }
                    if h != request_hash =>
                {
                    return Err(PublishError::IdempotencyKeyReused);
                }
                IdempotencyBegin::Done { status, body, .. } => {
                    return Ok(Idempotent::Replay { status, body });
                }
                IdempotencyBegin::InProgress { .. } => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
            }
        }
        Err(PublishError::IdempotencyInProgress)
    }

    pub async fn finish_idempotency(
        &self,
        user: UserId,
        key_digest: &str,
        status: u16,
        body: &str,
    ) {
        if let Err(e) = self
            .store
            .idempotency
            .finish(user, key_digest, status, body)
            .await
        {
            warn!(error = ?e, "idempotency record not completed; a retry with this key will wait and then run again");
        }
    }

    pub async fn abandon_idempotency(&self, user: UserId, key_digest: &str) {
        if let Err(e) = self.store.idempotency.abandon(user, key_digest).await {
            warn!(error = ?e, "idempotency record not removed; it expires by TTL");
        }
    }

    /// A publish under an idempotency key, as one use case: the same key with the same
    /// request answers what the first one answered (`Once::Replayed`, no second TikTok call);
    /// a new key runs [`Self::publish_plan`] and records the answer `render` makes of the
    /// video (the caller's representation, replayed byte for byte); a failure frees the key,
    /// since nothing changed, so the same request may be sent again.
    pub async fn publish_once<R>(
        &self,
        user: UserId,
        key: &str,
        id: VideoId,
        plan: PublishPlan,
        render: R,
    ) -> Result<Once, PublishError>
    where
        R: FnOnce(Video) -> Result<String, serde_json::Error>,
    {
        let key_digest = match self.idempotency_for(user, key, id, &plan).await? {
            Idempotent::Replay { status, body } => return Ok(Once::Replayed { status, body }),
            Idempotent::Proceed { key_digest } => key_digest,
        };
        match self.publish_plan(user, id, plan).await {
            Ok(video) => {
                // The publish happened: an answer that cannot be rendered leaves the key
                // running (it expires), never free for a second publish.
                let body = render(video).map_err(PublishError::Fingerprint)?;
                self.finish_idempotency(user, &key_digest, ACCEPTED, &body)
                    .await;
                Ok(Once::Ran(body))
            }
            Err(e) => {
                self.abandon_idempotency(user, &key_digest).await;
                Err(e)
            }
        }
    }

    /// Publishes an UPLOADED (or FAILED) video. Returns the video as it stands afterwards:
    /// PUBLISHING, or FAILED when TikTok refused the init outright.
    pub async fn publish(
        &self,
        user: UserId,
        id: VideoId,
        requested: PublishSettings,
    ) -> Result<Video, PublishError> {
        self.publish_plan(user, id, PublishPlan::now(requested))
            .await
    }

    /// Publishes (or drafts) now, or schedules it: returns the video PUBLISHING (or FAILED
    /// when TikTok refused the init outright), or SCHEDULED.
    pub async fn publish_plan(
        &self,
        user: UserId,
        id: VideoId,
        plan: PublishPlan,
    ) -> Result<Video, PublishError> {
        let video = self
            .store
            .videos
            .get(user, id, self.now())
            .await?
            .ok_or(PublishError::VideoNotFound)?;
        if !matches!(video.status, VideoStatus::Uploaded | VideoStatus::Failed) {
            return Err(TransitionError {
                current: video.status,
                action: VideoAction::StartPublish,
            }
            .into());
        }
        if let Some(due) = plan.scheduled_at {
            // TikTok is not called before the due time (its per-minute windows are for
            // then); the choices are checked against the creator's options of that moment.
            self.check_schedule_range(due)?;
            self.check_pinned(&video).await?;
            self.check_scope(video.owner, plan.mode).await?;
            check_media_when_scheduling(&video, plan.mode, &plan.settings)?;
            let settings = plan.settings.clone();
            return self.schedule(video, plan, settings).await;
        }
        let settings = self.start_checks(&video, &plan).await?;

        let at = self.now();
        let attempt = TikTokPublish {
            attempt_id: uuid::Uuid::new_v4().to_string(),
            settings,
            started_at: at,
            publish_id: None,
            tiktok_status: None,
            post_id: None,
            post_url: None,
            failure: None,
            publicly_available: None,
            visibility_changed_at: None,
            mode: plan.mode,
            scheduled_at: None,
        };
        let job = PublishJob::start(
            user,
            id,
            attempt.attempt_id.clone(),
            &self.instance,
            at,
            self.cfg.worker_lease,
            self.cfg.deadline,
        );
        let expected = video.version;
        let publishing = video.start_publish(attempt, at)?;
        // A conflict means another publish of this video won the race.
        self.store
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
            .await?;
        info!(video_id = %id, attempt = %job.attempt_id, "publish started");
        let after = self.begin_init(publishing, job).await;
        self.refused_as_inbox_full(user, after).await
    }

    /// The checks every start goes through, immediate or scheduled (again when it is due):
    /// the verified bytes are still there, and the creator may post these choices now
    /// (fresh creator info), and the media is inside TikTok's limits. A draft needs
    /// `video.upload`, none of the choices, and no creator info. Returns the choices as TikTok
    /// will get them.
    pub(super) async fn start_checks(
        &self,
        video: &Video,
        plan: &PublishPlan,
    ) -> Result<PublishSettings, PublishError> {
        self.check_pinned(video).await?;
        if plan.mode == PublishMode::Draft {
            self.check_draft(video.owner).await?;
            check_draft_media_rules(video)?;
            return Ok(PublishSettings::draft());
        }
        let creator = self.creator_info(video.owner).await?;
        let settings = plan
            .settings
            .clone()
            .validated(&creator_options(&creator))?;
        // TikTok's limits on the media itself, against this creator's maximum duration.
        check_media_rules(video, &settings, &creator)?;
        Ok(settings)
    }

    /// The verified bytes are still what is stored. Refused before anything changes, so the
    /// owner learns it now rather than from a failed publish (the init checks again: the
    /// object can change in between).
    async fn check_pinned(&self, video: &Video) -> Result<(), PublishError> {
        match self.media.pinned(video).await {
            Ok(_) => Ok(()),
            Err(PinError::Changed) => Err(PublishError::UploadChanged { gone: false }),
            Err(PinError::Missing) => Err(PublishError::UploadChanged { gone: true }),
            Err(PinError::Storage(e)) => Err(PublishError::Blobs(e)),
        }
    }

    /// The user granted the scope this mode needs (from our records: no TikTok call).
    async fn check_scope(&self, user: UserId, mode: PublishMode) -> Result<(), PublishError> {
        let profile = self
            .store
            .users
            .get(user)
            .await?
            .ok_or(PublishError::AccountGone)?;
        match mode {
            PublishMode::Direct if !profile.has_scope("video.publish") => {
                Err(PublishError::ScopeMissing)
            }
            PublishMode::Draft if !profile.has_scope("video.upload") => {
                Err(PublishError::UploadScopeMissing)
            }
            PublishMode::Direct | PublishMode::Draft => Ok(()),
        }
    }

    /// The intent is stored and our lease held: init now, or when TikTok's 6 inits a minute
    /// allow (they decide only *when* init happens).
    pub(super) async fn begin_init(&self, publishing: Video, job: PublishJob) -> Video {
        let id = publishing.id;
        match self.acquire(publishing.owner, INIT_WINDOW).await {
            Ok(Ok(())) => self.run_init(publishing, job).await,
            Ok(Err(wait)) => {
                info!(video_id = %id, wait_ms = wait.as_millis() as u64, "init deferred by TikTok's rate limit");
                self.reschedule_init_after(publishing, job, wait).await
            }
            Err(e) => {
                warn!(video_id = %id, error = ?e, "rate window unreadable; init deferred");
                self.reschedule_init(publishing, job).await
            }
        }
    }

    /// Calls TikTok's init for a video in PUBLISHING whose job we hold (in `Initiating`), and
    /// records the outcome. Never returns an error: every outcome is a state of the video.
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
                warn!(video_id = %video.id, error = %e, "media URL could not be made; will retry");
                return self.reschedule_init(video, job).await;
            }
        };
        let answer = match attempt.mode {
            PublishMode::Draft => self.tiktok.init_inbox(owner, &url).await,
            PublishMode::Direct => {
                let post = post_info(&video, &attempt.settings);
                self.tiktok.init_publish(owner, &post, &url).await
            }
        };
        let failure = match answer {
            Ok(publish_id) => return self.record_publish_id(video, job, publish_id).await,
            // TikTok answered that it throttles or fails: it created nothing.
            Err(TikTokCallError::TikTok(e)) if e.is_transient() => {
                warn!(video_id = %video.id, error = %e, "TikTok refused the init for now; will retry");
                return self.reschedule_init(video, job).await;
            }
            Err(TikTokCallError::TikTok(e)) if e.outcome_unknown() => {
                // The request may have reached TikTok: never guess, never init twice.
                warn!(video_id = %video.id, error = %e, "init outcome unknown");
                PublishFailure::outcome_unknown()
            }
            Err(TikTokCallError::TikTok(e))
                if e.code() == Some(super::inbox::TIKTOK_PENDING_SHARES) =>
            {
                warn!(video_id = %video.id, "TikTok says the creator's inbox is full");
                PublishFailure::inbox_full()
            }
            Err(TikTokCallError::TikTok(e)) => {
                let failure = PublishFailure::init_refused(e.code().unwrap_or("tiktok_error"));
                warn!(video_id = %video.id, code = %failure.code, "TikTok refused the publish");
                failure
            }
            // No init was sent: no usable token.
            Err(TikTokCallError::Access(e)) => match e {
                TikTokAccessError::NotConnected => {
                    PublishFailure::access_lost_before_init(AccessLoss::NotConnected)
                }
                TikTokAccessError::ReauthRequired => {
                    PublishFailure::access_lost_before_init(AccessLoss::ReauthRequired)
                }
                TikTokAccessError::Storage(RepoError::Unavailable(_)) => {
                    return self.reschedule_init(video, job).await;
                }
                other => {
                    warn!(video_id = %video.id, error = %other, "no TikTok token for the init");
                    PublishFailure::tiktok_unreachable()
                }
            },
        };
        self.fail(video, job, failure).await
    }

    /// The worker's second try at init after TikTok answered 429/5xx. The job is switched back
    /// to "initiating" (under our lease) before TikTok is called, so a crash during this call
    /// too ends as "outcome unknown", never as a second init.
    pub async fn retry_init(&self, video: Video, job: PublishJob) -> Result<(), PublishError> {
        if let Err(wait) = self.acquire(video.owner, INIT_WINDOW).await? {
            return self.delay(&video, job, wait).await;
        }
        let initiating = match job.clone().begin_init_retry(self.now()) {
            Ok(j) => j,
            Err(e) => {
                warn!(video_id = %video.id, error = %e, "init retry skipped");
                return Ok(());
            }
        };
        self.store
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

    /// Stores TikTok's publish id with the video and moves the job to tracking, in one
    /// transaction, retrying a few times: TikTok has the post now, losing its id would leave
    /// the publish "unknown".
    async fn record_publish_id(
        &self,
        video: Video,
        job: PublishJob,
        publish_id: PublishId,
    ) -> Video {
        let at = self.now();
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
            let tracked = match job.clone().record_publish_id(
                publish_id.as_str().to_owned(),
                at,
                self.cfg.poll_initial,
            ) {
                Ok(j) => j,
                Err(e) => {
                    warn!(video_id = %video.id, error = %e, "publish id not stored");
                    return video;
                }
            };
            match self
                .store
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
                        .store
                        .videos
                        .get(next.owner, next.id, self.now())
                        .await
                        .ok()
                        .flatten();
                    let reread_job = self
                        .store
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
}
