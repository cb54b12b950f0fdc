//! Configuration from the environment only, validated once at start.
//!
//! Every variable is read through [`Env`], so the rules are unit-tested on a plain map. An error
//! names the variable and what is wrong with it, never its value (it may be a secret). One
//! module per concern: [`http`] (origins, proxies, rate limits, connection limits),
//! [`sessions`] (access tokens, cookies, refresh tokens), [`tiktok`] (our TikTok app),
//! [`publishing`] (uploads, publishing, the worker), [`storage`] (table and bucket), [`keys`]
//! (the key rings).

mod env;
mod http;
mod keys;
mod publishing;
mod sessions;
mod storage;
#[cfg(test)]
mod tests;
mod tiktok;

use std::net::SocketAddr;

use postiqo_storage::StorageConfig;
use url::{Host, Url};

pub use env::{ConfigError, Env, ProcessEnv};
use env::{Reader, err};
pub use http::{AllowedOrigin, EdgeSettings, ProxySettings, RateLimitSettings};
pub use keys::KeyRing;
pub use publishing::{MediaMode, ProbeLimits, PublishConfig, UploadSettings};
pub use sessions::{JwtSettings, SameSite, SessionSettings};
pub use storage::BootstrapSettings;
pub use tiktok::TikTokSettings;

/// Every variable the API reads (the standard `AWS_*` ones are read by aws-config). The README
/// table and docker-compose.yml are checked against this list.
pub const VARIABLES: &[&str] = &[
    "POSTIQO_BIND",
    "POSTIQO_METRICS_BIND",
    "POSTIQO_METRICS_DYNAMODB_CAPACITY",
    "POSTIQO_PUBLIC_URL",
    "POSTIQO_ALLOWED_ORIGINS",
    "POSTIQO_TABLE",
    "POSTIQO_BUCKET",
    "POSTIQO_S3_PUBLIC_ENDPOINT",
    "POSTIQO_S3_FORCE_PATH_STYLE",
    "POSTIQO_JOB_SHARDS",
    "POSTIQO_TIKTOK_CLIENT_KEY",
    "POSTIQO_TIKTOK_CLIENT_SECRET",
    "POSTIQO_TIKTOK_AUTH_URL",
    "POSTIQO_TIKTOK_API_URL",
    "POSTIQO_JWT_KEYS",
    "POSTIQO_JWT_ISSUER",
    "POSTIQO_JWT_AUDIENCE",
    "POSTIQO_ACCESS_TOKEN_TTL_SECS",
    "POSTIQO_MAX_VIDEO_BYTES",
    "POSTIQO_MULTIPART_THRESHOLD_BYTES",
    "POSTIQO_MULTIPART_PART_BYTES",
    "POSTIQO_UPLOAD_URL_TTL_SECS",
    "POSTIQO_PENDING_VIDEO_TTL_SECS",
    "POSTIQO_MEDIA_PROBE_MAX_READS",
    "POSTIQO_MEDIA_PROBE_MAX_BYTES",
    "POSTIQO_JSON_LIMIT_BYTES",
    "POSTIQO_TOKEN_ENCRYPTION_KEY",
    "POSTIQO_TIKTOK_SCOPES",
    "POSTIQO_TIKTOK_PKCE",
    "POSTIQO_SESSION_TTL_SECS",
    "POSTIQO_REFRESH_REUSE_INTERVAL_SECS",
    "POSTIQO_COOKIE_SAMESITE",
    "POSTIQO_MEDIA_MODE",
    "POSTIQO_MEDIA_URL_TTL_SECS",
    "POSTIQO_WORKER",
    "POSTIQO_WORKER_INTERVAL_MS",
    "POSTIQO_WORKER_IDLE_MAX_MS",
    "POSTIQO_WORKER_LEASE_SECS",
    "POSTIQO_PUBLISH_DEADLINE_SECS",
    "POSTIQO_POST_ID_WAIT_SECS",
    "POSTIQO_SCHEDULE_MIN_LEAD_SECS",
    "POSTIQO_SCHEDULE_GRACE_SECS",
    "POSTIQO_POLL_INITIAL_MS",
    "POSTIQO_POLL_MAX_MS",
    "POSTIQO_WEBHOOK_TOLERANCE_SECS",
    "POSTIQO_SESSION_CACHE_MS",
    "POSTIQO_MAX_IN_FLIGHT",
    "POSTIQO_QUEUE_TIMEOUT_MS",
    "POSTIQO_BODY_TIMEOUT_SECS",
    "POSTIQO_HEADER_TIMEOUT_SECS",
    "POSTIQO_KEEP_ALIVE_SECS",
    "POSTIQO_MAX_CONNECTIONS",
    "POSTIQO_ABANDONED_DELETION_SECS",
    "POSTIQO_RATE_LIMIT",
    "POSTIQO_RATE_LIMIT_SIGNIN_PER_MIN",
    "POSTIQO_RATE_LIMIT_CREATE_PER_MIN",
    "POSTIQO_RATE_LIMIT_PUBLISH_PER_MIN",
    "POSTIQO_RATE_LIMIT_PER_IP_PER_MIN",
    "POSTIQO_RATE_LIMIT_REFRESH_PER_MIN",
    "POSTIQO_RATE_LIMIT_ACCOUNT_PER_MIN",
    "POSTIQO_TRUSTED_PROXIES",
    "POSTIQO_FORWARDED_HEADER",
];

/// Standard variables of the AWS SDK that deployments set.
pub const AWS_VARIABLES: &[&str] = &[
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_EC2_METADATA_DISABLED",
    "RUST_LOG",
];

/// A variable that is missing or malformed.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    /// Where `GET /metrics` is served (Prometheus text); `None`: no metrics at all.
    pub metrics_bind: Option<SocketAddr>,
    pub public_url: Url,
    /// Browser origins given credentials (CORS).
    pub allowed_origins: Vec<AllowedOrigin>,
    pub storage: StorageConfig,
    pub tiktok: TikTokSettings,
    pub jwt: JwtSettings,
    /// Keys sealing TikTok's tokens at rest.
    pub token_sealing_keys: KeyRing,
    pub uploads: UploadSettings,
    pub sessions: SessionSettings,
    pub publish: PublishConfig,
    pub rate_limits: RateLimitSettings,
    pub proxies: ProxySettings,
    /// API requests handled at once per process (others wait).
    pub max_in_flight: usize,
    /// Largest JSON request body accepted.
    pub json_limit: usize,
    pub edge: EdgeSettings,
}

/// A URL on this machine: `localhost`, 127.0.0.0/8 or ::1. Only there may the development
/// keys, plain-http origins and non-Secure cookies be used.
pub fn is_localhost(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl Settings {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let r = Reader(env);
        let bind = r.parse(
            "POSTIQO_BIND",
            SocketAddr::from(([127, 0, 0, 1], 8080)),
            "an address like 127.0.0.1:8080",
        )?;
        let metrics_bind = match r.opt("POSTIQO_METRICS_BIND") {
            None => None,
            Some(raw) => Some(raw.parse::<SocketAddr>().map_err(|_| {
                err(
                    "POSTIQO_METRICS_BIND",
                    "must be an address like 127.0.0.1:9464",
                )
            })?),
        };
        if metrics_bind.is_some_and(|m| m == bind && m.port() != 0) {
            return Err(err(
                "POSTIQO_METRICS_BIND",
                "must differ from POSTIQO_BIND: metrics are never served on the API's port",
            ));
        }
        let public_url = r.url("POSTIQO_PUBLIC_URL", None)?;
        if public_url.path() != "/" || public_url.query().is_some() {
            return Err(err(
                "POSTIQO_PUBLIC_URL",
                "must be a base URL without path or query",
            ));
        }
        let storage = storage::storage(&r)?;
        if storage.record_capacity && metrics_bind.is_none() {
            return Err(err(
                "POSTIQO_METRICS_DYNAMODB_CAPACITY",
                "needs POSTIQO_METRICS_BIND: the consumed capacity is only served as metrics",
            ));
        }
        let allowed_origins = http::allowed_origins(&r)?;
        let tiktok = tiktok::tiktok(&r)?;

        let localhost = is_localhost(&public_url);
        let local_http = public_url.scheme() == "http" && localhost;
        if public_url.scheme() == "http" && !local_http {
            return Err(err(
                "POSTIQO_PUBLIC_URL",
                "must be https (plain http only for localhost)",
            ));
        }
        let sessions = sessions::sessions(&r, local_http)?;
        let jwt = sessions::jwt(&r, &public_url)?;
        let token_sealing_keys = keys::parse_sealing_keys(
            "POSTIQO_TOKEN_ENCRYPTION_KEY",
            &r.required("POSTIQO_TOKEN_ENCRYPTION_KEY")?,
        )?;
        if !localhost {
            crate::key_policy::check_production("POSTIQO_JWT_KEYS", &jwt.signing_keys)?;
            crate::key_policy::check_production(
                "POSTIQO_TOKEN_ENCRYPTION_KEY",
                &token_sealing_keys,
            )?;
            let plain = allowed_origins.iter().any(|o| {
                Url::parse(o.as_str()).is_ok_and(|u| u.scheme() == "http" && !is_localhost(&u))
            });
            if plain {
                return Err(err(
                    "POSTIQO_ALLOWED_ORIGINS",
                    "lists an http:// origin other than localhost: outside localhost every origin must be https",
                ));
            }
        }
        // 32: an instance's CPU, not this bound, limits its throughput (32 calls of ~5 ms to
        // DynamoDB are ~6,400/s), and each call in flight holds a storage connection and its
        // buffers per worker thread (docs/benchmarks.md §6: 46 → 42 MiB at 256 connections).
        let max_in_flight: usize =
            r.parse("POSTIQO_MAX_IN_FLIGHT", 32, "a whole number of requests")?;
        if max_in_flight == 0 {
            return Err(err("POSTIQO_MAX_IN_FLIGHT", "must be at least 1"));
        }
        let json_limit = r.parse("POSTIQO_JSON_LIMIT_BYTES", 64 * 1024, "a number of bytes")?;

        Ok(Self {
            bind,
            metrics_bind,
            public_url,
            allowed_origins,
            storage,
            tiktok,
            jwt,
            token_sealing_keys,
            uploads: publishing::uploads(&r)?,
            sessions,
            publish: publishing::publish(&r)?,
            rate_limits: http::rate_limits(&r)?,
            proxies: http::proxies(&r)?,
            max_in_flight,
            json_limit,
            edge: http::edge(&r)?,
        })
    }
}
