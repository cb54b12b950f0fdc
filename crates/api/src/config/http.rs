//! The HTTP edge: which browser origins may call us, who the client is behind proxies, our
//! own rate limits, and what a connection may hold and for how long.

use std::fmt;
use std::time::Duration;

use url::Url;

use super::env::{ConfigError, Reader, err};
use crate::middleware::{ForwardedHeader, TrustedProxies, TrustedProxiesError};

/// A browser origin (`scheme://host[:port]`) allowed to call the API with credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigin(String);

impl AllowedOrigin {
    pub fn parse(raw: &str) -> Option<Self> {
        let url = Url::parse(raw).ok()?;
        let is_origin = matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some()
            && url.path() == "/"
            && url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty()
            && !raw.trim_end_matches('/').contains('*');
        is_origin.then(|| Self(url.origin().ascii_serialization()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AllowedOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Our own request limits (`limits.rs`).
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    pub enabled: bool,
    /// Sign-in endpoints, per client IP.
    pub sign_in_per_ip: u32,
    /// Video creations per user.
    pub create_per_user: u32,
    /// Publish requests per user.
    pub publish_per_user: u32,
    /// Video creations, publish requests and refreshes per client IP (all users behind it).
    pub per_ip: u32,
    /// Refreshes per session.
    pub refresh_per_session: u32,
    /// Profile syncs, and separately exports, per user.
    pub account_per_user: u32,
}

/// Where the client's address comes from (`middleware::client_addr`).
#[derive(Debug, Clone, Default)]
pub struct ProxySettings {
    /// Peers whose forwarding header is believed.
    pub trusted: TrustedProxies,
    /// The header those proxies write.
    pub header: ForwardedHeader,
}

/// What a client may hold and for how long: connections, slow request heads and bodies, idle
/// keep-alive, and the wait for an in-flight permit (docs/reliability.md, "Limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeSettings {
    /// A request head (line and headers) must arrive within this, counted from the connection's
    /// start for its first request and from the first byte for later ones.
    pub header_timeout: Duration,
    /// A request body must arrive within this once its head is read.
    pub body_timeout: Duration,
    /// An idle keep-alive connection is closed after this.
    pub keep_alive: Duration,
    /// Longest wait for an in-flight permit before 503 `overloaded`.
    pub queue_timeout: Duration,
    /// Open connections per process; past it, new ones wait in the listen backlog.
    pub max_connections: usize,
}

/// `POSTIQO_ALLOWED_ORIGINS`: the SPA origins given credentials by CORS (and by the bucket's
/// CORS rule, which `bootstrap` writes).
pub(super) fn allowed_origins(r: &Reader) -> Result<Vec<AllowedOrigin>, ConfigError> {
    let raw = r.required("POSTIQO_ALLOWED_ORIGINS")?;
    let origins = raw
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            AllowedOrigin::parse(o).ok_or_else(|| {
                err(
                    "POSTIQO_ALLOWED_ORIGINS",
                    "must be a comma-separated list of origins like https://app.example.com (no path, no wildcard)",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if origins.is_empty() {
        return Err(err(
            "POSTIQO_ALLOWED_ORIGINS",
            "must list at least one origin",
        ));
    }
    Ok(origins)
}

pub(super) fn proxies(r: &Reader) -> Result<ProxySettings, ConfigError> {
    Ok(ProxySettings {
        trusted: TrustedProxies::parse(&r.or("POSTIQO_TRUSTED_PROXIES", "")).map_err(
            |e| match e {
                TrustedProxiesError::Malformed => err(
                    "POSTIQO_TRUSTED_PROXIES",
                    "must be a comma-separated list of CIDRs like 10.0.0.0/8 or addresses",
                ),
                TrustedProxiesError::Everything => err(
                    "POSTIQO_TRUSTED_PROXIES",
                    "must not trust every address (/0): every client could then choose its own",
                ),
            },
        )?,
        header: r.parse(
            "POSTIQO_FORWARDED_HEADER",
            ForwardedHeader::default(),
            "x-forwarded-for or forwarded",
        )?,
    })
}

pub(super) fn rate_limits(r: &Reader) -> Result<RateLimitSettings, ConfigError> {
    let per_min = |var: &'static str, default: u32| -> Result<u32, ConfigError> {
        let v: u32 = r.parse(var, default, "a whole number of requests per minute")?;
        if v == 0 {
            return Err(err(
                var,
                "must be at least 1 (use POSTIQO_RATE_LIMIT=off to disable)",
            ));
        }
        Ok(v)
    };
    Ok(RateLimitSettings {
        enabled: r.bool("POSTIQO_RATE_LIMIT", true)?,
        sign_in_per_ip: per_min("POSTIQO_RATE_LIMIT_SIGNIN_PER_MIN", 60)?,
        create_per_user: per_min("POSTIQO_RATE_LIMIT_CREATE_PER_MIN", 120)?,
        publish_per_user: per_min("POSTIQO_RATE_LIMIT_PUBLISH_PER_MIN", 30)?,
        per_ip: per_min("POSTIQO_RATE_LIMIT_PER_IP_PER_MIN", 1200)?,
        refresh_per_session: per_min("POSTIQO_RATE_LIMIT_REFRESH_PER_MIN", 10)?,
        account_per_user: per_min("POSTIQO_RATE_LIMIT_ACCOUNT_PER_MIN", 10)?,
    })
}

pub(super) fn edge(r: &Reader) -> Result<EdgeSettings, ConfigError> {
    let edge = EdgeSettings {
        header_timeout: r.secs("POSTIQO_HEADER_TIMEOUT_SECS", 10)?,
        body_timeout: r.secs("POSTIQO_BODY_TIMEOUT_SECS", 10)?,
        keep_alive: r.secs("POSTIQO_KEEP_ALIVE_SECS", 5)?,
        queue_timeout: r.ms("POSTIQO_QUEUE_TIMEOUT_MS", 2000)?,
        max_connections: r.parse(
            "POSTIQO_MAX_CONNECTIONS",
            2048,
            "a whole number of connections",
        )?,
    };
    if edge.max_connections == 0 {
        return Err(err("POSTIQO_MAX_CONNECTIONS", "must be at least 1"));
    }
    // A queue wait as long as a client's own patience only turns refusals into hangs.
    if edge.queue_timeout > Duration::from_secs(60) {
        return Err(err("POSTIQO_QUEUE_TIMEOUT_MS", "must be at most 60000"));
    }
    Ok(edge)
}
