//! TikTok's posting rules, in one place: what a creator may choose, how often TikTok lets one
//! user call it, and what each of TikTok's refusal and failure codes means for the user.
//! The services enforce these; the TikTok client only carries them over the wire.

use std::time::Duration;

use crate::{PublishFailure, PublishSettings};

pub const PRIVACY_PUBLIC_TO_EVERYONE: &str = "PUBLIC_TO_EVERYONE";
pub const PRIVACY_SELF_ONLY: &str = "SELF_ONLY";

/// What TikTok's creator info allows this creator now (the part the rules need).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreatorOptions {
    pub privacy_level_options: Vec<String>,
    pub comment_disabled: bool,
    pub duet_disabled: bool,
    pub stitch_disabled: bool,
}

/// Settings TikTok's UX rules refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("privacy level is not one of the creator's options ({})", options.join(", "))]
    PrivacyLevelNotAllowed { options: Vec<String> },
    #[error("branded content cannot be private")]
    BrandedContentPrivate,
}

impl PublishSettings {
    /// TikTok's UX rules as checks: the privacy level must be one of the creator's current
    /// options (no default), branded content cannot be private, and interactions the creator
    /// switched off stay off.
    pub fn validated(mut self, creator: &CreatorOptions) -> Result<Self, SettingsError> {
        if !creator.privacy_level_options.contains(&self.privacy_level) {
            return Err(SettingsError::PrivacyLevelNotAllowed {
                options: creator.privacy_level_options.clone(),
            });
        }
        if self.brand_content_toggle && self.privacy_level == PRIVACY_SELF_ONLY {
            return Err(SettingsError::BrandedContentPrivate);
        }
        self.disable_comment |= creator.comment_disabled;
        self.disable_duet |= creator.duet_disabled;
        self.disable_stitch |= creator.stitch_disabled;
        Ok(self)
    }

    /// Public posts get their post id only after TikTok's moderation; `SELF_ONLY`, friends'
    /// and followers' posts never get one from its status API.
    pub fn is_public(&self) -> bool {
        self.privacy_level == PRIVACY_PUBLIC_TO_EVERYONE
    }
}

/// A sliding window of calls one user may make to one TikTok endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWindow {
    /// Names the window in storage.
    pub name: &'static str,
    pub limit: usize,
    pub window: Duration,
}

/// TikTok's per-token limits, kept one below TikTok's numbers and over a window one second
/// longer, so clock skew between us and TikTok cannot push a burst over.
pub const CREATOR_INFO_WINDOW: RateWindow = RateWindow {
    name: "creator_info",
    limit: 19,
    window: Duration::from_secs(61),
};
/// TikTok: 6 inits a minute.
pub const INIT_WINDOW: RateWindow = RateWindow {
    name: "init",
    limit: 5,
    window: Duration::from_secs(61),
};
/// TikTok: 30 status fetches a minute.
pub const STATUS_WINDOW: RateWindow = RateWindow {
    name: "status",
    limit: 28,
    window: Duration::from_secs(61),
};

/// TikTok keeps at most 5 inbox drafts per creator that were not posted yet, over 24 h
/// (`spam_risk_too_many_pending_share`, §3.4).
pub const INBOX_PENDING_LIMIT: usize = 5;
pub const INBOX_PENDING_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// TikTok's codes (init refusals and `fail_reason`s) with what they tell the user and
/// whether publishing the same thing again may work.
const CODES: &[(&str, &str, bool)] = &[
    (
        "url_ownership_unverified",
        "TikTok refused the media URL: its domain or URL prefix is not verified for this app.",
        false,
    ),
    (
        "privacy_level_option_mismatch",
        "The privacy level is not one this creator can use now.",
        false,
    ),
    (
        "spam_risk_too_many_posts",
        "The creator reached TikTok's daily post limit.",
        false,
    ),
    (
        "spam_risk_user_banned_from_posting",
        "TikTok does not allow this creator to post.",
        false,
    ),
    (
        "reached_active_user_cap",
        "The app reached TikTok's daily limit of posting users.",
        false,
    ),
    (
        "unaudited_client_can_only_post_to_private_accounts",
        "This TikTok app is not audited: it can only post to private accounts.",
        false,
    ),
    (
        "file_format_check_failed",
        "TikTok could not read the video format.",
        false,
    ),
    (
        "duration_check_failed",
        "The video is longer than this creator may post.",
        false,
    ),
    (
        "frame_rate_check_failed",
        "The video's frame rate is outside 23-60 FPS.",
        false,
    ),
    (
        "picture_size_check_failed",
        "The video's width or height is outside 360-4096 px.",
        false,
    ),
    ("internal", "TikTok had an internal error.", true),
    (
        "video_pull_failed",
        "TikTok could not download the video.",
        true,
    ),
    ("publish_cancelled", "The publish was cancelled.", true),
    (
        "auth_removed",
        "The user removed Postiqo's access on TikTok.",
        false,
    ),
    (
        "spam_risk_text",
        "TikTok judged the caption as spam.",
        false,
    ),
    ("spam_risk", "TikTok refused the post as spam risk.", false),
    (
        "spam_risk_too_many_pending_share",
        "The creator's TikTok inbox already holds 5 drafts not yet posted.",
        true,
    ),
];

fn known(code: &str) -> Option<(&'static str, bool)> {
    CODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, m, r)| (*m, *r))
}

/// How Postiqo lost access to the user's TikTok account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLoss {
    /// TikTok refused our refresh token: the user must sign in again.
    ReauthRequired,
    /// No TikTok tokens are stored (disconnected).
    NotConnected,
}

impl AccessLoss {
    pub fn code(self) -> &'static str {
        match self {
            AccessLoss::ReauthRequired => "tiktok_reauth_required",
            AccessLoss::NotConnected => "tiktok_not_connected",
        }
    }
}

impl PublishFailure {
    /// TikTok's `fail_reason` (status fetch and `post.publish.failed`) as a failure.
    pub fn from_fail_reason(reason: &str) -> Self {
        let (message, retryable) = known(reason).unwrap_or(("TikTok failed the publish.", false));
        let code = if reason.is_empty() {
            "tiktok_failed"
        } else {
            reason
        };
        Self::new(code, message, retryable)
    }

    /// TikTok refused the init with this error code: nothing was created, and the same
    /// request would be refused again.
    pub fn init_refused(code: &str) -> Self {
        let message = known(code)
            .map(|(m, _)| m)
            .unwrap_or("TikTok refused the publish.");
        Self::new(code, message, false)
    }

    /// Init could not be called: Postiqo has no usable access to the TikTok account.
    pub fn access_lost_before_init(loss: AccessLoss) -> Self {
        Self::new(
            loss.code(),
            "Postiqo no longer has access to this TikTok account; sign in with TikTok again.",
            false,
        )
    }

    /// Tracking could not go on: Postiqo lost access to the TikTok account.
    pub fn access_lost_while_tracking(loss: AccessLoss) -> Self {
        Self::new(
            loss.code(),
            "Postiqo lost access to this TikTok account.",
            false,
        )
    }

    /// Init could not reach TikTok before anything was sent (e.g. its token endpoint).
    pub fn tiktok_unreachable() -> Self {
        Self::new("tiktok_unavailable", "TikTok could not be reached.", true)
    }

    /// TikTok refused the status fetch for good (an error `code` that is not temporary).
    pub fn status_refused(code: &str) -> Self {
        Self::new(code, "TikTok refused to report on this publish.", false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creator() -> CreatorOptions {
        CreatorOptions {
            privacy_level_options: vec![
                PRIVACY_PUBLIC_TO_EVERYONE.into(),
                PRIVACY_SELF_ONLY.into(),
            ],
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
        assert_eq!(
            settings("FOLLOWER_OF_CREATOR").validated(&creator()),
            Err(SettingsError::PrivacyLevelNotAllowed {
                options: vec!["PUBLIC_TO_EVERYONE".into(), "SELF_ONLY".into()]
            })
        );
        let ok = settings("PUBLIC_TO_EVERYONE")
            .validated(&creator())
            .expect("valid");
        assert!(
            ok.disable_comment,
            "comments stay off when the creator disabled them"
        );
        assert!(!ok.disable_duet);
        assert!(ok.is_public());
    }

    #[test]
    fn branded_content_cannot_be_private() {
        let mut s = settings("SELF_ONLY");
        s.brand_content_toggle = true;
        assert_eq!(
            s.validated(&creator()),
            Err(SettingsError::BrandedContentPrivate)
        );
        let mut organic = settings("SELF_ONLY");
        organic.brand_organic_toggle = true;
        assert!(organic.validated(&creator()).is_ok());
    }

    #[test]
    fn fail_reasons_map_to_stable_codes_and_retry_advice() {
        let f = PublishFailure::from_fail_reason("video_pull_failed");
        assert_eq!(f.code, "video_pull_failed");
        assert!(f.retryable);
        assert!(!PublishFailure::from_fail_reason("duration_check_failed").retryable);
        let unknown = PublishFailure::from_fail_reason("brand_new_reason");
        assert_eq!(unknown.code, "brand_new_reason");
        assert_eq!(unknown.message, "TikTok failed the publish.");
        assert!(!unknown.retryable);
        assert_eq!(PublishFailure::from_fail_reason("").code, "tiktok_failed");
    }

    #[test]
    fn init_refusals_are_never_retried_and_share_the_messages() {
        let f = PublishFailure::init_refused("url_ownership_unverified");
        assert_eq!(f.code, "url_ownership_unverified");
        assert!(f.message.contains("not verified"));
        assert!(!f.retryable);
        assert_eq!(
            PublishFailure::init_refused("spam_risk_too_many_posts").message,
            PublishFailure::from_fail_reason("spam_risk_too_many_posts").message
        );
        assert_eq!(
            PublishFailure::init_refused("whatever").message,
            "TikTok refused the publish."
        );
    }

    #[test]
    fn lost_access_names_how() {
        assert_eq!(
            PublishFailure::access_lost_before_init(AccessLoss::ReauthRequired).code,
            "tiktok_reauth_required"
        );
        assert_eq!(
            PublishFailure::access_lost_while_tracking(AccessLoss::NotConnected).code,
            "tiktok_not_connected"
        );
        assert!(PublishFailure::tiktok_unreachable().retryable);
    }

    #[test]
    fn windows_stay_below_tiktoks_limits() {
        for (w, tiktok_per_minute) in [
            (CREATOR_INFO_WINDOW, 20),
            (INIT_WINDOW, 6),
            (STATUS_WINDOW, 30),
        ] {
            assert!(w.limit < tiktok_per_minute);
            assert!(w.window > Duration::from_secs(60));
        }
    }
}
