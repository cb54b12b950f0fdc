//! Our own sessions: access tokens (JWTs) and the SPA's cookies and refresh tokens.

use std::time::Duration;

use url::Url;

use super::env::{ConfigError, Reader, err};
use super::keys::{KeyRing, parse_signing_keys};

/// Longest `POSTIQO_SESSION_CACHE_MS`: how long a session ended on another instance may still
/// be honoured here.
const MAX_SESSION_CACHE_MS: u64 = 5000;

/// Access tokens: who signs them, for whom, and for how long.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub signing_keys: KeyRing,
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
}

/// How the SPA's session cookies are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
    None,
}

#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// Lifetime of a refresh token (restarts at every rotation).
    pub ttl: Duration,
    pub same_site: SameSite,
    /// `Secure` on cookies: always, except for a plain-http localhost API (development).
    pub secure_cookies: bool,
    /// How long after a rotation the retired refresh token still yields the current tokens
    /// (two tabs refreshing at once); 0 turns it off.
    pub refresh_reuse_interval: Duration,
    /// How long a session found alive is trusted without reading it again (0: never).
    pub cache_ttl: Duration,
}

/// `local_http`: a plain-http localhost API (development), where cookies cannot be `Secure`.
pub(super) fn sessions(r: &Reader, local_http: bool) -> Result<SessionSettings, ConfigError> {
    let same_site = match r
        .or("POSTIQO_COOKIE_SAMESITE", "lax")
        .to_ascii_lowercase()
        .as_str()
    {
        "lax" => SameSite::Lax,
        "strict" => SameSite::Strict,
        "none" => SameSite::None,
        _ => {
            return Err(err(
                "POSTIQO_COOKIE_SAMESITE",
                "must be lax, strict or none",
            ));
        }
    };
    if same_site == SameSite::None && local_http {
        return Err(err(
            "POSTIQO_COOKIE_SAMESITE",
            "none needs Secure cookies, so an https POSTIQO_PUBLIC_URL",
        ));
    }
    let reuse_secs: u64 = r.parse(
        "POSTIQO_REFRESH_REUSE_INTERVAL_SECS",
        10,
        "a whole number of seconds",
    )?;
    if reuse_secs > 60 {
        return Err(err(
            "POSTIQO_REFRESH_REUSE_INTERVAL_SECS",
            "must be at most 60 seconds (a retired token must stop working soon)",
        ));
    }
    let cache_ms: u64 = r.parse(
        "POSTIQO_SESSION_CACHE_MS",
        2000,
        "a whole number of milliseconds",
    )?;
    if cache_ms > MAX_SESSION_CACHE_MS {
        return Err(err(
            "POSTIQO_SESSION_CACHE_MS",
            format!(
                "must be at most {MAX_SESSION_CACHE_MS}: a session ended on another instance is honoured this long"
            ),
        ));
    }
    Ok(SessionSettings {
        ttl: r.secs("POSTIQO_SESSION_TTL_SECS", 30 * 24 * 3600)?,
        same_site,
        secure_cookies: !local_http,
        refresh_reuse_interval: Duration::from_secs(reuse_secs),
        cache_ttl: Duration::from_millis(cache_ms),
    })
}

pub(super) fn jwt(r: &Reader, public_url: &Url) -> Result<JwtSettings, ConfigError> {
    Ok(JwtSettings {
        signing_keys: parse_signing_keys("POSTIQO_JWT_KEYS", &r.required("POSTIQO_JWT_KEYS")?)?,
        issuer: r.or(
            "POSTIQO_JWT_ISSUER",
            public_url.origin().ascii_serialization().as_str(),
        ),
        audience: r.or("POSTIQO_JWT_AUDIENCE", "postiqo-api"),
        access_ttl: r.secs("POSTIQO_ACCESS_TOKEN_TTL_SECS", 900)?,
    })
}
