//! Start-up configuration from `SANDBOX_*` environment variables. Every variable has a
//! default so `tiktok-sandbox` runs with no setup; most values can be changed at runtime
//! through `PATCH /_sandbox/settings`.

use std::{str::FromStr, time::Duration};

use serde::{Deserialize, Serialize};

/// Which PKCE challenge encodings the token endpoint accepts. Real TikTok's web behaviour is
/// UNCONFIRMED (fact sheet §1.4), so the default accepts both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PkceEncoding {
    #[default]
    Any,
    Hex,
    Base64url,
}

impl FromStr for PkceEncoding {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "any" => Ok(Self::Any),
            "hex" => Ok(Self::Hex),
            "base64url" => Ok(Self::Base64url),
            _ => Err(ConfigError::Invalid {
                var: "SANDBOX_PKCE_ENCODING",
                value: s.to_owned(),
            }),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} has an invalid value `{value}`")]
    Invalid { var: &'static str, value: String },
}

/// Sandbox settings. `Default` gives the documented defaults (bind `127.0.0.1:9090`); tests
/// usually set `bind` to `127.0.0.1:0`.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    pub bind: String,
    pub client_key: String,
    pub client_secret: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub code_ttl: Duration,
    /// `video_url` must start with one of these (TikTok's "URL prefix" properties).
    pub verified_url_prefixes: Vec<String>,
    pub webhook_url: Option<String>,
    pub moderation_delay: Duration,
    /// Real TikTok pulls only `https` URLs; local stacks serve media over plain http.
    pub allow_http_media: bool,
    /// Registered redirect URIs; empty accepts any absolute http(s) URI without fragment.
    pub redirect_uris: Vec<String>,
    /// Reject authorize requests without `code_challenge` (what some web apps report, §1.4).
    pub require_pkce: bool,
    pub pkce_encoding: PkceEncoding,
    /// Extra time a publish stays in `PROCESSING_DOWNLOAD` before the pull starts, so tests
    /// can observe that state and cancel.
    pub download_delay: Duration,
    /// Default Direct Post cap per user per 24 h ("typically around 15", §5.2).
    pub daily_post_cap: u32,
    /// Approve every consent at once as this test user (`SANDBOX_AUTO_APPROVE`).
    pub auto_approve: Option<String>,
    pub workers: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:9090".to_owned(),
            client_key: "sbx_client_key".to_owned(),
            client_secret: "sbx_client_secret".to_owned(),
            access_token_ttl: Duration::from_secs(7200),
            refresh_token_ttl: Duration::from_secs(15_552_000),
            code_ttl: Duration::from_secs(300),
            verified_url_prefixes: Vec::new(),
            webhook_url: None,
            moderation_delay: Duration::from_millis(500),
            allow_http_media: true,
            redirect_uris: Vec::new(),
            require_pkce: false,
            pkce_encoding: PkceEncoding::Any,
            download_delay: Duration::ZERO,
            daily_post_cap: 15,
            auto_approve: None,
            workers: 2,
        }
    }
}

impl SandboxConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Same as [`Self::from_env`] with an injectable variable source (for tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let d = Self::default();
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        Ok(Self {
            bind: get("SANDBOX_BIND").unwrap_or(d.bind),
            client_key: get("SANDBOX_CLIENT_KEY").unwrap_or(d.client_key),
            client_secret: get("SANDBOX_CLIENT_SECRET").unwrap_or(d.client_secret),
            access_token_ttl: secs(&get, "SANDBOX_ACCESS_TOKEN_TTL_SECS", d.access_token_ttl)?,
            refresh_token_ttl: secs(&get, "SANDBOX_REFRESH_TOKEN_TTL_SECS", d.refresh_token_ttl)?,
            code_ttl: secs(&get, "SANDBOX_CODE_TTL_SECS", d.code_ttl)?,
            verified_url_prefixes: get("SANDBOX_VERIFIED_URL_PREFIXES")
                .map(|v| list(&v))
                .unwrap_or(d.verified_url_prefixes),
            webhook_url: get("SANDBOX_WEBHOOK_URL").or(d.webhook_url),
            moderation_delay: millis(&get, "SANDBOX_MODERATION_DELAY_MS", d.moderation_delay)?,
            allow_http_media: boolean(&get, "SANDBOX_ALLOW_HTTP_MEDIA", d.allow_http_media)?,
            redirect_uris: get("SANDBOX_REDIRECT_URIS")
                .map(|v| list(&v))
                .unwrap_or(d.redirect_uris),
            require_pkce: boolean(&get, "SANDBOX_REQUIRE_PKCE", d.require_pkce)?,
            pkce_encoding: get("SANDBOX_PKCE_ENCODING")
                .map(|v| v.parse())
                .transpose()?
                .unwrap_or(d.pkce_encoding),
            download_delay: millis(&get, "SANDBOX_DOWNLOAD_DELAY_MS", d.download_delay)?,
            daily_post_cap: number(&get, "SANDBOX_DAILY_POST_CAP", d.daily_post_cap)?,
            auto_approve: get("SANDBOX_AUTO_APPROVE")
                .map(|u| u.trim().to_owned())
                .or(d.auto_approve),
            workers: number(&get, "SANDBOX_WORKERS", d.workers)?,
        })
    }
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn number<T: FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| ConfigError::Invalid { var, value: v }),
    }
}

fn secs(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    number(get, var, default.as_secs()).map(Duration::from_secs)
}

fn millis(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    number(get, var, default.as_millis() as u64).map(Duration::from_millis)
}

fn boolean(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(var).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
        Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
        Some(value) => Err(ConfigError::Invalid { var, value }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<SandboxConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        SandboxConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_without_env() {
        let c = load(&[]).expect("defaults");
        assert_eq!(c.bind, "127.0.0.1:9090");
        assert_eq!(c.client_key, "sbx_client_key");
        assert_eq!(c.access_token_ttl, Duration::from_secs(7200));
        assert_eq!(c.refresh_token_ttl, Duration::from_secs(15_552_000));
        assert_eq!(c.code_ttl, Duration::from_secs(300));
        assert_eq!(c.moderation_delay, Duration::from_millis(500));
        assert!(c.allow_http_media);
        assert!(c.webhook_url.is_none());
    }

    #[test]
    fn env_overrides() {
        let c = load(&[
            (
                "SANDBOX_VERIFIED_URL_PREFIXES",
                "http://a/v1/media/, https://b/x/",
            ),
            ("SANDBOX_ALLOW_HTTP_MEDIA", "false"),
            ("SANDBOX_CODE_TTL_SECS", "5"),
            ("SANDBOX_PKCE_ENCODING", "hex"),
        ])
        .expect("valid");
        assert_eq!(
            c.verified_url_prefixes,
            vec!["http://a/v1/media/", "https://b/x/"]
        );
        assert!(!c.allow_http_media);
        assert_eq!(c.code_ttl, Duration::from_secs(5));
        assert_eq!(c.pkce_encoding, PkceEncoding::Hex);
        assert!(load(&[("SANDBOX_CODE_TTL_SECS", "soon")]).is_err());
        assert!(load(&[("SANDBOX_ALLOW_HTTP_MEDIA", "maybe")]).is_err());
    }
}
