//! What a TikTok publish is made of, and what its outcome means, independent of TikTok's
//! wire format (the client crate maps that) and of storage.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The creator's choices for one publish (TikTok's `post_info` minus the title, which comes
/// from the video). There is deliberately no default privacy level: TikTok's rules require
/// the user to pick one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishSettings {
    pub privacy_level: String,
    pub disable_comment: bool,
    pub disable_duet: bool,
    pub disable_stitch: bool,
    pub video_cover_timestamp_ms: Option<u32>,
    pub brand_content_toggle: bool,
    pub brand_organic_toggle: bool,
    pub is_aigc: bool,
}

impl PublishSettings {
    /// A draft's settings: TikTok's inbox endpoint takes none of the posting choices (the
    /// creator makes them in the TikTok app), so none are recorded.
    pub fn draft() -> Self {
        Self {
            privacy_level: String::new(),
            disable_comment: false,
            disable_duet: false,
            disable_stitch: false,
            video_cover_timestamp_ms: None,
            brand_content_toggle: false,
            brand_organic_toggle: false,
            is_aigc: false,
        }
    }
}

/// How a video goes to TikTok.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PublishMode {
    /// Direct Post: TikTok publishes it with the creator's choices.
    #[default]
    Direct,
    /// Inbox upload: TikTok puts it in the creator's inbox, to finish in the TikTok app.
    Draft,
}

/// Why a publish failed, as a stable code with a human message and whether trying again can
/// help.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishFailure {
    /// Stable code, e.g. `url_ownership_unverified`, `duration_check_failed`,
    /// `publish_outcome_unknown`, `publish_timeout`.
    pub code: String,
    pub message: String,
    /// Whether publishing again may succeed without changing anything.
    pub retryable: bool,
}

impl PublishFailure {
    pub fn new(code: &str, message: &str, retryable: bool) -> Self {
        Self {
            code: code.to_owned(),
            message: message.to_owned(),
            retryable,
        }
    }

    /// The request to TikTok may or may not have created a post: never retried silently.
    pub fn outcome_unknown() -> Self {
        Self::new(
            "publish_outcome_unknown",
            "Postiqo stopped before learning whether TikTok accepted the publish. Check TikTok before publishing again.",
            false,
        )
    }

    /// The object no longer holds the bytes upload-complete verified (it was overwritten
    /// through a still-valid upload URL): those bytes are never handed to TikTok.
    pub fn upload_changed() -> Self {
        Self::new(
            "upload_changed",
            "The video's stored bytes changed after they were verified, so they were not sent to TikTok. Delete this video and upload it again.",
            false,
        )
    }

    /// Every instance was down at the due time, and starting it this late would post at a
    /// time nobody chose.
    pub fn schedule_missed() -> Self {
        Self::new(
            "schedule_missed",
            "Postiqo could not start this scheduled publish on time. Publish or schedule it again.",
            true,
        )
    }

    /// The creator's TikTok inbox holds TikTok's maximum of pending drafts.
    pub fn inbox_full() -> Self {
        Self::new(
            "tiktok_inbox_full",
            "The creator's TikTok inbox already holds 5 drafts not yet posted. Post or delete one in the TikTok app, then try again.",
            true,
        )
    }

    pub fn timeout() -> Self {
        Self::new(
            "publish_timeout",
            "TikTok did not finish processing the video within the deadline.",
            true,
        )
    }
}

/// Everything Postiqo knows about the current (or last) publish of a video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TikTokPublish {
    /// Ours, created before TikTok is called: ties retries and the tracking job to one try.
    pub attempt_id: String,
    pub settings: PublishSettings,
    pub started_at: DateTime<Utc>,
    /// TikTok's id, once its init answered.
    pub publish_id: Option<String>,
    /// TikTok's last reported status (`PROCESSING_DOWNLOAD`, `PUBLISH_COMPLETE`, ...).
    pub tiktok_status: Option<String>,
    /// A 19-digit number: kept as a string so no client rounds it.
    pub post_id: Option<String>,
    pub post_url: Option<String>,
    pub failure: Option<PublishFailure>,
    /// TikTok's last word on whether the published post can be seen publicly
    /// (`post.publish.publicly_available` / `no_longer_publicaly_available`); `None` until
    /// it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publicly_available: Option<bool>,
    /// When TikTok last changed `publicly_available`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility_changed_at: Option<DateTime<Utc>>,
    /// Direct Post or inbox draft (stored before drafts existed: direct).
    #[serde(default)]
    pub mode: PublishMode,
    /// When a scheduled publish is (or was) due.
    #[serde(default)]
    pub scheduled_at: Option<DateTime<Utc>>,
}

/// The public URL of a post (the convention TikTok's web app uses).
pub fn post_url(username: Option<&str>, post_id: &str) -> String {
    match username {
        Some(u) if !u.is_empty() => format!("https://www.tiktok.com/@{u}/video/{post_id}"),
        _ => format!("https://www.tiktok.com/video/{post_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_urls() {
        assert_eq!(
            post_url(Some("alice"), "7301234567890123456"),
            "https://www.tiktok.com/@alice/video/7301234567890123456"
        );
        assert_eq!(post_url(None, "1"), "https://www.tiktok.com/video/1");
    }
}
