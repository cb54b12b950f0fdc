//! The records the sandbox keeps in memory.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::{config::PkceEncoding, ids};

pub(crate) const PUBLIC_OPTIONS: [&str; 3] =
    ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"];
pub(crate) const PRIVATE_OPTIONS: [&str; 3] =
    ["FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"];

/// A TikTok account that can log in to the sandbox.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TestUser {
    pub open_id: String,
    pub union_id: String,
    pub username: String,
    pub display_name: String,
    pub avatar_url: String,
    pub bio_description: String,
    pub is_verified: bool,
    pub follower_count: u64,
    pub following_count: u64,
    pub likes_count: u64,
    pub video_count: u64,
    /// What `creator_info` offers; init must use one of them.
    pub privacy_level_options: Vec<String>,
    pub comment_disabled: bool,
    pub duet_disabled: bool,
    pub stitch_disabled: bool,
    pub max_video_post_duration_sec: u32,
    /// `false` makes creator_info answer HTTP 200 with `cannot_post_code` and init 403.
    pub can_post: bool,
    /// `spam_risk_too_many_posts`, `spam_risk_user_banned_from_posting` or
    /// `reached_active_user_cap`.
    pub cannot_post_code: String,
    pub daily_post_cap: u32,
}

impl TestUser {
    pub(crate) fn new(username: &str, daily_post_cap: u32) -> Self {
        Self {
            open_id: ids::uuid_like(),
            union_id: ids::uuid_like(),
            username: username.to_owned(),
            display_name: username.to_owned(),
            avatar_url: format!("https://p16-sign.tiktokcdn.example/avatar/{username}.jpeg"),
            bio_description: String::new(),
            is_verified: false,
            follower_count: 0,
            following_count: 0,
            likes_count: 0,
            video_count: 0,
            privacy_level_options: PUBLIC_OPTIONS.iter().map(|s| (*s).to_owned()).collect(),
            comment_disabled: false,
            duet_disabled: false,
            stitch_disabled: false,
            max_video_post_duration_sec: 600,
            can_post: true,
            cannot_post_code: "spam_risk_too_many_posts".to_owned(),
            daily_post_cap,
        }
    }
}

/// Partial user for admin create/update and the consent page's "new user" form.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserSpec {
    pub username: Option<String>,
    pub open_id: Option<String>,
    pub union_id: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub bio_description: Option<String>,
    pub is_verified: Option<bool>,
    pub follower_count: Option<u64>,
    pub following_count: Option<u64>,
    pub likes_count: Option<u64>,
    pub video_count: Option<u64>,
    /// Shortcut: `true` sets the private-account options and disables duet/stitch.
    pub private_account: Option<bool>,
    pub privacy_level_options: Option<Vec<String>>,
    pub comment_disabled: Option<bool>,
    pub duet_disabled: Option<bool>,
    pub stitch_disabled: Option<bool>,
    pub max_video_post_duration_sec: Option<u32>,
    pub can_post: Option<bool>,
    pub cannot_post_code: Option<String>,
    pub daily_post_cap: Option<u32>,
}

impl UserSpec {
    pub(crate) fn apply(self, u: &mut TestUser) {
        if let Some(private) = self.private_account {
            let options = if private {
                PRIVATE_OPTIONS
            } else {
                PUBLIC_OPTIONS
            };
            u.privacy_level_options = options.iter().map(|s| (*s).to_owned()).collect();
            u.duet_disabled = private;
            u.stitch_disabled = private;
        }
        macro_rules! set {
            ($($f:ident),*) => { $(if let Some(v) = self.$f { u.$f = v; })* };
        }
        set!(
            username,
            open_id,
            union_id,
            display_name,
            avatar_url,
            bio_description,
            is_verified,
            follower_count,
            following_count,
            likes_count,
            video_count,
            privacy_level_options,
            comment_disabled,
            duet_disabled,
            stitch_disabled,
            max_video_post_duration_sec,
            can_post,
            cannot_post_code,
            daily_post_cap
        );
    }
}

/// One authorization of one user; every token issued from it dies with it.
#[derive(Clone, Debug)]
pub(crate) struct Grant {
    pub open_id: String,
    pub scopes: Vec<String>,
    pub revoked: bool,
}

impl Grant {
    pub(crate) fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct AuthCode {
    pub open_id: String,
    pub scopes: Vec<String>,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub expires_at: Instant,
    pub used: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct AccessToken {
    pub grant: u64,
    pub expires_at: Instant,
}

#[derive(Clone, Debug)]
pub(crate) struct RefreshToken {
    pub grant: u64,
    pub expires_at: Instant,
    /// Set once a refresh used it: rotation makes it worthless (fact sheet §1.5).
    pub rotated: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PublishState {
    ProcessingDownload,
    /// An inbox upload was delivered; the creator has not posted it yet.
    SendToUserInbox,
    PublishComplete,
    Failed,
}

/// One `video/init` task.
#[derive(Clone, Debug, Serialize)]
pub struct Publish {
    pub publish_id: String,
    pub open_id: String,
    pub privacy_level: String,
    pub title: String,
    pub video_url: String,
    pub created_at: i64,
    pub status: PublishState,
    pub fail_reason: Option<String>,
    pub downloaded_bytes: u64,
    /// Serialized as JSON numbers; they exceed 2^53 on purpose.
    pub post_ids: Vec<u64>,
    pub cancel_requested: bool,
    /// Probed from the MP4 `mvhd` box when it was within reach.
    pub duration_secs: Option<f64>,
    /// An inbox upload (draft, §3.4) rather than a Direct Post.
    pub inbox: bool,
    /// An inbox upload the creator has not posted yet counts against the 5 pending shares
    /// until then (or for 24 h).
    #[serde(skip)]
    pub created: std::time::Instant,
}

/// Values that `PATCH /_sandbox/settings` may change while running.
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub code_ttl_secs: u64,
    pub verified_url_prefixes: Vec<String>,
    pub webhook_url: Option<String>,
    pub moderation_delay_ms: u64,
    pub allow_http_media: bool,
    pub redirect_uris: Vec<String>,
    pub require_pkce: bool,
    pub pkce_encoding: PkceEncoding,
    pub download_delay_ms: u64,
    pub daily_post_cap: u32,
    /// Approve every consent at once as this test user (created if missing), for scripted
    /// and end-to-end clients that cannot click; `None` shows the consent page.
    pub auto_approve: Option<String>,
}

impl Settings {
    pub(crate) fn access_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_secs)
    }
    pub(crate) fn refresh_ttl(&self) -> Duration {
        Duration::from_secs(self.refresh_token_ttl_secs)
    }
    pub(crate) fn code_ttl(&self) -> Duration {
        Duration::from_secs(self.code_ttl_secs)
    }
}

/// Body of `PATCH /_sandbox/settings`; `webhook_url: ""` clears the URL.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SettingsPatch {
    pub access_token_ttl_secs: Option<u64>,
    pub refresh_token_ttl_secs: Option<u64>,
    pub code_ttl_secs: Option<u64>,
    pub verified_url_prefixes: Option<Vec<String>>,
    pub webhook_url: Option<String>,
    pub moderation_delay_ms: Option<u64>,
    pub allow_http_media: Option<bool>,
    pub redirect_uris: Option<Vec<String>>,
    pub require_pkce: Option<bool>,
    pub pkce_encoding: Option<PkceEncoding>,
    pub download_delay_ms: Option<u64>,
    pub daily_post_cap: Option<u32>,
    /// A username approves every consent as that user; `""` shows the consent page again.
    pub auto_approve: Option<String>,
}

impl SettingsPatch {
    pub(crate) fn apply(self, s: &mut Settings) {
        macro_rules! set {
            ($($f:ident),*) => { $(if let Some(v) = self.$f { s.$f = v; })* };
        }
        set!(
            access_token_ttl_secs,
            refresh_token_ttl_secs,
            code_ttl_secs,
            verified_url_prefixes,
            moderation_delay_ms,
            allow_http_media,
            redirect_uris,
            require_pkce,
            pkce_encoding,
            download_delay_ms,
            daily_post_cap
        );
        if let Some(url) = self.webhook_url {
            s.webhook_url = Some(url).filter(|u| !u.trim().is_empty());
        }
        if let Some(user) = self.auto_approve {
            s.auto_approve = Some(user.trim().to_owned()).filter(|u| !u.is_empty());
        }
    }
}
