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
