//! Content Posting API, Direct Post with `PULL_FROM_URL` (§3).

use std::fmt;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::DeserializeOwned};
use url::Url;

use crate::observe::{Endpoint, observed};
use crate::{
    DecodeError, PostId, PublishId, TikTokClient, TikTokError,
    client::Repeat,
    de::{id_list, opt_u64},
    envelope::parse_v2,
};

macro_rules! open_str_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
            /// A value this crate does not know; the raw text is kept.
            Unknown(String),
        }

        impl $name {
            pub fn parse(s: &str) -> Self {
                match s {
                    $($wire => Self::$variant,)+
                    other => Self::Unknown(other.to_owned()),
                }
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Unknown(raw) => raw,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok(Self::parse(&String::deserialize(d)?))
            }
        }
    };
}

open_str_enum!(
    /// Who can see a post (§3.2). Offer only the creator's `privacy_level_options`.
    PrivacyLevel {
        PublicToEveryone => "PUBLIC_TO_EVERYONE",
        MutualFollowFriends => "MUTUAL_FOLLOW_FRIENDS",
        FollowerOfCreator => "FOLLOWER_OF_CREATOR",
        SelfOnly => "SELF_ONLY",
    }
);

open_str_enum!(
    /// `status` of a publish task (§3.6).
    PublishState {
        ProcessingUpload => "PROCESSING_UPLOAD",
        ProcessingDownload => "PROCESSING_DOWNLOAD",
        SendToUserInbox => "SEND_TO_USER_INBOX",
        PublishComplete => "PUBLISH_COMPLETE",
        Failed => "FAILED",
    }
);

open_str_enum!(
    /// Why a publish failed, from status fetch or the `post.publish.failed` webhook (§4.3).
    FailReason {
        FileFormatCheckFailed => "file_format_check_failed",
        DurationCheckFailed => "duration_check_failed",
        FrameRateCheckFailed => "frame_rate_check_failed",
        PictureSizeCheckFailed => "picture_size_check_failed",
        Internal => "internal",
        VideoPullFailed => "video_pull_failed",
        PhotoPullFailed => "photo_pull_failed",
        PublishCancelled => "publish_cancelled",
        AuthRemoved => "auth_removed",
        SpamRiskTooManyPosts => "spam_risk_too_many_posts",
        SpamRiskUserBannedFromPosting => "spam_risk_user_banned_from_posting",
        SpamRiskText => "spam_risk_text",
        SpamRisk => "spam_risk",
    }
);

impl FailReason {
    /// Retrying the same publish may work (TikTok-side trouble or a failed pull). Retry a
    /// pull failure only while the media URL is still valid.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Internal | Self::VideoPullFailed | Self::PhotoPullFailed
        )
    }
}

/// `data` of `creator_info/query` (§3.2). Fetch it fresh for every post screen.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CreatorInfo {
    pub creator_avatar_url: Option<String>,
    pub creator_username: Option<String>,
    pub creator_nickname: Option<String>,
    pub privacy_level_options: Vec<PrivacyLevel>,
    pub comment_disabled: bool,
    pub duet_disabled: bool,
    pub stitch_disabled: bool,
    /// Block videos longer than this (§7.3).
    #[serde(deserialize_with = "opt_u64")]
    pub max_video_post_duration_sec: Option<u64>,
}

/// `post_info` of a Direct Post init (§3.3). There is deliberately no default privacy
/// level: the user must pick one (§7.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PostInfo {
    /// Caption; max 2200 UTF-16 code units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub privacy_level: PrivacyLevel,
    pub disable_duet: bool,
    pub disable_comment: bool,
    pub disable_stitch: bool,
    /// Cover frame; inside `post_info`, as the reference says (not in `source_info`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_cover_timestamp_ms: Option<u32>,
    /// "Paid partnership". Both toggles are always sent (§3.3).
    pub brand_content_toggle: bool,
    /// "Promotional content" (the creator's own business).
    pub brand_organic_toggle: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_aigc: Option<bool>,
}

impl PostInfo {
    /// Interactions allowed, no commercial disclosure, no caption.
    pub fn new(privacy_level: PrivacyLevel) -> Self {
        Self {
            title: None,
            privacy_level,
            disable_duet: false,
            disable_comment: false,
            disable_stitch: false,
            video_cover_timestamp_ms: None,
            brand_content_toggle: false,
            brand_organic_toggle: false,
            is_aigc: None,
        }
    }
}

/// `data` of `status/fetch` (§3.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishStatus {
    pub status: PublishState,
    /// Set only when `status` is `FAILED` (an empty string from TikTok becomes `None`).
    pub fail_reason: Option<FailReason>,
    /// TikTok's `publicaly_available_post_id` (sic): filled for public posts after
    /// moderation; a draft can produce several posts.
    pub publicly_available_post_ids: Vec<PostId>,
    pub uploaded_bytes: Option<u64>,
    pub downloaded_bytes: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawStatus {
    status: Option<String>,
    fail_reason: Option<String>,
    #[serde(deserialize_with = "id_list")]
    publicaly_available_post_id: Vec<String>,
    // In case TikTok ever fixes the spelling.
    #[serde(deserialize_with = "id_list")]
    publicly_available_post_id: Vec<String>,
    #[serde(deserialize_with = "opt_u64")]
    uploaded_bytes: Option<u64>,
    #[serde(deserialize_with = "opt_u64")]
    downloaded_bytes: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawPublishId {
    publish_id: Option<String>,
}

#[derive(Serialize)]
struct InitBody<'a> {
    post_info: &'a PostInfo,
    source_info: SourceInfo<'a>,
}

/// The inbox endpoint takes the source only: the creator makes every choice in the app.
#[derive(Serialize)]
struct InboxInitBody<'a> {
    source_info: SourceInfo<'a>,
}

#[derive(Serialize)]
struct SourceInfo<'a> {
    source: &'static str,
    video_url: &'a str,
}

impl<'a> SourceInfo<'a> {
    /// TikTok fetches the video itself, from our presigned URL.
    fn pull_from(video_url: &'a Url) -> Self {
        Self {
            source: "PULL_FROM_URL",
            video_url: video_url.as_str(),
        }
    }
}

#[derive(Serialize)]
struct PublishIdBody<'a> {
    publish_id: &'a str,
}

impl TikTokClient {
    /// `POST /v2/post/publish/creator_info/query/` (20/min per token). "Cannot post now"
    /// arrives as HTTP 200 with an error code and surfaces as an error for which
    /// [`TikTokError::cannot_post_now`] is true.
    pub async fn creator_info(
        &self,
        access_token: &SecretString,
    ) -> Result<CreatorInfo, TikTokError> {
        observed(
            Endpoint::CreatorInfo,
            self.post_json(
                "/v2/post/publish/creator_info/query/",
                access_token,
                None::<&()>,
                Repeat::Safe,
            ),
        )
        .await
    }

    /// `POST /v2/post/publish/video/init/` with `PULL_FROM_URL` (6/min per token). The URL
    /// must be https, on a verified domain/prefix, redirect-free and reachable for an hour.
    pub async fn init_video_publish(
        &self,
        access_token: &SecretString,
        post_info: &PostInfo,
        video_url: &Url,
    ) -> Result<PublishId, TikTokError> {
        let body = InitBody {
            post_info,
            source_info: SourceInfo::pull_from(video_url),
        };
        self.init_post(
            Endpoint::PublishInit,
            "/v2/post/publish/video/init/",
            access_token,
            &body,
        )
        .await
    }

    /// `POST /v2/post/publish/inbox/video/init/` with `PULL_FROM_URL` (scope `video.upload`,
    /// 6/min per token, §3.4): the video lands in the creator's TikTok inbox as a draft.
    /// TikTok keeps at most 5 unposted ones per creator in 24 h
    /// (`spam_risk_too_many_pending_share`).
    pub async fn init_inbox_video(
        &self,
        access_token: &SecretString,
        video_url: &Url,
    ) -> Result<PublishId, TikTokError> {
        let body = InboxInitBody {
            source_info: SourceInfo::pull_from(video_url),
        };
        self.init_post(
            Endpoint::InboxInit,
            "/v2/post/publish/inbox/video/init/",
            access_token,
            &body,
        )
        .await
    }

    /// An init call (direct post or inbox draft) and the `publish_id` it answers with.
    async fn init_post<B: Serialize>(
        &self,
        endpoint: Endpoint,
        path: &str,
        access_token: &SecretString,
        body: &B,
    ) -> Result<PublishId, TikTokError> {
        observed(endpoint, async {
            let (status, raw): (u16, RawPublishId) = self
                // Never twice: a repeated init is a second post (or draft).
                .post_json_with_status(path, access_token, Some(body), Repeat::Never)
                .await?;
            raw.publish_id
                .filter(|id| !id.is_empty())
                .map(PublishId::new)
                .ok_or(TikTokError::Decode {
                    http_status: status,
                    source: DecodeError::Missing("publish_id"),
                })
        })
        .await
    }

    /// `POST /v2/post/publish/status/fetch/` (30/min per token, shared by all posts of the
    /// user: prefer webhooks and poll with backoff).
    pub async fn fetch_status(
        &self,
        access_token: &SecretString,
        publish_id: &PublishId,
    ) -> Result<PublishStatus, TikTokError> {
        let body = PublishIdBody {
            publish_id: publish_id.as_str(),
        };
        observed(Endpoint::PublishStatus, async {
            let (status, raw): (u16, RawStatus) = self
                .post_json_with_status(
                    "/v2/post/publish/status/fetch/",
                    access_token,
                    Some(&body),
                    Repeat::Safe,
                )
                .await?;
            publish_status_from(status, raw)
        })
        .await
    }

    /// `POST /v2/post/publish/cancel/`: best effort, only while TikTok is still downloading.
    pub async fn cancel_publish(
        &self,
        access_token: &SecretString,
        publish_id: &PublishId,
    ) -> Result<(), TikTokError> {
        let body = PublishIdBody {
            publish_id: publish_id.as_str(),
        };
        let _: serde_json::Value = observed(
            Endpoint::PublishCancel,
            self.post_json(
                "/v2/post/publish/cancel/",
                access_token,
                Some(&body),
                Repeat::Never,
            ),
        )
        .await?;
        Ok(())
    }

    async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        access_token: &SecretString,
        body: Option<&B>,
        repeat: Repeat,
    ) -> Result<T, TikTokError> {
        self.post_json_with_status(path, access_token, body, repeat)
            .await
            .map(|(_, data)| data)
    }

    async fn post_json_with_status<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        access_token: &SecretString,
        body: Option<&B>,
        repeat: Repeat,
    ) -> Result<(u16, T), TikTokError> {
        // Set before `.json()`, which only adds its own Content-Type when none is present.
        let mut req = self
            .http
            .post(self.endpoint(path))
            .bearer_auth(access_token.expose_secret())
            .header(CONTENT_TYPE, "application/json; charset=UTF-8")
            .header(ACCEPT, "application/json");
        if let Some(body) = body {
            req = req.json(body);
        }
        let (status, bytes) = self.send(req, repeat).await?;
        let result = parse_v2(status, &bytes);
        if let Err(e) = &result {
            tracing::warn!(path, status, log_id = e.log_id(), error = %e, "TikTok posting call failed");
        }
        result.map(|data| (status, data))
    }
}

fn publish_status_from(http_status: u16, raw: RawStatus) -> Result<PublishStatus, TikTokError> {
    let status = raw
        .status
        .filter(|s| !s.is_empty())
        .ok_or(TikTokError::Decode {
            http_status,
            source: DecodeError::Missing("status"),
        })?;
    let mut ids = raw.publicaly_available_post_id;
    ids.extend(raw.publicly_available_post_id);
    Ok(PublishStatus {
        status: PublishState::parse(&status),
        fail_reason: raw
            .fail_reason
            .filter(|r| !r.is_empty())
            .map(|r| FailReason::parse(&r)),
        publicly_available_post_ids: ids.into_iter().map(PostId::new).collect(),
        uploaded_bytes: raw.uploaded_bytes,
        downloaded_bytes: raw.downloaded_bytes,
    })
}

#[cfg(test)]
pub(crate) fn parse_status_body(status: u16, body: &[u8]) -> Result<PublishStatus, TikTokError> {
    publish_status_from(status, parse_v2(status, body)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiErrorCode;

    #[test]
    fn post_id_as_number_and_as_string() {
        let body = br#"{"data":{"status":"PUBLISH_COMPLETE","fail_reason":"",
            "publicaly_available_post_id":[7345678901234567891,"7345678901234567892"],
            "uploaded_bytes":"0","downloaded_bytes":1024},
            "error":{"code":"ok","message":"","log_id":"L"}}"#;
        let st = parse_status_body(200, body).expect("ok");
        assert_eq!(st.status, PublishState::PublishComplete);
        assert_eq!(st.fail_reason, None);
        assert_eq!(
            st.publicly_available_post_ids,
            vec![
                PostId::new("7345678901234567891"),
                PostId::new("7345678901234567892")
            ]
        );
        assert_eq!(st.uploaded_bytes, Some(0));
        assert_eq!(st.downloaded_bytes, Some(1024));
    }

    #[test]
    fn failed_and_unknown_status() {
        let body = br#"{"data":{"status":"FAILED","fail_reason":"video_pull_failed"},
            "error":{"code":"ok"}}"#;
        let st = parse_status_body(200, body).expect("ok");
        assert_eq!(st.status, PublishState::Failed);
        assert_eq!(st.fail_reason, Some(FailReason::VideoPullFailed));
        assert!(
            st.fail_reason
                .as_ref()
                .is_some_and(FailReason::is_retryable)
        );

        let body =
            br#"{"data":{"status":"SOMETHING_NEW","fail_reason":"odd"},"error":{"code":"ok"}}"#;
        let st = parse_status_body(200, body).expect("ok");
        assert_eq!(st.status, PublishState::Unknown("SOMETHING_NEW".into()));
        assert_eq!(st.fail_reason, Some(FailReason::Unknown("odd".into())));
    }

    #[test]
    fn status_error_envelope() {
        let body = br#"{"data":{},"error":{"code":"invalid_publish_id","message":"","logid":"L"}}"#;
        assert!(matches!(
            parse_status_body(400, body),
            Err(TikTokError::Api {
                code: ApiErrorCode::InvalidPublishId,
                ..
            })
        ));
        assert!(matches!(
            parse_status_body(200, br#"{"data":{},"error":{"code":"ok"}}"#),
            Err(TikTokError::Decode { .. })
        ));
    }

    #[test]
    fn creator_info_parses_options() {
        let body = br#"{"data":{"creator_avatar_url":"https://a","creator_username":"alice",
            "creator_nickname":"Alice","privacy_level_options":["PUBLIC_TO_EVERYONE","SELF_ONLY","NEW_LEVEL"],
            "comment_disabled":false,"duet_disabled":true,"stitch_disabled":true,
            "max_video_post_duration_sec":600},"error":{"code":"ok","message":"","log_id":"L"}}"#;
        let ci: CreatorInfo = parse_v2(200, body).expect("ok");
        assert_eq!(
            ci.privacy_level_options,
            vec![
                PrivacyLevel::PublicToEveryone,
                PrivacyLevel::SelfOnly,
                PrivacyLevel::Unknown("NEW_LEVEL".into())
            ]
        );
        assert!(ci.duet_disabled);
        assert_eq!(ci.max_video_post_duration_sec, Some(600));
    }

    #[test]
    fn creator_cannot_post_now_with_http_200() {
        let body =
            br#"{"data":{},"error":{"code":"spam_risk_too_many_posts","message":"","log_id":"L"}}"#;
        let err = parse_v2::<CreatorInfo>(200, body).expect_err("cannot post");
        assert!(err.cannot_post_now());
        assert!(!err.is_retryable());
    }

    #[test]
    fn init_body_shape() {
        let mut info = PostInfo::new(PrivacyLevel::MutualFollowFriends);
        info.title = Some("caption #tag".into());
        info.video_cover_timestamp_ms = Some(1000);
        let body = InitBody {
            post_info: &info,
            source_info: SourceInfo {
                source: "PULL_FROM_URL",
                video_url: "https://media.example.com/v/1.mp4",
            },
        };
        let v = serde_json::to_value(&body).expect("json");
        assert_eq!(
            v,
            serde_json::json!({
                "post_info": {
                    "title": "caption #tag", "privacy_level": "MUTUAL_FOLLOW_FRIENDS",
                    "disable_duet": false, "disable_comment": false, "disable_stitch": false,
                    "video_cover_timestamp_ms": 1000,
                    "brand_content_toggle": false, "brand_organic_toggle": false
                },
                "source_info": {"source": "PULL_FROM_URL", "video_url": "https://media.example.com/v/1.mp4"}
            })
        );
    }
}
