//! Following a publish to its end: what TikTok says (status fetch or webhook) moves the video
//! and its job; cancel asks TikTok to stop.

use postiqo_domain::{
    AccessLoss, PublishFailure, PublishJob, STATUS_WINDOW, UserId, Video, VideoId, VideoStatus,
};
use postiqo_storage::{JobChange, RepoError};
use postiqo_tiktok::{PublishId, PublishState, PublishStatus};
use tracing::{info, warn};

use super::{PublishError, PublishService};
use crate::services::media::PinError;
use crate::services::ports::TikTokCallError;
use crate::services::tiktok_access::TikTokAccessError;

/// What TikTok told us about a publish, from a status fetch or a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TikTokUpdate {
    Processing(String),
    /// A draft reached the creator's TikTok inbox (`SEND_TO_USER_INBOX`,
    /// `post.publish.inbox_delivered`); the creator finishes it in the app.
    InboxDelivered,
    Complete {
        post_id: Option<String>,
    },
    Failed {
        reason: String,
    },
    /// A published post became (or stopped being) publicly visible: a takedown, or its
    /// reversal. The video stays PUBLISHED.
    Visibility {
        publicly_available: bool,
    },
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
            PublishState::SendToUserInbox => TikTokUpdate::InboxDelivered,
            other => TikTokUpdate::Processing(other.as_str().to_owned()),
        }
    }
}

impl PublishService {
    /// Applies what TikTok said (status fetch or webhook) to the video and its job. Safe to
    /// repeat: a duplicate update changes nothing.
    pub async fn apply_update(
        &self,
        owner: UserId,
        id: VideoId,
        publish_id: &str,
        update: TikTokUpdate,
    ) -> Result<(), PublishError> {
        for _ in 0..5 {
            let Some(video) = self.store.videos.get(owner, id, self.now()).await? else {
                return Ok(());
            };
            let matches = video
                .tiktok
                .as_ref()
                .is_some_and(|t| t.publish_id.as_deref() == Some(publish_id));
            if !matches {
                return Ok(());
            }
            let job = self.store.publish.job(owner, id).await?;
            match self.next_state(video, job, update.clone()).await {
                Ok(()) => return Ok(()),
                Err(RepoError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(PublishError::ConcurrentUpdate)
    }

    async fn next_state(
        &self,
        video: Video,
        job: Option<PublishJob>,
        update: TikTokUpdate,
    ) -> Result<(), RepoError> {
        let at = self.now();
        let expected = video.version;
        let public = video
            .tiktok
            .as_ref()
            .is_some_and(|t| t.settings.is_public());
        let backoff = self.backoff();
        let (next, job_next) = match update {
            TikTokUpdate::Processing(status) => {
                if video.status != VideoStatus::Publishing {
                    return Ok(());
                }
                let job_next = match job {
                    Some(j) => save(j.version, j.keep_tracking(at, &backoff)),
                    None => JobNext::Keep,
                };
                (video.clone().note_tiktok_status(&status, at), job_next)
            }
            // Nobody knows when the creator posts the draft: ask TikTok slowly until the wait
            // is over (a webhook moves it on at any time).
            TikTokUpdate::InboxDelivered => {
                let Ok(next) = video.clone().mark_sent_to_inbox(at) else {
                    return Ok(());
                };
                let job_next = match job {
                    Some(j) => save(
                        j.version,
                        j.await_post_id(at, &backoff, self.cfg.post_id_wait),
                    ),
                    None => JobNext::Keep,
                };
                (next, job_next)
            }
            TikTokUpdate::Complete { post_id } => {
                let username = self
                    .store
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
                let job_next = match job {
                    Some(j) if public && !has_post => save(
                        j.version,
                        j.await_post_id(at, &backoff, self.cfg.post_id_wait),
                    ),
                    Some(j) => JobNext::Remove(j.version),
                    None => JobNext::Keep,
                };
                (next, job_next)
            }
            TikTokUpdate::Visibility { publicly_available } => {
                let Ok(next) = video.clone().note_visibility(publicly_available, at) else {
                    return Ok(());
                };
                if next == video {
                    return Ok(());
                }
                info!(video_id = %video.id, publicly_available, "TikTok changed the post's visibility");
                (next, JobNext::Keep)
            }
            TikTokUpdate::Failed { reason } => {
                let failure = self.failure_for(&video, &reason).await;
                let Ok(next) = video.clone().mark_failed(failure, at) else {
                    return Ok(());
                };
                let job_next = match job {
                    Some(j) => JobNext::Remove(j.version),
                    None => JobNext::Keep,
                };
                (next, job_next)
            }
        };
        let change = match &job_next {
            JobNext::Keep => JobChange::Keep,
            JobNext::Save(job, v) => JobChange::Save {
                job,
                expected_version: Some(*v),
            },
            JobNext::Remove(v) => JobChange::Remove {
                expected_version: *v,
            },
        };
        if next == video && matches!(change, JobChange::Keep) {
            return Ok(());
        }
        self.store
            .publish
            .commit(&next, expected, change, None)
            .await?;
        if next.status != video.status {
            info!(video_id = %next.id, status = %next.status, "publish status changed");
            crate::metrics::publish_finished(&next);
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
    pub async fn poll(&self, video: Video, job: PublishJob) -> Result<(), PublishError> {
        let Some(publish_id) = job.publish_id.clone() else {
            return Ok(());
        };
        if let Err(wait) = self.acquire(video.owner, STATUS_WINDOW).await? {
            return self.delay(&video, job, wait).await;
        }
        let pid = PublishId::new(publish_id.clone());
        let lost = match self.tiktok.fetch_status(video.owner, &pid).await {
            Ok(status) => {
                let update = TikTokUpdate::from_status(&status);
                return self
                    .apply_update(video.owner, video.id, &publish_id, update)
                    .await;
            }
            Err(TikTokCallError::TikTok(e)) if e.is_retryable() => {
                warn!(video_id = %video.id, error = %e, "status fetch failed; backing off");
                let wait = self.backoff().delay(job.runs + 2);
                return self.delay(&video, job, wait).await;
            }
            Err(TikTokCallError::TikTok(e)) => {
                warn!(video_id = %video.id, error = %e, "status fetch refused");
                PublishFailure::status_refused(e.code().unwrap_or("tiktok_error"))
            }
            Err(TikTokCallError::Access(TikTokAccessError::NotConnected)) => {
                PublishFailure::access_lost_while_tracking(AccessLoss::NotConnected)
            }
            Err(TikTokCallError::Access(TikTokAccessError::ReauthRequired)) => {
                PublishFailure::access_lost_while_tracking(AccessLoss::ReauthRequired)
            }
            Err(TikTokCallError::Access(e)) => {
                let wait = self.backoff().delay(job.runs + 2);
                self.delay(&video, job, wait).await?;
                return Err(e.into());
            }
        };
        if video.status == VideoStatus::Publishing {
            self.fail(video, job, lost).await;
        } else {
            self.remove_job(&video, &job).await;
        }
        Ok(())
    }

    /// Asks TikTok to cancel an ongoing download; TikTok then fails the publish
    /// (`publish_cancelled`), which tracking records.
    pub async fn cancel(&self, user: UserId, id: VideoId) -> Result<Video, PublishError> {
        let video = self
            .store
            .videos
            .get(user, id, self.now())
            .await?
            .ok_or(PublishError::VideoNotFound)?;
        let publish_id = match (
            &video.status,
            video.tiktok.as_ref().and_then(|t| t.publish_id.clone()),
        ) {
            (VideoStatus::Publishing, Some(p)) => p,
            _ => return Err(PublishError::NothingToCancel),
        };
        self.tiktok
            .cancel_publish(user, &PublishId::new(publish_id))
            .await?;
        info!(video_id = %id, "cancel requested at TikTok");
        Ok(video)
    }
}

/// What happens to the job in the same transaction as the video's change.
enum JobNext {
    Keep,
    /// Replace the job read at this version.
    Save(PublishJob, u64),
    Remove(u64),
}

/// Saves the job's next state, or leaves the job alone when its state machine refuses the
/// move (an update that does not fit the job's phase changes only the video).
fn save(
    read_version: u64,
    next: Result<PublishJob, postiqo_domain::JobTransitionError>,
) -> JobNext {
    match next {
        Ok(job) => JobNext::Save(job, read_version),
        Err(e) => {
            warn!(error = %e, "job left as it is");
            JobNext::Keep
        }
    }
}
