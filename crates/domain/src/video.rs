use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    ContentType, ETag, ObjectKey, PublishFailure, PublishMode, PublishSettings, TikTokPublish,
    Title, UploadPlan, UserId, VideoAction, VideoId, VideoMedia, VideoSize, VideoStatus,
};

/// An illegal move in the video state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} while the video is {current}")]
pub struct TransitionError {
    pub current: VideoStatus,
    pub action: VideoAction,
}

/// One entry of a video's status history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusChange {
    pub status: VideoStatus,
    #[serde(serialize_with = "crate::rfc3339::serialize")]
    pub at: DateTime<Utc>,
    /// What happened without a change of status (TikTok took a published post down, or
    /// made it visible again); absent for status changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<HistoryEvent>,
}

/// Something TikTok reported about a published post that does not change its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HistoryEvent {
    /// `post.publish.publicly_available`, after a takedown.
    PubliclyAvailable,
    /// `post.publish.no_longer_publicaly_available` (TikTok's spelling): taken down or made
    /// private.
    NoLongerPubliclyAvailable,
}

impl HistoryEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PubliclyAvailable => "publicly_available",
            Self::NoLongerPubliclyAvailable => "no_longer_publicly_available",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::PubliclyAvailable, Self::NoLongerPubliclyAvailable]
            .into_iter()
            .find(|e| e.as_str() == raw)
    }
}

/// A video as Postiqo tracks it.
///
/// Fields are public for reading; state changes go through the transition methods, which
/// consume the value and return the next one, so a caller cannot keep using a stale copy.
/// `version` increases with every change and is what storage conditions its writes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Video {
    pub id: VideoId,
    pub owner: UserId,
    pub title: Title,
    pub content_type: ContentType,
    pub size: VideoSize,
    pub object_key: ObjectKey,
    pub status: VideoStatus,
    pub upload: UploadPlan,
    /// S3's id of the multipart upload while one is open.
    pub multipart_upload_id: Option<String>,
    /// The entity tag of the bytes upload-complete verified. Upload URLs stay valid for a
    /// while after that, so the object can still be overwritten; only this content is ever
    /// handed to TikTok. `None` before the upload is verified (and for videos verified before
    /// tags were kept).
    pub verified_etag: Option<ETag>,
    /// What the container says (duration, picture size, frame rate, codec), read at
    /// upload-complete; `None` before that (and for videos verified before it was kept).
    pub media: Option<VideoMedia>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub history: Vec<StatusChange>,
    /// The current or last TikTok publish.
    pub tiktok: Option<TikTokPublish>,
    pub version: u64,
}

impl Video {
    /// A new video waiting for its upload.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: VideoId,
        owner: UserId,
        title: Title,
        content_type: ContentType,
        size: VideoSize,
        upload: UploadPlan,
        multipart_upload_id: Option<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            owner,
            title,
            content_type,
            size,
            object_key: ObjectKey::for_video(owner, id),
            status: VideoStatus::Pending,
            upload,
            multipart_upload_id,
            verified_etag: None,
            media: None,
            created_at: now,
            updated_at: now,
            history: vec![StatusChange {
                status: VideoStatus::Pending,
                at: now,
                event: None,
            }],
            tiktok: None,
            version: 1,
        }
    }

    fn refuse(&self, action: VideoAction) -> TransitionError {
        TransitionError {
            current: self.status,
            action,
        }
    }

    fn moved_to(mut self, status: VideoStatus, now: DateTime<Utc>) -> Self {
        self.status = status;
        self.history.push(StatusChange {
            status,
            at: now,
            event: None,
        });
        self.touched(now)
    }

    fn touched(mut self, now: DateTime<Utc>) -> Self {
        self.updated_at = now;
        self.version += 1;
        self
    }

    /// The bytes are in S3 and were verified: PENDING → UPLOADED, pinning the verified
    /// content by its entity tag, with what its container says.
    pub fn complete_upload(
        self,
        verified: ETag,
        media: Option<VideoMedia>,
        now: DateTime<Utc>,
    ) -> Result<Self, TransitionError> {
        match self.status {
            VideoStatus::Pending => {
                let mut next = self.moved_to(VideoStatus::Uploaded, now);
                next.multipart_upload_id = None;
                next.verified_etag = Some(verified);
                next.media = media;
                Ok(next)
            }
            VideoStatus::Uploaded
            | VideoStatus::Scheduled
            | VideoStatus::Publishing
            | VideoStatus::SentToInbox
            | VideoStatus::Published
            | VideoStatus::Failed => Err(self.refuse(VideoAction::CompleteUpload)),
        }
    }

    /// Checks that part URLs may be handed out (again): only for a pending multipart upload.
    pub fn ensure_parts_requestable(&self) -> Result<(), TransitionError> {
        match (self.status, self.upload) {
            (VideoStatus::Pending, UploadPlan::Multipart { .. })
                if self.multipart_upload_id.is_some() =>
            {
                Ok(())
            }
            _ => Err(self.refuse(VideoAction::RequestUploadParts)),
        }
    }

    /// Titles can change until TikTok has them: not while publishing, not once published or
    /// in the creator's inbox. A scheduled publish sends the title it has when it starts.
    pub fn edit_title(mut self, title: Title, now: DateTime<Utc>) -> Result<Self, TransitionError> {
        match self.status {
            VideoStatus::Pending
            | VideoStatus::Uploaded
            | VideoStatus::Scheduled
            | VideoStatus::Failed => {
                self.title = title;
                Ok(self.touched(now))
            }
            VideoStatus::Publishing | VideoStatus::SentToInbox | VideoStatus::Published => {
                Err(self.refuse(VideoAction::EditTitle))
            }
        }
    }

    /// A video may be deleted unless TikTok may still be pulling its bytes. Deleting a
    /// scheduled video cancels its schedule (its job goes in the same transaction).
    pub fn ensure_deletable(&self) -> Result<(), TransitionError> {
        match self.status {
            VideoStatus::Publishing => Err(self.refuse(VideoAction::Delete)),
            VideoStatus::Pending
            | VideoStatus::Uploaded
            | VideoStatus::Scheduled
            | VideoStatus::SentToInbox
            | VideoStatus::Published
            | VideoStatus::Failed => Ok(()),
        }
    }

    /// UPLOADED (or FAILED) → SCHEDULED: the attempt, with its `scheduled_at`, is recorded
    /// now; TikTok is called only when it is due.
    pub fn schedule(
        self,
        attempt: TikTokPublish,
        now: DateTime<Utc>,
    ) -> Result<Self, TransitionError> {
        match self.status {
            VideoStatus::Uploaded | VideoStatus::Failed if attempt.scheduled_at.is_some() => {
                let mut next = self.moved_to(VideoStatus::Scheduled, now);
                next.tiktok = Some(attempt);
                Ok(next)
            }
            _ => Err(self.refuse(VideoAction::Schedule)),
        }
    }

    /// SCHEDULED → SCHEDULED at another time.
    pub fn reschedule(
        mut self,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Self, TransitionError> {
        match (self.status, self.tiktok.as_mut()) {
            (VideoStatus::Scheduled, Some(t)) => {
                t.scheduled_at = Some(at);
                Ok(self.touched(now))
            }
            _ => Err(self.refuse(VideoAction::Reschedule)),
        }
    }

    /// SCHEDULED → UPLOADED: the schedule is dropped; nothing was sent to TikTok.
    pub fn cancel_schedule(self, now: DateTime<Utc>) -> Result<Self, TransitionError> {
        match self.status {
            VideoStatus::Scheduled => {
                let mut next = self.moved_to(VideoStatus::Uploaded, now);
                next.tiktok = None;
                Ok(next)
            }
            _ => Err(self.refuse(VideoAction::CancelSchedule)),
        }
    }

    /// SCHEDULED → PUBLISHING when it is due, with the choices checked against the
    /// creator's options of now.
    pub fn start_scheduled(
        mut self,
        settings: PublishSettings,
        now: DateTime<Utc>,
    ) -> Result<Self, TransitionError> {
        match (self.status, self.tiktok.as_mut()) {
            (VideoStatus::Scheduled, Some(t)) => {
                t.settings = settings;
                t.started_at = now;
                Ok(self.moved_to(VideoStatus::Publishing, now))
            }
            _ => Err(self.refuse(VideoAction::StartScheduled)),
        }
    }

    /// The schedule's due time, while the video is scheduled.
    pub fn scheduled_at(&self) -> Option<DateTime<Utc>> {
        match self.status {
            VideoStatus::Scheduled => self.tiktok.as_ref().and_then(|t| t.scheduled_at),
            _ => None,
        }
    }

    /// The publish in flight (or done) is an inbox draft.
    pub fn is_draft(&self) -> bool {
        self.tiktok
            .as_ref()
            .is_some_and(|t| t.mode == PublishMode::Draft)
    }

    /// UPLOADED (or FAILED, as an explicit retry) → PUBLISHING, recording the attempt before
    /// TikTok is called.
    pub fn start_publish(
        self,
        attempt: TikTokPublish,
        now: DateTime<Utc>,
    ) -> Result<Self, TransitionError> {
        match self.status {
            VideoStatus::Uploaded | VideoStatus::Failed => {
                let mut next = self.moved_to(VideoStatus::Publishing, now);
                next.tiktok = Some(attempt);
                Ok(next)
            }
            VideoStatus::Pending
            | VideoStatus::Scheduled
            | VideoStatus::Publishing
            | VideoStatus::SentToInbox
            | VideoStatus::Published => Err(self.refuse(VideoAction::StartPublish)),
        }
    }

    /// TikTok's init answered with its publish id.
    pub fn record_publish_id(
        mut self,
        publish_id: String,
        now: DateTime<Utc>,
    ) -> Result<Self, TransitionError> {
        match (self.status, self.tiktok.as_mut()) {
            (VideoStatus::Publishing, Some(t)) if t.publish_id.is_none() => {
                t.publish_id = Some(publish_id);
                Ok(self.touched(now))
            }
            _ => Err(self.refuse(VideoAction::RecordPublishId)),
        }
    }

    /// Notes TikTok's latest status while processing (no state change).
    pub fn note_tiktok_status(mut self, status: &str, now: DateTime<Utc>) -> Self {
        if let Some(t) = self.tiktok.as_mut()
            && t.tiktok_status.as_deref() != Some(status)
        {
            t.tiktok_status = Some(status.to_owned());
            return self.touched(now);
        }
        self
    }

    /// PUBLISHING (a draft: SENT_TO_INBOX) → SENT_TO_INBOX: TikTok delivered the draft to
    /// the creator's inbox. Repeats change nothing.
    pub fn mark_sent_to_inbox(self, now: DateTime<Utc>) -> Result<Self, TransitionError> {
        match self.status {
            VideoStatus::Publishing if self.is_draft() => {
                let mut next = self.moved_to(VideoStatus::SentToInbox, now);
                if let Some(t) = next.tiktok.as_mut() {
                    t.tiktok_status = Some("SEND_TO_USER_INBOX".into());
                }
                Ok(next)
            }
            VideoStatus::SentToInbox => Ok(self),
            _ => Err(self.refuse(VideoAction::MarkSentToInbox)),
        }
    }

    /// PUBLISHING (or SENT_TO_INBOX, when the creator posted the draft) → PUBLISHED.
    /// Idempotent for the post id: a later call on a PUBLISHED video may add the post id once
    /// TikTok's moderation released it.
    pub fn mark_published(
        mut self,
        post_id: Option<String>,
        post_url: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Self, TransitionError> {
        match self.status {
            VideoStatus::Publishing | VideoStatus::SentToInbox => {
                if let Some(t) = self.tiktok.as_mut() {
                    t.tiktok_status = Some("PUBLISH_COMPLETE".into());
                    t.post_id = post_id.or(t.post_id.take());
                    t.post_url = post_url.or(t.post_url.take());
                }
                Ok(self.moved_to(VideoStatus::Published, now))
            }
            VideoStatus::Published => match (self.tiktok.as_mut(), post_id) {
                (Some(t), Some(id)) if t.post_id.is_none() => {
                    t.post_id = Some(id);
                    t.post_url = post_url;
                    Ok(self.touched(now))
                }
                _ => Ok(self),
            },
            VideoStatus::Pending
            | VideoStatus::Uploaded
            | VideoStatus::Scheduled
            | VideoStatus::Failed => Err(self.refuse(VideoAction::MarkPublished)),
        }
    }

    /// TikTok says a published post can (or can no longer) be seen publicly: noted with the
    /// time and a history entry; the video stays PUBLISHED. A repeat of what is already
    /// known changes nothing (webhooks are delivered at least once).
    pub fn note_visibility(
        mut self,
        publicly_available: bool,
        now: DateTime<Utc>,
    ) -> Result<Self, TransitionError> {
        if self.status != VideoStatus::Published {
            return Err(self.refuse(VideoAction::NoteVisibility));
        }
        let Some(t) = self.tiktok.as_mut() else {
            return Err(self.refuse(VideoAction::NoteVisibility));
        };
        let before = t.publicly_available.replace(publicly_available);
        if before == Some(publicly_available) {
            return Ok(self);
        }
        t.visibility_changed_at = Some(now);
        // The first release of a public post is the publish itself (it brings the post id):
        // only a change from what TikTok said before is an event of its own.
        if before.is_none() && publicly_available {
            return Ok(self.touched(now));
        }
        self.history.push(StatusChange {
            status: VideoStatus::Published,
            at: now,
            event: Some(if publicly_available {
                HistoryEvent::PubliclyAvailable
            } else {
                HistoryEvent::NoLongerPubliclyAvailable
            }),
        });
        Ok(self.touched(now))
    }

    /// Whether a TikTok post id is still to come, so a client should keep polling.
    ///
    /// Only public posts get one, after TikTok's moderation; Postiqo asks for it for `wait`
    /// after the video became PUBLISHED. Private posts (`SELF_ONLY`, friends, followers) never
    /// do: they are done at PUBLISHED, without a post id or URL.
    pub fn post_id_expected(&self, now: DateTime<Utc>, wait: chrono::Duration) -> bool {
        let Some(t) = self.tiktok.as_ref() else {
            return false;
        };
        if t.post_id.is_some() || !t.settings.is_public() {
            return false;
        }
        match self.status {
            VideoStatus::Publishing => true,
            VideoStatus::Published => self
                .history
                .iter()
                .rev()
                .find(|c| c.status == VideoStatus::Published)
                .is_some_and(|c| now < c.at + wait),
            VideoStatus::Pending
            | VideoStatus::Uploaded
            | VideoStatus::Scheduled
            | VideoStatus::SentToInbox
            | VideoStatus::Failed => false,
        }
    }

    /// PUBLISHING (or SCHEDULED, when it could not start) → FAILED with the reason.
    pub fn mark_failed(
        mut self,
        failure: PublishFailure,
        now: DateTime<Utc>,
    ) -> Result<Self, TransitionError> {
        match self.status {
            VideoStatus::Publishing | VideoStatus::Scheduled => {
                if let Some(t) = self.tiktok.as_mut() {
                    t.failure = Some(failure);
                }
                Ok(self.moved_to(VideoStatus::Failed, now))
            }
            VideoStatus::Pending
            | VideoStatus::Uploaded
            | VideoStatus::SentToInbox
            | VideoStatus::Published
            | VideoStatus::Failed => Err(self.refuse(VideoAction::MarkFailed)),
        }
    }
}

#[cfg(test)]
#[path = "video_schedule_tests.rs"]
mod schedule_tests;

#[cfg(test)]
#[path = "video_tests.rs"]
mod tests;
