use std::{fmt, time::Duration};

use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::{
    DecodeError, OpenId, TikTokError,
    config::parse_scopes,
    envelope::{error_in, parse_json, seconds},
};

// Fallbacks when TikTok omits a lifetime: the strictest documented values (§1.5, D-tok26),
// so we refresh too early rather than too late. Failing instead would throw away a rotated
// refresh token that TikTok already considers the only valid one.
const FALLBACK_ACCESS_TTL: Duration = Duration::from_secs(2 * 60 * 60);
const FALLBACK_REFRESH_TTL: Duration = Duration::from_secs(180 * 24 * 60 * 60);

/// Tokens from `/v2/oauth/token/` (authorization-code or refresh grant).
///
/// Refresh tokens rotate (§1.5): persist `refresh_token` from every answer, atomically.
#[derive(Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    /// Remaining lifetime of `access_token` when TikTok answered.
    pub expires_in: Duration,
    /// Remaining lifetime of `refresh_token` when TikTok answered.
    pub refresh_expires_in: Duration,
    pub open_id: OpenId,
    /// Scopes the user actually granted (may be fewer than requested).
    pub scope: Vec<String>,
    pub token_type: String,
}

impl TokenSet {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.iter().any(|s| s == scope)
    }
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .field("open_id", &self.open_id)
            .field("scope", &self.scope)
            .field("token_type", &self.token_type)
            .finish()
    }
}

fn non_empty_str(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Fields are read one by one from a `Value` rather than through a derived struct so that
/// serde error messages (which quote offending values) can never carry a token.
pub(crate) fn parse_token_response(status: u16, body: &[u8]) -> Result<TokenSet, TikTokError> {
    let value = parse_json(status, body)?;
    // A success is recognised by its access token alone, whatever the HTTP status (§1.5).
    let obj = value
        .as_object()
        .filter(|o| o.contains_key("access_token"))
        // v1 wrapped tokens in `data`; cheap to accept in case an endpoint still does.
        .or_else(|| value.get("data").and_then(Value::as_object));
    let Some((obj, access_token)) =
        obj.and_then(|o| non_empty_str(o, "access_token").map(|t| (o, t)))
    else {
        return Err(error_in(status, &value).unwrap_or(TikTokError::Decode {
            http_status: status,
            source: DecodeError::Missing("access_token"),
        }));
    };
    let missing = |field| TikTokError::Decode {
        http_status: status,
        source: DecodeError::Missing(field),
    };
    Ok(TokenSet {
        access_token: SecretString::from(access_token),
        refresh_token: SecretString::from(
            non_empty_str(obj, "refresh_token").ok_or_else(|| missing("refresh_token"))?,
        ),
        expires_in: seconds(obj, "expires_in")
            .map(Duration::from_secs)
            .unwrap_or(FALLBACK_ACCESS_TTL),
        refresh_expires_in: seconds(obj, "refresh_expires_in")
            .map(Duration::from_secs)
            .unwrap_or(FALLBACK_REFRESH_TTL),
        open_id: OpenId::new(non_empty_str(obj, "open_id").ok_or_else(|| missing("open_id"))?),
        scope: obj
            .get("scope")
            .and_then(Value::as_str)
            .map(parse_scopes)
            .unwrap_or_default(),
        token_type: non_empty_str(obj, "token_type").unwrap_or_else(|| "Bearer".to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OAuthErrorCode;
    use secrecy::ExposeSecret;

    const OK: &[u8] = br#"{"access_token":"act.example","expires_in":86400,
        "open_id":"afd97af1-b87b","refresh_expires_in":31536000,
        "refresh_token":"rft.example","scope":"user.info.basic,video.publish",
        "token_type":"Bearer"}"#;

    #[test]
    fn flat_token_response() {
        let t = parse_token_response(200, OK).expect("ok");
        assert_eq!(t.access_token.expose_secret(), "act.example");
        assert_eq!(t.refresh_token.expose_secret(), "rft.example");
        assert_eq!(t.expires_in, Duration::from_secs(86400));
        assert_eq!(t.refresh_expires_in, Duration::from_secs(31_536_000));
        assert_eq!(t.open_id.as_str(), "afd97af1-b87b");
        assert!(t.has_scope("video.publish"));
        assert!(!t.has_scope("video.upload"));
        let dbg = format!("{t:?}");
        assert!(!dbg.contains("act.example") && !dbg.contains("rft.example"));
    }

    #[test]
    fn error_body_with_http_200_is_a_failure() {
        let body = br#"{"error":"invalid_client","error_description":"Client key does not match","log_id":"2026X"}"#;
        match parse_token_response(200, body) {
            Err(TikTokError::OAuth {
                error,
                description,
                log_id,
                http_status,
            }) => {
                assert_eq!(error, OAuthErrorCode::InvalidClient);
                assert_eq!(description, "Client key does not match");
                assert_eq!(log_id.as_deref(), Some("2026X"));
                assert_eq!(http_status, 200);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_oauth_error_and_missing_token() {
        let body = br#"{"error":"slow_down","error_description":"","log_id":"L"}"#;
        assert!(matches!(
            parse_token_response(400, body),
            Err(TikTokError::OAuth { error: OAuthErrorCode::Unknown(ref s), .. }) if s == "slow_down"
        ));
        assert!(matches!(
            parse_token_response(200, b"{}"),
            Err(TikTokError::Decode {
                source: DecodeError::Missing("access_token"),
                ..
            })
        ));
        assert!(matches!(
            parse_token_response(200, br#"{"access_token":""}"#),
            Err(TikTokError::Decode { .. })
        ));
    }

    #[test]
    fn lenient_numbers_and_missing_lifetimes() {
        let body = br#"{"access_token":"a","refresh_token":"r","open_id":"o","expires_in":"7200"}"#;
        let t = parse_token_response(200, body).expect("ok");
        assert_eq!(t.expires_in, Duration::from_secs(7200));
        assert_eq!(t.refresh_expires_in, FALLBACK_REFRESH_TTL);
        assert!(t.scope.is_empty());
        assert_eq!(t.token_type, "Bearer");
    }

    #[test]
    fn decode_errors_never_quote_tokens() {
        let body = br#"{"access_token":"act.secret-value","open_id":"o"}"#;
        let err = parse_token_response(200, body).expect_err("no refresh token");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("act.secret-value"), "{shown}");
    }
}
