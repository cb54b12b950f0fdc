//! User Info API (§2).

use reqwest::header::ACCEPT;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::observe::{Endpoint, observed};
use crate::{OpenId, TikTokClient, TikTokError, client::Repeat, de::opt_u64, envelope::parse_v2};

/// A field of `GET /v2/user/info/`; each needs one scope (§2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UserField {
    OpenId,
    UnionId,
    AvatarUrl,
    AvatarUrl100,
    AvatarLargeUrl,
    DisplayName,
    BioDescription,
    ProfileDeepLink,
    IsVerified,
    Username,
    FollowerCount,
    FollowingCount,
    LikesCount,
    VideoCount,
}

impl UserField {
    /// Fields covered by `user.info.basic`.
    pub const BASIC: &'static [UserField] = &[
        Self::OpenId,
        Self::UnionId,
        Self::AvatarUrl,
        Self::DisplayName,
    ];
    /// What Postiqo shows for a connected account (`user.info.basic` + `user.info.profile`).
    pub const PROFILE: &'static [UserField] = &[
        Self::OpenId,
        Self::UnionId,
        Self::AvatarUrl,
        Self::DisplayName,
        Self::Username,
        Self::ProfileDeepLink,
        Self::IsVerified,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenId => "open_id",
            Self::UnionId => "union_id",
            Self::AvatarUrl => "avatar_url",
            Self::AvatarUrl100 => "avatar_url_100",
            Self::AvatarLargeUrl => "avatar_large_url",
            Self::DisplayName => "display_name",
            Self::BioDescription => "bio_description",
            Self::ProfileDeepLink => "profile_deep_link",
            Self::IsVerified => "is_verified",
            Self::Username => "username",
            Self::FollowerCount => "follower_count",
            Self::FollowingCount => "following_count",
            Self::LikesCount => "likes_count",
            Self::VideoCount => "video_count",
        }
    }

    /// The scope TikTok requires for this field (after the 2024 migration, §2).
    pub fn required_scope(self) -> &'static str {
        match self {
            Self::OpenId
            | Self::UnionId
            | Self::AvatarUrl
            | Self::AvatarUrl100
            | Self::AvatarLargeUrl
            | Self::DisplayName => "user.info.basic",
            Self::BioDescription | Self::ProfileDeepLink | Self::IsVerified | Self::Username => {
                "user.info.profile"
            }
            Self::FollowerCount | Self::FollowingCount | Self::LikesCount | Self::VideoCount => {
                "user.info.stats"
            }
        }
    }
}

/// `data.user` of `/v2/user/info/`; only requested fields are filled.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct UserInfo {
    pub open_id: Option<OpenId>,
    pub union_id: Option<String>,
    pub avatar_url: Option<String>,
    pub avatar_url_100: Option<String>,
    pub avatar_large_url: Option<String>,
    pub display_name: Option<String>,
    pub bio_description: Option<String>,
    pub profile_deep_link: Option<String>,
    pub is_verified: Option<bool>,
    pub username: Option<String>,
    #[serde(deserialize_with = "opt_u64")]
    pub follower_count: Option<u64>,
    #[serde(deserialize_with = "opt_u64")]
    pub following_count: Option<u64>,
    #[serde(deserialize_with = "opt_u64")]
    pub likes_count: Option<u64>,
    #[serde(deserialize_with = "opt_u64")]
    pub video_count: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UserData {
    user: UserInfo,
}

impl TikTokClient {
    /// `GET /v2/user/info/?fields=..`. A field whose scope was not granted makes TikTok
    /// reject the whole call (`scope_not_authorized`), so ask only for granted ones.
    pub async fn user_info(
        &self,
        access_token: &SecretString,
        fields: &[UserField],
    ) -> Result<UserInfo, TikTokError> {
        let fields = fields
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let req = self
            .http
            .get(self.endpoint("/v2/user/info/"))
            .query(&[("fields", fields.as_str())])
            .bearer_auth(access_token.expose_secret())
            .header(ACCEPT, "application/json");
        observed(Endpoint::UserInfo, async {
            let (status, body) = self.send(req, Repeat::Safe).await?;
            parse_user_info(status, &body)
        })
        .await
    }
}

pub(crate) fn parse_user_info(status: u16, body: &[u8]) -> Result<UserInfo, TikTokError> {
    parse_v2::<UserData>(status, body).map(|d| d.user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiErrorCode;

    #[test]
    fn parses_documented_envelope() {
        let body = br#"{"data":{"user":{"open_id":"o1","union_id":"u1",
            "avatar_url":"https://p16.example/a.jpg","display_name":"Alice",
            "follower_count":"12","is_verified":false}},
            "error":{"code":"ok","message":"","log_id":"20220829194722"}}"#;
        let u = parse_user_info(200, body).expect("ok");
        assert_eq!(u.open_id, Some(OpenId::new("o1")));
        assert_eq!(u.display_name.as_deref(), Some("Alice"));
        assert_eq!(u.follower_count, Some(12));
        assert_eq!(u.is_verified, Some(false));
        assert_eq!(u.username, None);
    }

    #[test]
    fn scope_error() {
        let body =
            br#"{"data":{},"error":{"code":"scope_not_authorized","message":"x","log_id":"L"}}"#;
        let err = parse_user_info(401, body).expect_err("error");
        assert!(matches!(
            err,
            TikTokError::Api {
                code: ApiErrorCode::ScopeNotAuthorized,
                http_status: 401,
                ..
            }
        ));
        assert!(err.needs_reauthorization());
    }

    #[test]
    fn field_scopes() {
        assert_eq!(UserField::Username.required_scope(), "user.info.profile");
        assert_eq!(UserField::AvatarUrl.required_scope(), "user.info.basic");
        assert_eq!(UserField::VideoCount.required_scope(), "user.info.stats");
    }
}
