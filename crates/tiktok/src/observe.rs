//! Counts and times every call to TikTok, through the `metrics` facade (a no-op until the
//! application installs a recorder; this crate never knows how the numbers are exported).
//!
//! - `postiqo_tiktok_calls_total{endpoint, outcome}`: `endpoint` one of [`Endpoint`]'s fixed
//!   names, `outcome` one of [`outcome`]'s.
//! - `postiqo_tiktok_call_duration_seconds{endpoint}`.

use std::future::Future;
use std::time::Instant;

use crate::{ApiErrorCode, OAuthErrorCode, TikTokError};

pub const CALLS: &str = "postiqo_tiktok_calls_total";
pub const DURATION: &str = "postiqo_tiktok_call_duration_seconds";

/// One TikTok API call, named for operators (TikTok's path in the doc comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v2/oauth/token/` with `grant_type=authorization_code` (sign-in).
    TokenExchange,
    /// `POST /v2/oauth/token/` with `grant_type=refresh_token`.
    TokenRefresh,
    /// `POST /v2/oauth/revoke/`.
    Revoke,
    /// `GET /v2/user/info/`.
    UserInfo,
    /// `POST /v2/post/publish/creator_info/query/`.
    CreatorInfo,
    /// `POST /v2/post/publish/video/init/`.
    PublishInit,
    /// `POST /v2/post/publish/inbox/video/init/`.
    InboxInit,
    /// `POST /v2/post/publish/status/fetch/`.
    PublishStatus,
    /// `POST /v2/post/publish/cancel/`.
    PublishCancel,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::TokenExchange => "oauth.token.exchange",
            Endpoint::TokenRefresh => "oauth.token.refresh",
            Endpoint::Revoke => "oauth.revoke",
            Endpoint::UserInfo => "user.info",
            Endpoint::CreatorInfo => "post.creator_info",
            Endpoint::PublishInit => "post.init",
            Endpoint::InboxInit => "post.inbox_init",
            Endpoint::PublishStatus => "post.status",
            Endpoint::PublishCancel => "post.cancel",
        }
    }
}

/// Runs one call and records it.
pub(crate) async fn observed<T>(
    endpoint: Endpoint,
    call: impl Future<Output = Result<T, TikTokError>>,
) -> Result<T, TikTokError> {
    let started = Instant::now();
    let result = call.await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => outcome(e),
    };
    metrics::counter!(CALLS, "endpoint" => endpoint.as_str(), "outcome" => outcome).increment(1);
    metrics::histogram!(DURATION, "endpoint" => endpoint.as_str()).record(started.elapsed());
    result
}

/// How a failed call ended. TikTok answers errors with 200 as well as 4xx (fact sheet §1.5),
/// so the status class alone would hide them; throttling and TikTok's own failures are told
/// apart because they call for different responses (slow down; wait for TikTok).
pub fn outcome(e: &TikTokError) -> &'static str {
    match e {
        TikTokError::Transport(_) => "transport_error",
        TikTokError::Timeout => "timeout",
        TikTokError::Api {
            code, http_status, ..
        } => answered(
            *http_status,
            matches!(code, ApiErrorCode::RateLimitExceeded),
            matches!(code, ApiErrorCode::InternalError),
        ),
        TikTokError::OAuth {
            error, http_status, ..
        } => answered(
            *http_status,
            false,
            matches!(
                error,
                OAuthErrorCode::ServerError | OAuthErrorCode::TemporarilyUnavailable
            ),
        ),
        TikTokError::Decode { http_status, .. } if *http_status >= 500 => "server_error",
        TikTokError::Decode { .. } => "bad_response",
    }
}

fn answered(http_status: u16, throttled: bool, tiktok_failed: bool) -> &'static str {
    if http_status == 429 || throttled {
        "rate_limited"
    } else if http_status >= 500 || tiktok_failed {
        "server_error"
    } else {
        "tiktok_error"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DecodeError;

    fn api(code: &str, http_status: u16) -> TikTokError {
        TikTokError::Api {
            code: ApiErrorCode::parse(code),
            http_status,
            message: String::new(),
            log_id: None,
        }
    }

    #[test]
    fn outcomes_separate_throttling_tiktok_failures_and_refusals() {
        assert_eq!(outcome(&api("rate_limit_exceeded", 429)), "rate_limited");
        assert_eq!(outcome(&api("rate_limit_exceeded", 200)), "rate_limited");
        assert_eq!(outcome(&api("internal_error", 500)), "server_error");
        assert_eq!(outcome(&api("whatever", 503)), "server_error");
        assert_eq!(
            outcome(&api("spam_risk_too_many_posts", 200)),
            "tiktok_error"
        );
        assert_eq!(outcome(&api("access_token_invalid", 401)), "tiktok_error");
        assert_eq!(outcome(&TikTokError::Timeout), "timeout");
        let decode = |http_status| TikTokError::Decode {
            http_status,
            source: DecodeError::Missing("data"),
        };
        assert_eq!(outcome(&decode(200)), "bad_response");
        assert_eq!(outcome(&decode(502)), "server_error");
        let oauth = TikTokError::OAuth {
            error: OAuthErrorCode::InvalidGrant,
            description: String::new(),
            log_id: None,
            http_status: 200,
        };
        assert_eq!(outcome(&oauth), "tiktok_error");
    }
}
