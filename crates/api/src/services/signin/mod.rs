//! Signing in with TikTok and our own sessions.
//!
//! `login` is the TikTok side: the OAuth state and its browser binding, the callback, the
//! account upsert and the one-time login codes of third-party clients. `tokens` is ours:
//! issuing a session's tokens, refresh rotation with its reuse interval, reuse ending the
//! session, logout. Both halves share this service's sealing keys, session policy and
//! one-time store. Its in-process tests are in `services/tests/`.

mod error;
mod login;
mod tokens;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use postiqo_storage::Storage;
use postiqo_tiktok::TikTokClient;

use crate::config::AllowedOrigin;
use crate::credentials::JwtCodec;
use crate::credentials::session_cache::SessionCache;
use crate::crypto::TokenCipher;
use crate::services::ports::{Clock, SystemClock};

pub use error::{LoginFailure, SignInError, SignInFailure};
pub use login::{CallbackParams, LoginDone, LoginMode, LoginOutcome, LoginStart};
pub use tokens::IssuedTokens;

/// How our sessions behave.
#[derive(Debug, Clone)]
pub struct SessionPolicy {
    /// Origins a sign-in may return to (the SPA's).
    pub allowed_origins: Vec<AllowedOrigin>,
    /// Lifetime of a refresh token (restarts at every rotation).
    pub ttl: std::time::Duration,
    /// How long a retired refresh token still yields the current tokens (two tabs).
    pub reuse_interval: std::time::Duration,
}

pub struct SignInService {
    storage: Storage,
    tiktok: Arc<TikTokClient>,
    cipher: Arc<TokenCipher>,
    jwt: Arc<JwtCodec>,
    session_cache: Arc<SessionCache>,
    clock: Arc<dyn Clock>,
    allowed_origins: Vec<AllowedOrigin>,
    session_ttl: chrono::Duration,
    reuse_interval: chrono::Duration,
}

impl SignInService {
    pub fn new(
        storage: Storage,
        tiktok: Arc<TikTokClient>,
        cipher: Arc<TokenCipher>,
        jwt: Arc<JwtCodec>,
        session_cache: Arc<SessionCache>,
        policy: SessionPolicy,
    ) -> Self {
        Self {
            storage,
            tiktok,
            cipher,
            jwt,
            session_cache,
            clock: Arc::new(SystemClock),
            allowed_origins: policy.allowed_origins,
            session_ttl: chrono::Duration::from_std(policy.ttl)
                .unwrap_or(chrono::Duration::days(30)),
            reuse_interval: chrono::Duration::from_std(policy.reuse_interval)
                .unwrap_or(chrono::Duration::zero()),
        }
    }

    /// The same service on another clock (tests of expiry and reuse windows).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}
