use std::fmt;

/// Everything that can go wrong when calling TikTok.
///
/// TikTok's own error codes are open enums: a code this crate does not know yet becomes
/// `Unknown(raw)` instead of failing to parse. Messages come from TikTok and never contain
/// our tokens or secret.
#[derive(Debug, thiserror::Error)]
pub enum TikTokError {
    /// Error body of an OAuth endpoint: `{error, error_description, log_id}` (§1.5).
    #[error("TikTok OAuth error `{error}` (HTTP {http_status}): {description}")]
    OAuth {
        error: OAuthErrorCode,
        description: String,
        log_id: Option<String>,
        /// May be 200: TikTok has answered errors with HTTP 200 (§1.5, I-200).
        http_status: u16,
    },
    /// Non-`ok` `error.code` in a v2 envelope (§3, §4).
    #[error("TikTok API error `{code}` (HTTP {http_status}): {message}")]
    Api {
        code: ApiErrorCode,
        http_status: u16,
        message: String,
        log_id: Option<String>,
    },
    #[error("could not reach TikTok")]
    Transport(#[source] reqwest::Error),
    #[error("TikTok did not answer in time")]
    Timeout,
    /// The answer was not in any shape TikTok documents.
    #[error("unexpected response from TikTok (HTTP {http_status})")]
    Decode {
        http_status: u16,
        #[source]
        source: DecodeError,
    },
}

impl TikTokError {
    /// Worth retrying later with backoff: throttling, TikTok-side failures, network trouble.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::OAuth {
                error, http_status, ..
            } => {
                retryable_status(*http_status)
                    || matches!(
                        error,
                        OAuthErrorCode::ServerError | OAuthErrorCode::TemporarilyUnavailable
                    )
            }
            Self::Api {
                code, http_status, ..
            } => {
                retryable_status(*http_status)
                    || matches!(
                        code,
                        ApiErrorCode::RateLimitExceeded | ApiErrorCode::InternalError
                    )
            }
            Self::Transport(_) | Self::Timeout => true,
            Self::Decode { http_status, .. } => retryable_status(*http_status),
        }
    }

    /// TikTok answered that it is throttling or failing right now (HTTP 429 or 5xx, or
    /// `rate_limit_exceeded` / `internal_error`). For a write this means TikTok did nothing,
    /// so the same call may be made again later without doing it twice.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Api {
                code, http_status, ..
            } => {
                retryable_status(*http_status)
                    || matches!(
                        code,
                        ApiErrorCode::RateLimitExceeded | ApiErrorCode::InternalError
                    )
            }
            Self::Decode { http_status, .. } => *http_status >= 500,
            Self::OAuth { .. } | Self::Transport(_) | Self::Timeout => false,
        }
    }

    /// No answer came back (network failure or timeout): the request may or may not have
    /// reached TikTok, so for a write its outcome is unknown.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, Self::Transport(_) | Self::Timeout)
    }

    /// TikTok's own error code, when it sent one (`error.code` or OAuth `error`).
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code.as_str()),
            Self::OAuth { error, .. } => Some(error.as_str()),
            Self::Transport(_) | Self::Timeout | Self::Decode { .. } => None,
        }
    }

    /// The access token is invalid or expired: refresh once, then retry (§8).
    pub fn needs_token_refresh(&self) -> bool {
        matches!(
            self,
            Self::Api {
                code: ApiErrorCode::AccessTokenInvalid,
                ..
            }
        )
    }

    /// The user must log in again: a scope is missing, or the code/refresh token is dead.
    pub fn needs_reauthorization(&self) -> bool {
        match self {
            Self::Api { code, .. } => matches!(
                code,
                ApiErrorCode::ScopeNotAuthorized | ApiErrorCode::ScopePermissionMissed
            ),
            Self::OAuth { error, .. } => matches!(error, OAuthErrorCode::InvalidGrant),
            _ => false,
        }
    }

    /// The creator cannot post right now (daily cap, ban, app's active-user cap); tell the
    /// user to try later instead of retrying (§3.2, §7.2).
    pub fn cannot_post_now(&self) -> bool {
        matches!(
            self,
            Self::Api {
                code: ApiErrorCode::SpamRiskTooManyPosts
                    | ApiErrorCode::SpamRiskUserBannedFromPosting
                    | ApiErrorCode::ReachedActiveUserCap,
                ..
            }
        )
    }

    /// TikTok's `log_id`, for support requests.
    pub fn log_id(&self) -> Option<&str> {
        match self {
            Self::OAuth { log_id, .. } | Self::Api { log_id, .. } => log_id.as_deref(),
            _ => None,
        }
    }
}

fn retryable_status(status: u16) -> bool {
    status == 429 || status >= 500
}

/// Why a TikTok answer could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("body is not valid JSON of the expected shape")]
    Json(#[from] serde_json::Error),
    #[error("response carries no usable `{0}`")]
    Missing(&'static str),
    #[error("success body with an error HTTP status")]
    StatusMismatch,
}

macro_rules! open_code_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $($wire:literal)|+),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
            /// A code this crate does not know; the raw value is kept.
            Unknown(String),
        }

        impl $name {
            /// Never fails: unknown codes become `Unknown`.
            pub fn parse(code: &str) -> Self {
                match code {
                    $($($wire)|+ => Self::$variant,)+
                    other => Self::Unknown(other.to_owned()),
                }
            }

            /// The canonical wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => open_code_enum!(@first $($wire)+),)+
                    Self::Unknown(raw) => raw,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self::parse(s))
            }
        }
    };
    (@first $first:literal $($rest:literal)*) => { $first };
}

open_code_enum!(
    /// `error` of the OAuth endpoints and of the authorize callback (§1.5).
    OAuthErrorCode {
        AccessDenied => "access_denied",
        InvalidClient => "invalid_client",
        InvalidGrant => "invalid_grant",
        InvalidRequest => "invalid_request",
        InvalidScope => "invalid_scope",
        UnauthorizedClient => "unauthorized_client",
        UnsupportedGrantType => "unsupported_grant_type",
        UnsupportedResponseType => "unsupported_response_type",
        ServerError => "server_error",
        TemporarilyUnavailable => "temporarily_unavailable",
    }
);

open_code_enum!(
    /// `error.code` of the v2 APIs (§4.1, §4.2).
    ApiErrorCode {
        AccessTokenInvalid => "access_token_invalid",
        ScopeNotAuthorized => "scope_not_authorized",
        ScopePermissionMissed => "scope_permission_missed",
        // The generic table says `invalid_params`, the posting tables `invalid_param`.
        InvalidParams => "invalid_params" | "invalid_param",
        InvalidFileUpload => "invalid_file_upload",
        RateLimitExceeded => "rate_limit_exceeded",
        SpamRiskTooManyPosts => "spam_risk_too_many_posts",
        SpamRiskUserBannedFromPosting => "spam_risk_user_banned_from_posting",
        SpamRiskTooManyPendingShare => "spam_risk_too_many_pending_share",
        ReachedActiveUserCap => "reached_active_user_cap",
        UnauditedClientCanOnlyPostToPrivateAccounts =>
            "unaudited_client_can_only_post_to_private_accounts",
        UrlOwnershipUnverified => "url_ownership_unverified",
        PrivacyLevelOptionMismatch => "privacy_level_option_mismatch",
        InvalidPublishId => "invalid_publish_id",
        TokenNotAuthorizedForSpecifiedPublishId =>
            "token_not_authorized_for_specified_publish_id",
        PublishNotCancellable => "publish_not_cancellable",
        InternalError => "internal_error",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: &str, http_status: u16) -> TikTokError {
        TikTokError::Api {
            code: ApiErrorCode::parse(code),
            http_status,
            message: String::new(),
            log_id: None,
        }
    }

    #[test]
    fn codes_parse_both_spellings_and_unknowns() {
        assert_eq!(
            ApiErrorCode::parse("invalid_param"),
            ApiErrorCode::InvalidParams
        );
        assert_eq!(
            ApiErrorCode::parse("invalid_params"),
            ApiErrorCode::InvalidParams
        );
        assert_eq!(ApiErrorCode::InvalidParams.as_str(), "invalid_params");
        let unknown = ApiErrorCode::parse("brand_new_code");
        assert_eq!(unknown, ApiErrorCode::Unknown("brand_new_code".into()));
        assert_eq!(unknown.to_string(), "brand_new_code");
        assert_eq!(
            OAuthErrorCode::parse("invalid_grant"),
            OAuthErrorCode::InvalidGrant
        );
    }

    #[test]
    fn classification_helpers() {
        assert!(api("rate_limit_exceeded", 429).is_retryable());
        assert!(api("internal_error", 500).is_retryable());
        assert!(api("whatever", 503).is_retryable());
        assert!(!api("url_ownership_unverified", 403).is_retryable());
        assert!(api("access_token_invalid", 401).needs_token_refresh());
        assert!(api("scope_not_authorized", 401).needs_reauthorization());
        assert!(api("spam_risk_too_many_posts", 200).cannot_post_now());
        assert!(api("reached_active_user_cap", 200).cannot_post_now());
        assert!(!api("privacy_level_option_mismatch", 403).cannot_post_now());
        assert!(TikTokError::Timeout.is_retryable());
    }

    #[test]
    fn only_throttling_and_server_failures_mean_nothing_was_done() {
        assert!(api("rate_limit_exceeded", 429).is_transient());
        assert!(api("internal_error", 503).is_transient());
        assert!(api("rate_limit_exceeded", 200).is_transient());
        assert!(!api("url_ownership_unverified", 403).is_transient());
        assert!(!TikTokError::Timeout.is_transient());
        assert!(TikTokError::Timeout.outcome_unknown());
        assert!(!api("internal_error", 500).outcome_unknown());
        assert_eq!(
            api("url_ownership_unverified", 403).code(),
            Some("url_ownership_unverified")
        );
        assert_eq!(TikTokError::Timeout.code(), None);
    }
}
