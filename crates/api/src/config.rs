//! Configuration from the environment only, validated once at start.
//!
//! Every variable is read through [`Env`], so the rules are unit-tested on a plain map. An error
//! names the variable and what is wrong with it, never its value (it may be a secret).

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use postiqo_domain::UploadPolicy;
use postiqo_storage::StorageConfig;
use secrecy::SecretString;
use url::{Host, Url};

use crate::middleware::{ForwardedHeader, TrustedProxies, TrustedProxiesError};

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
    "POSTIQO_WORKER_LEASE_SECS",
    "POSTIQO_PUBLISH_DEADLINE_SECS",
    "POSTIQO_POST_ID_WAIT_SECS",
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {var} {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

fn err(var: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        problem: problem.into(),
    }
}

/// Where variables come from: the process environment, or a map in tests.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

struct Reader<'a>(&'a dyn Env);

impl Reader<'_> {
    /// The trimmed value; empty counts as unset.
    fn opt(&self, var: &'static str) -> Option<String> {
        self.0
            .get(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, var: &'static str) -> Result<String, ConfigError> {
        self.opt(var)
            .ok_or_else(|| err(var, "is required but not set"))
    }

    fn or(&self, var: &'static str, default: &str) -> String {
        self.opt(var).unwrap_or_else(|| default.to_owned())
    }

    fn parse<T: std::str::FromStr>(
        &self,
        var: &'static str,
        default: T,
        what: &str,
    ) -> Result<T, ConfigError> {
        match self.opt(var) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| err(var, format!("must be {what}"))),
        }
    }

    fn secs(&self, var: &'static str, default: u64) -> Result<Duration, ConfigError> {
        let n: u64 = self.parse(var, default, "a whole number of seconds")?;
        if n == 0 {
            return Err(err(var, "must be at least 1 second"));
        }
        Ok(Duration::from_secs(n))
    }

    fn bool(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.opt(var).as_deref() {
            None => Ok(default),
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some("0" | "false" | "no" | "off") => Ok(false),
            Some(_) => Err(err(var, "must be true or false")),
        }
    }

    fn url(&self, var: &'static str, default: Option<&str>) -> Result<Url, ConfigError> {
        let raw = match default {
            Some(d) => self.or(var, d),
            None => self.required(var)?,
        };
        let url = Url::parse(&raw).map_err(|_| err(var, "must be an absolute http(s) URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(err(var, "must be an absolute http(s) URL"));
        }
        Ok(url)
    }
}

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

/// Keys that sign and verify our access JWTs. The first signs; all verify, so a new key can be
/// introduced and the old one kept for one access-token lifetime without logging anyone out.
#[derive(Clone)]
pub struct JwtKeys {
    pub keys: Vec<(String, SecretString)>,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<_> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("JwtKeys")
            .field("kids", &kids)
            .finish_non_exhaustive()
    }
}

/// `kid:base64secret,kid2:base64secret`; each secret at least 32 bytes.
fn parse_jwt_keys(var: &'static str, raw: &str) -> Result<JwtKeys, ConfigError> {
    parse_keyring(var, raw, 32, None)
}

/// Encryption keys for TikTok tokens at rest: `kid:base64key[,...]`, each exactly 32 bytes.
/// The first encrypts; all decrypt, so keys rotate without re-encrypting at once.
fn parse_encryption_keys(var: &'static str, raw: &str) -> Result<JwtKeys, ConfigError> {
    parse_keyring(var, raw, 32, Some(32))
}

fn parse_keyring(
    var: &'static str,
    raw: &str,
    min: usize,
    exact: Option<usize>,
) -> Result<JwtKeys, ConfigError> {
    let mut keys = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (kid, secret) = entry
            .split_once(':')
            .ok_or_else(|| err(var, "must be a comma-separated list of kid:base64-secret"))?;
        let valid_kid = !kid.is_empty()
            && kid.len() <= 64
            && kid
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid_kid {
            return Err(err(
                var,
                "has a key id that is not 1-64 characters of [A-Za-z0-9._-]",
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(secret)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(secret))
            .map_err(|_| err(var, format!("key {kid} is not valid base64")))?;
        if let Some(len) = exact
            && bytes.len() != len
        {
            return Err(err(
                var,
                format!("key {kid} must decode to exactly {len} bytes"),
            ));
        }
        if bytes.len() < min {
            return Err(err(
                var,
                format!("key {kid} must decode to at least {min} bytes"),
            ));
        }
        if keys.iter().any(|(k, _)| k == kid) {
            return Err(err(var, format!("lists key id {kid} twice")));
        }
        keys.push((kid.to_owned(), SecretString::from(secret.to_owned())));
    }
    if keys.is_empty() {
        return Err(err(var, "must list at least one key"));
    }
    Ok(JwtKeys { keys })
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub keys: JwtKeys,
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
}

#[derive(Clone)]
pub struct TikTokSettings {
    pub client_key: String,
    pub client_secret: SecretString,
    pub auth_url: Url,
    pub api_url: Url,
    pub scopes: Vec<String>,
    pub pkce: postiqo_tiktok::PkceMode,
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
    /// Keys sealing TikTok tokens at rest (reusing the key-ring shape of the JWT keys).
    pub encryption_keys: JwtKeys,
}

impl fmt::Debug for TikTokSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TikTokSettings")
            .field("client_key", &self.client_key)
            .field("scopes", &self.scopes)
            .field("pkce", &self.pkce)
            .field("auth_url", &self.auth_url.as_str())
            .field("api_url", &self.api_url.as_str())
            .finish_non_exhaustive()
    }
}

/// How TikTok reaches the video bytes (it pulls them from a URL on a verified domain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaMode {
    /// A signed, expiring `GET /v1/media/{token}` on `POSTIQO_PUBLIC_URL`, streamed from S3.
    Proxy,
    /// A presigned S3 GET (the bucket must be served from a verified domain).
    Presigned,
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

#[derive(Debug, Clone)]
pub struct PublishConfig {
    pub media_mode: MediaMode,
    /// Validity of media URLs; at least TikTok's one-hour download window.
    pub media_url_ttl: Duration,
    /// Run the status worker inside the API process.
    pub worker: bool,
    pub worker_interval: Duration,
    pub worker_lease: Duration,
    /// A publish still processing after this is failed with `publish_timeout`.
    pub deadline: Duration,
    /// How long to keep asking for the post id of a public post after it published.
    pub post_id_wait: Duration,
    pub poll_initial: Duration,
    pub poll_max: Duration,
    /// How old a webhook's signed timestamp may be; deliveries are remembered this long
    /// (plus a margin) to recognise replays.
    pub webhook_tolerance: Duration,
    /// An account deletion untouched for this long was abandoned: the worker finishes it.
    pub abandoned_deletion_after: Duration,
}

#[derive(Debug, Clone)]
pub struct UploadSettings {
    pub policy: UploadPolicy,
    /// How long a presigned upload URL stays valid.
    pub url_ttl: Duration,
    /// How long a video may stay PENDING before it expires.
    pub pending_ttl: Duration,
}

/// Storage settings: all `bootstrap` needs.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    pub storage: StorageConfig,
    pub allowed_origins: Vec<AllowedOrigin>,
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

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    /// Where `GET /metrics` is served (Prometheus text); `None`: no metrics at all.
    pub metrics_bind: Option<SocketAddr>,
    pub public_url: Url,
    pub storage: StorageSettings,
    pub tiktok: TikTokSettings,
    pub jwt: JwtSettings,
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

const MIB: u64 = 1024 * 1024;

/// Longest `POSTIQO_SESSION_CACHE_MS`: how long a session ended on another instance may still
/// be honoured here.
const MAX_SESSION_CACHE_MS: u64 = 5000;

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

impl StorageSettings {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let r = Reader(env);
        let table = r.required("POSTIQO_TABLE")?;
        let valid_table = (3..=255).contains(&table.len())
            && table
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid_table {
            return Err(err(
                "POSTIQO_TABLE",
                "must be 3-255 characters of [A-Za-z0-9_.-]",
            ));
        }
        let bucket = r.required("POSTIQO_BUCKET")?;
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'))
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !valid_bucket {
            return Err(err(
                "POSTIQO_BUCKET",
                "must be a valid S3 bucket name (3-63 of [a-z0-9.-])",
            ));
        }
        let s3_public_endpoint = match r.opt("POSTIQO_S3_PUBLIC_ENDPOINT") {
            Some(_) => Some(r.url("POSTIQO_S3_PUBLIC_ENDPOINT", None)?.to_string()),
            None => None,
        };
        // Local S3 servers live on an IP address, where virtual-host addressing cannot work;
        // real S3 prefers virtual-host style. Default to path style only when an endpoint is
        // overridden.
        let endpoint_overridden =
            r.opt("AWS_ENDPOINT_URL_S3").is_some() || r.opt("AWS_ENDPOINT_URL").is_some();
        let s3_force_path_style = r.bool("POSTIQO_S3_FORCE_PATH_STYLE", endpoint_overridden)?;
        let record_capacity = r.bool("POSTIQO_METRICS_DYNAMODB_CAPACITY", false)?;
        let raw_origins = r.required("POSTIQO_ALLOWED_ORIGINS")?;
        let allowed_origins = raw_origins
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
        if allowed_origins.is_empty() {
            return Err(err(
                "POSTIQO_ALLOWED_ORIGINS",
                "must list at least one origin",
            ));
        }
        Ok(Self {
            storage: StorageConfig {
                table,
                bucket,
                s3_public_endpoint,
                s3_force_path_style,
                record_capacity,
            },
            allowed_origins,
        })
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
        let storage = StorageSettings::from_env(env)?;
        if storage.storage.record_capacity && metrics_bind.is_none() {
            return Err(err(
                "POSTIQO_METRICS_DYNAMODB_CAPACITY",
                "needs POSTIQO_METRICS_BIND: the consumed capacity is only served as metrics",
            ));
        }

        let tiktok = TikTokSettings {
            client_key: r.required("POSTIQO_TIKTOK_CLIENT_KEY")?,
            client_secret: SecretString::from(r.required("POSTIQO_TIKTOK_CLIENT_SECRET")?),
            auth_url: r.url(
                "POSTIQO_TIKTOK_AUTH_URL",
                Some("https://www.tiktok.com/v2/auth/authorize/"),
            )?,
            api_url: r.url(
                "POSTIQO_TIKTOK_API_URL",
                Some("https://open.tiktokapis.com"),
            )?,
            scopes: postiqo_tiktok::parse_scopes(
                &r.or("POSTIQO_TIKTOK_SCOPES", postiqo_tiktok::DEFAULT_SCOPES),
            ),
            pkce: r.parse(
                "POSTIQO_TIKTOK_PKCE",
                postiqo_tiktok::PkceMode::default(),
                "off, s256 or s256-hex",
            )?,
        };
        if !tiktok.scopes.iter().any(|s| s == "user.info.basic") {
            return Err(err("POSTIQO_TIKTOK_SCOPES", "must include user.info.basic"));
        }

        let localhost = is_localhost(&public_url);
        let local_http = public_url.scheme() == "http" && localhost;
        if public_url.scheme() == "http" && !local_http {
            return Err(err(
                "POSTIQO_PUBLIC_URL",
                "must be https (plain http only for localhost)",
            ));
        }
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
        let sessions = SessionSettings {
            ttl: r.secs("POSTIQO_SESSION_TTL_SECS", 30 * 24 * 3600)?,
            same_site,
            secure_cookies: !local_http,
            refresh_reuse_interval: {
                let secs: u64 = r.parse(
                    "POSTIQO_REFRESH_REUSE_INTERVAL_SECS",
                    10,
                    "a whole number of seconds",
                )?;
                if secs > 60 {
                    return Err(err(
                        "POSTIQO_REFRESH_REUSE_INTERVAL_SECS",
                        "must be at most 60 seconds (a retired token must stop working soon)",
                    ));
                }
                Duration::from_secs(secs)
            },
            cache_ttl: Duration::from_millis(r.parse(
                "POSTIQO_SESSION_CACHE_MS",
                2000,
                "a whole number of milliseconds",
            )?),
            encryption_keys: parse_encryption_keys(
                "POSTIQO_TOKEN_ENCRYPTION_KEY",
                &r.required("POSTIQO_TOKEN_ENCRYPTION_KEY")?,
            )?,
        };

        let jwt = JwtSettings {
            keys: parse_jwt_keys("POSTIQO_JWT_KEYS", &r.required("POSTIQO_JWT_KEYS")?)?,
            issuer: r.or(
                "POSTIQO_JWT_ISSUER",
                public_url.origin().ascii_serialization().as_str(),
            ),
            audience: r.or("POSTIQO_JWT_AUDIENCE", "postiqo-api"),
            access_ttl: r.secs("POSTIQO_ACCESS_TOKEN_TTL_SECS", 900)?,
        };
        if sessions.cache_ttl > Duration::from_millis(MAX_SESSION_CACHE_MS) {
            return Err(err(
                "POSTIQO_SESSION_CACHE_MS",
                format!(
                    "must be at most {MAX_SESSION_CACHE_MS}: a session ended on another instance is honoured this long"
                ),
            ));
        }
        if !localhost {
            crate::key_policy::check_production("POSTIQO_JWT_KEYS", &jwt.keys)?;
            crate::key_policy::check_production(
                "POSTIQO_TOKEN_ENCRYPTION_KEY",
                &sessions.encryption_keys,
            )?;
            let plain = storage.allowed_origins.iter().any(|o| {
                Url::parse(o.as_str()).is_ok_and(|u| u.scheme() == "http" && !is_localhost(&u))
            });
            if plain {
                return Err(err(
                    "POSTIQO_ALLOWED_ORIGINS",
                    "lists an http:// origin other than localhost: outside localhost every origin must be https",
                ));
            }
        }
        let proxies = ProxySettings {
            trusted: TrustedProxies::parse(&r.or("POSTIQO_TRUSTED_PROXIES", "")).map_err(|e| {
                match e {
                    TrustedProxiesError::Malformed => err(
                        "POSTIQO_TRUSTED_PROXIES",
                        "must be a comma-separated list of CIDRs like 10.0.0.0/8 or addresses",
                    ),
                    TrustedProxiesError::Everything => err(
                        "POSTIQO_TRUSTED_PROXIES",
                        "must not trust every address (/0): every client could then choose its own",
                    ),
                }
            })?,
            header: r.parse(
                "POSTIQO_FORWARDED_HEADER",
                ForwardedHeader::default(),
                "x-forwarded-for or forwarded",
            )?,
        };

        let policy = UploadPolicy {
            max_size: r.parse(
                "POSTIQO_MAX_VIDEO_BYTES",
                4 * 1024 * MIB,
                "a number of bytes",
            )?,
            multipart_threshold: r.parse(
                "POSTIQO_MULTIPART_THRESHOLD_BYTES",
                64 * MIB,
                "a number of bytes",
            )?,
            part_size: r.parse(
                "POSTIQO_MULTIPART_PART_BYTES",
                16 * MIB,
                "a number of bytes",
            )?,
        }
        .validate()
        .map_err(|e| err("POSTIQO_MULTIPART_PART_BYTES", e.to_string()))?;
        if policy.max_size == 0 {
            return Err(err("POSTIQO_MAX_VIDEO_BYTES", "must be at least 1"));
        }
        let uploads = UploadSettings {
            policy,
            url_ttl: r.secs("POSTIQO_UPLOAD_URL_TTL_SECS", 3600)?,
            pending_ttl: r.secs("POSTIQO_PENDING_VIDEO_TTL_SECS", 24 * 3600)?,
        };
        if uploads.url_ttl > Duration::from_secs(7 * 24 * 3600) {
            return Err(err(
                "POSTIQO_UPLOAD_URL_TTL_SECS",
                "must be at most 604800 (S3's limit)",
            ));
        }
        let ms = |var: &'static str, default: u64| -> Result<Duration, ConfigError> {
            let v: u64 = r.parse(var, default, "a whole number of milliseconds")?;
            if v == 0 {
                return Err(err(var, "must be at least 1"));
            }
            Ok(Duration::from_millis(v))
        };
        let publish = PublishConfig {
            media_mode: match r.or("POSTIQO_MEDIA_MODE", "proxy").as_str() {
                "proxy" => MediaMode::Proxy,
                "presigned" => MediaMode::Presigned,
                _ => return Err(err("POSTIQO_MEDIA_MODE", "must be proxy or presigned")),
            },
            media_url_ttl: r.secs("POSTIQO_MEDIA_URL_TTL_SECS", 2 * 3600)?,
            worker: r.bool("POSTIQO_WORKER", true)?,
            worker_interval: ms("POSTIQO_WORKER_INTERVAL_MS", 1000)?,
            worker_lease: r.secs("POSTIQO_WORKER_LEASE_SECS", 30)?,
            deadline: r.secs("POSTIQO_PUBLISH_DEADLINE_SECS", 2 * 3600)?,
            post_id_wait: r.secs("POSTIQO_POST_ID_WAIT_SECS", 6 * 3600)?,
            poll_initial: ms("POSTIQO_POLL_INITIAL_MS", 3000)?,
            poll_max: ms("POSTIQO_POLL_MAX_MS", 60_000)?,
            // TikTok retries for 72 h; 3 h more for its backoff steps and clock skew.
            webhook_tolerance: r.secs("POSTIQO_WEBHOOK_TOLERANCE_SECS", 75 * 3600)?,
            abandoned_deletion_after: r.secs("POSTIQO_ABANDONED_DELETION_SECS", 600)?,
        };
        if publish.webhook_tolerance > Duration::from_secs(30 * 24 * 3600) {
            return Err(err(
                "POSTIQO_WEBHOOK_TOLERANCE_SECS",
                "must be at most 2592000 (30 days): deliveries are remembered that long",
            ));
        }
        if publish.media_url_ttl < Duration::from_secs(3600) {
            return Err(err(
                "POSTIQO_MEDIA_URL_TTL_SECS",
                "must be at least 3600: TikTok may take an hour to download",
            ));
        }
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
        let rate_limits = RateLimitSettings {
            enabled: r.bool("POSTIQO_RATE_LIMIT", true)?,
            sign_in_per_ip: per_min("POSTIQO_RATE_LIMIT_SIGNIN_PER_MIN", 60)?,
            create_per_user: per_min("POSTIQO_RATE_LIMIT_CREATE_PER_MIN", 120)?,
            publish_per_user: per_min("POSTIQO_RATE_LIMIT_PUBLISH_PER_MIN", 30)?,
            per_ip: per_min("POSTIQO_RATE_LIMIT_PER_IP_PER_MIN", 1200)?,
            refresh_per_session: per_min("POSTIQO_RATE_LIMIT_REFRESH_PER_MIN", 10)?,
            account_per_user: per_min("POSTIQO_RATE_LIMIT_ACCOUNT_PER_MIN", 10)?,
        };
        let max_in_flight: usize =
            r.parse("POSTIQO_MAX_IN_FLIGHT", 64, "a whole number of requests")?;
        if max_in_flight == 0 {
            return Err(err("POSTIQO_MAX_IN_FLIGHT", "must be at least 1"));
        }
        let json_limit = r.parse("POSTIQO_JSON_LIMIT_BYTES", 64 * 1024, "a number of bytes")?;
        let edge = EdgeSettings {
            header_timeout: r.secs("POSTIQO_HEADER_TIMEOUT_SECS", 10)?,
            body_timeout: r.secs("POSTIQO_BODY_TIMEOUT_SECS", 10)?,
            keep_alive: r.secs("POSTIQO_KEEP_ALIVE_SECS", 5)?,
            queue_timeout: ms("POSTIQO_QUEUE_TIMEOUT_MS", 2000)?,
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

        Ok(Self {
            bind,
            metrics_bind,
            public_url,
            storage,
            tiktok,
            jwt,
            uploads,
            sessions,
            publish,
            rate_limits,
            proxies,
            max_in_flight,
            json_limit,
            edge,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> HashMap<String, String> {
        [
            ("POSTIQO_PUBLIC_URL", "http://127.0.0.1:8080"),
            (
                "POSTIQO_ALLOWED_ORIGINS",
                "http://localhost:5173, https://app.example.com",
            ),
            ("POSTIQO_TABLE", "postiqo"),
            ("POSTIQO_BUCKET", "postiqo-videos"),
            ("POSTIQO_TIKTOK_CLIENT_KEY", "key"),
            ("POSTIQO_TIKTOK_CLIENT_SECRET", "super-secret-value"),
            (
                "POSTIQO_JWT_KEYS",
                "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            ),
            (
                "POSTIQO_TOKEN_ENCRYPTION_KEY",
                "e1:ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn every_variable_read_is_listed() {
        let source = include_str!("config.rs");
        let mut rest = source;
        while let Some(start) = rest.find("\"POSTIQO_") {
            let tail = &rest[start + 1..];
            let end = tail.find('"').expect("closing quote");
            let name = &tail[..end];
            // The needle of this very test is the one bare prefix.
            assert!(
                name == "POSTIQO_" || VARIABLES.contains(&name),
                "{name} is read but not in VARIABLES"
            );
            rest = &tail[end..];
        }
    }

    #[test]
    fn defaults_apply() {
        let s = Settings::from_env(&base()).expect("valid");
        assert_eq!(s.bind, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(s.tiktok.api_url.as_str(), "https://open.tiktokapis.com/");
        assert_eq!(s.uploads.policy.multipart_threshold, 64 * MIB);
        assert_eq!(s.storage.allowed_origins.len(), 2);
        assert!(!s.storage.storage.s3_force_path_style);
        assert_eq!(s.jwt.access_ttl, Duration::from_secs(900));
        assert_eq!(
            s.edge,
            EdgeSettings {
                header_timeout: Duration::from_secs(10),
                body_timeout: Duration::from_secs(10),
                keep_alive: Duration::from_secs(5),
                queue_timeout: Duration::from_millis(2000),
                max_connections: 2048,
            }
        );
    }

    #[test]
    fn edge_limits_refuse_zero_and_nonsense() {
        for (var, value) in [
            ("POSTIQO_BODY_TIMEOUT_SECS", "0"),
            ("POSTIQO_HEADER_TIMEOUT_SECS", "soon"),
            ("POSTIQO_KEEP_ALIVE_SECS", "-1"),
            ("POSTIQO_QUEUE_TIMEOUT_MS", "0"),
            ("POSTIQO_QUEUE_TIMEOUT_MS", "600000"),
            ("POSTIQO_MAX_CONNECTIONS", "0"),
        ] {
            let mut env = base();
            env.insert(var.into(), value.into());
            assert_eq!(Settings::from_env(&env).expect_err(var).var, var);
        }
        let mut env = base();
        env.insert("POSTIQO_BODY_TIMEOUT_SECS".into(), "2".into());
        env.insert("POSTIQO_QUEUE_TIMEOUT_MS".into(), "250".into());
        let s = Settings::from_env(&env).expect("valid");
        assert_eq!(s.edge.body_timeout, Duration::from_secs(2));
        assert_eq!(s.edge.queue_timeout, Duration::from_millis(250));
    }

    #[test]
    fn missing_or_bad_values_name_the_variable() {
        let mut env = base();
        env.remove("POSTIQO_TABLE");
        let e = Settings::from_env(&env).expect_err("must fail");
        assert_eq!(e.var, "POSTIQO_TABLE");
        assert_eq!(
            e.to_string(),
            "configuration error: POSTIQO_TABLE is required but not set"
        );

        let mut env = base();
        env.insert("POSTIQO_BIND".into(), "nonsense".into());
        assert_eq!(
            Settings::from_env(&env).expect_err("bad bind").var,
            "POSTIQO_BIND"
        );

        let mut env = base();
        env.insert("POSTIQO_ALLOWED_ORIGINS".into(), "*".into());
        assert_eq!(
            Settings::from_env(&env).expect_err("wildcard").var,
            "POSTIQO_ALLOWED_ORIGINS"
        );

        let mut env = base();
        env.insert("POSTIQO_JWT_KEYS".into(), "k1:c2hvcnQ=".into());
        let e = Settings::from_env(&env).expect_err("short key");
        assert_eq!(e.var, "POSTIQO_JWT_KEYS");
        assert!(
            !e.to_string().contains("c2hvcnQ="),
            "never echo secret values"
        );
    }

    #[test]
    fn metrics_are_off_unless_given_their_own_address() {
        assert_eq!(
            Settings::from_env(&base()).expect("valid").metrics_bind,
            None
        );

        let mut env = base();
        env.insert("POSTIQO_METRICS_BIND".into(), "127.0.0.1:9464".into());
        assert_eq!(
            Settings::from_env(&env).expect("valid").metrics_bind,
            Some(SocketAddr::from(([127, 0, 0, 1], 9464)))
        );

        env.insert("POSTIQO_METRICS_BIND".into(), "localhost".into());
        let e = Settings::from_env(&env).expect_err("no port");
        assert_eq!(e.var, "POSTIQO_METRICS_BIND");
        assert!(!e.to_string().contains("localhost"), "never echo values");

        env.insert("POSTIQO_METRICS_BIND".into(), "127.0.0.1:8080".into());
        assert_eq!(
            Settings::from_env(&env).expect_err("the API's port").var,
            "POSTIQO_METRICS_BIND"
        );
    }

    #[test]
    fn consumed_capacity_is_recorded_only_when_asked_and_served() {
        assert!(
            !Settings::from_env(&base())
                .expect("valid")
                .storage
                .storage
                .record_capacity
        );
        let mut env = base();
        env.insert("POSTIQO_METRICS_DYNAMODB_CAPACITY".into(), "on".into());
        let e = Settings::from_env(&env).expect_err("no metrics listener");
        assert_eq!(e.var, "POSTIQO_METRICS_DYNAMODB_CAPACITY");
        env.insert("POSTIQO_METRICS_BIND".into(), "127.0.0.1:9464".into());
        assert!(
            Settings::from_env(&env)
                .expect("valid")
                .storage
                .storage
                .record_capacity
        );
        env.insert(
            "POSTIQO_METRICS_DYNAMODB_CAPACITY".into(),
            "sometimes".into(),
        );
        assert_eq!(
            Settings::from_env(&env).expect_err("not a bool").var,
            "POSTIQO_METRICS_DYNAMODB_CAPACITY"
        );
    }

    #[test]
    fn errors_never_contain_secret_values() {
        let mut env = base();
        env.insert(
            "POSTIQO_JWT_KEYS".into(),
            "bad entry with super-secret-value".into(),
        );
        let e = Settings::from_env(&env).expect_err("malformed");
        assert!(!e.to_string().contains("super-secret-value"));
        let s = Settings::from_env(&base()).expect("valid");
        let debug = format!("{s:?}");
        assert!(!debug.contains("super-secret-value"));
        assert!(!debug.contains("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"));
    }

    /// Random keys nobody has seen (generated for this test, printed nowhere else).
    fn fresh_key(kid: &str) -> String {
        let bytes: [u8; 32] = crate::auth::secrets::random_bytes();
        format!(
            "{kid}:{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    }

    /// A production deployment: public https URL, https origins, keys of its own.
    fn production() -> HashMap<String, String> {
        let mut env = base();
        env.insert(
            "POSTIQO_PUBLIC_URL".into(),
            "https://api.example.com".into(),
        );
        env.insert(
            "POSTIQO_ALLOWED_ORIGINS".into(),
            "https://app.example.com".into(),
        );
        env.insert("POSTIQO_JWT_KEYS".into(), fresh_key("k1"));
        env.insert("POSTIQO_TOKEN_ENCRYPTION_KEY".into(), fresh_key("e1"));
        env
    }

    #[test]
    fn public_url_must_be_https_except_on_localhost() {
        let mut env = production();
        env.insert("POSTIQO_PUBLIC_URL".into(), "http://api.example.com".into());
        assert_eq!(
            Settings::from_env(&env).expect_err("http").var,
            "POSTIQO_PUBLIC_URL"
        );
        env.insert(
            "POSTIQO_PUBLIC_URL".into(),
            "https://api.example.com".into(),
        );
        let s = Settings::from_env(&env).expect("https");
        assert!(s.sessions.secure_cookies);
        assert!(
            !Settings::from_env(&base())
                .expect("local")
                .sessions
                .secure_cookies
        );
    }

    #[test]
    fn published_and_weak_keys_are_refused_outside_localhost() {
        assert!(Settings::from_env(&production()).is_ok());
        let weak = format!(
            "w:{}",
            base64::engine::general_purpose::STANDARD.encode([b'x'; 32])
        );
        let mut refused = crate::key_policy::published_keys()
            .into_iter()
            .map(|k| {
                format!(
                    "pub:{}",
                    base64::engine::general_purpose::STANDARD.encode(k)
                )
            })
            .collect::<Vec<_>>();
        refused.push(weak);
        for var in ["POSTIQO_JWT_KEYS", "POSTIQO_TOKEN_ENCRYPTION_KEY"] {
            for key in &refused {
                let mut env = production();
                // Behind a good key too: every key of the ring counts.
                let ring = format!("{},{key}", fresh_key("good"));
                env.insert(var.into(), ring);
                let e = Settings::from_env(&env).expect_err("refused");
                assert_eq!(e.var, var, "{key}");
                let secret = key.split_once(':').map(|(_, s)| s).unwrap_or_default();
                assert!(!e.to_string().contains(secret), "{e}");
            }
        }
        // The development keys of scripts/local-env.sh are fine on localhost.
        let mut env = base();
        env.insert(
            "POSTIQO_JWT_KEYS".into(),
            "dev:ZGV2LW9ubHktand0LWtleS1ub3QtZm9yLXByb2R1Y3Rpb24=".into(),
        );
        env.insert(
            "POSTIQO_TOKEN_ENCRYPTION_KEY".into(),
            "dev:ZGV2LW9ubHktdG9rZW4tZW5jcnlwdGlvbi1rZXktMzI=".into(),
        );
        for local in [
            "http://localhost:8080",
            "https://localhost",
            "http://127.0.0.1:8080",
            "https://127.9.9.9",
            "http://[::1]:8080",
        ] {
            env.insert("POSTIQO_PUBLIC_URL".into(), local.into());
            assert!(Settings::from_env(&env).is_ok(), "{local}");
        }
        for public in [
            "https://api.example.com",
            "https://10.0.0.1",
            "https://[2001:db8::1]",
        ] {
            env.insert("POSTIQO_PUBLIC_URL".into(), public.into());
            assert_eq!(
                Settings::from_env(&env).expect_err(public).var,
                "POSTIQO_JWT_KEYS",
                "{public}"
            );
        }
    }

    #[test]
    fn the_refresh_reuse_interval_is_short_and_can_be_off() {
        let s = Settings::from_env(&base()).expect("default");
        assert_eq!(s.sessions.refresh_reuse_interval, Duration::from_secs(10));
        let mut env = base();
        env.insert("POSTIQO_REFRESH_REUSE_INTERVAL_SECS".into(), "0".into());
        let s = Settings::from_env(&env).expect("off");
        assert_eq!(s.sessions.refresh_reuse_interval, Duration::ZERO);
        for bad in ["61", "-1", "soon"] {
            env.insert("POSTIQO_REFRESH_REUSE_INTERVAL_SECS".into(), bad.into());
            let e = Settings::from_env(&env).expect_err(bad);
            assert_eq!(e.var, "POSTIQO_REFRESH_REUSE_INTERVAL_SECS");
            assert!(!e.to_string().contains(bad), "never the value");
        }
    }

    #[test]
    fn plain_http_origins_only_for_localhost() {
        let mut env = production();
        env.insert(
            "POSTIQO_ALLOWED_ORIGINS".into(),
            "https://app.example.com,http://app.example.com".into(),
        );
        assert_eq!(
            Settings::from_env(&env).expect_err("http origin").var,
            "POSTIQO_ALLOWED_ORIGINS"
        );
        // A developer's SPA on localhost may still talk to a deployed API.
        env.insert(
            "POSTIQO_ALLOWED_ORIGINS".into(),
            "https://app.example.com,http://localhost:5173,http://127.0.0.1:5173".into(),
        );
        assert!(Settings::from_env(&env).is_ok());
        // On localhost anything goes.
        let mut env = base();
        env.insert(
            "POSTIQO_ALLOWED_ORIGINS".into(),
            "http://app.example.com".into(),
        );
        assert!(Settings::from_env(&env).is_ok());
    }

    #[test]
    fn session_cache_is_capped() {
        let mut env = base();
        env.insert("POSTIQO_SESSION_CACHE_MS".into(), "5000".into());
        assert_eq!(
            Settings::from_env(&env)
                .expect("at the cap")
                .sessions
                .cache_ttl,
            Duration::from_secs(5)
        );
        env.insert("POSTIQO_SESSION_CACHE_MS".into(), "5001".into());
        assert_eq!(
            Settings::from_env(&env).expect_err("over").var,
            "POSTIQO_SESSION_CACHE_MS"
        );
        env.insert("POSTIQO_SESSION_CACHE_MS".into(), "0".into());
        assert!(Settings::from_env(&env).is_ok(), "0 turns it off");
    }

    #[test]
    fn trusted_proxies_and_their_header() {
        let s = Settings::from_env(&base()).expect("valid");
        assert!(s.proxies.trusted.is_empty(), "nobody is trusted by default");
        assert_eq!(s.proxies.header, ForwardedHeader::XForwardedFor);
        let mut env = base();
        env.insert(
            "POSTIQO_TRUSTED_PROXIES".into(),
            "10.0.0.0/8, fd00::/8".into(),
        );
        env.insert("POSTIQO_FORWARDED_HEADER".into(), "Forwarded".into());
        let s = Settings::from_env(&env).expect("valid");
        assert!(s.proxies.trusted.contains([10, 1, 2, 3].into()));
        assert_eq!(s.proxies.header, ForwardedHeader::Forwarded);
        for bad in ["10.0.0.0/40", "proxy.internal", "0.0.0.0/0"] {
            env.insert("POSTIQO_TRUSTED_PROXIES".into(), bad.into());
            assert_eq!(
                Settings::from_env(&env).expect_err(bad).var,
                "POSTIQO_TRUSTED_PROXIES"
            );
        }
        env.remove("POSTIQO_TRUSTED_PROXIES");
        env.insert("POSTIQO_FORWARDED_HEADER".into(), "x-real-ip".into());
        assert_eq!(
            Settings::from_env(&env).expect_err("unknown header").var,
            "POSTIQO_FORWARDED_HEADER"
        );
    }

    #[test]
    fn encryption_keys_must_be_32_bytes() {
        let mut env = base();
        env.insert(
            "POSTIQO_TOKEN_ENCRYPTION_KEY".into(),
            "e1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIz".into(),
        );
        assert_eq!(
            Settings::from_env(&env).expect_err("too long").var,
            "POSTIQO_TOKEN_ENCRYPTION_KEY"
        );
        env.remove("POSTIQO_TOKEN_ENCRYPTION_KEY");
        assert_eq!(
            Settings::from_env(&env).expect_err("missing").var,
            "POSTIQO_TOKEN_ENCRYPTION_KEY"
        );
    }

    #[test]
    fn path_style_follows_endpoint_override() {
        let mut env = base();
        env.insert("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:4566".into());
        assert!(
            Settings::from_env(&env)
                .expect("valid")
                .storage
                .storage
                .s3_force_path_style
        );
        env.insert("POSTIQO_S3_FORCE_PATH_STYLE".into(), "false".into());
        assert!(
            !Settings::from_env(&env)
                .expect("valid")
                .storage
                .storage
                .s3_force_path_style
        );
    }

    #[test]
    fn origins_are_normalised_and_paths_refused() {
        assert_eq!(
            AllowedOrigin::parse("https://App.Example.com").map(|o| o.0),
            Some("https://app.example.com".to_owned())
        );
        assert_eq!(
            AllowedOrigin::parse("http://localhost:5173/").map(|o| o.0),
            Some("http://localhost:5173".to_owned())
        );
        assert!(AllowedOrigin::parse("https://app.example.com/path").is_none());
        assert!(AllowedOrigin::parse("https://*.example.com").is_none());
        assert!(AllowedOrigin::parse("null").is_none());
    }
}
