//! What handlers share: the services, built once from the settings. Fields are private:
//! a handler reaches a use case through its service, never an adapter, a client or a cache.
//! Nothing here imports `routes`, so the dependency runs one way: startup → routes → state →
//! services → storage.

use std::sync::Arc;

use postiqo_tiktok::{TikTokClient, TikTokConfig};
use url::Url;

use crate::config::{SessionSettings, Settings};
use crate::credentials::JwtCodec;
use crate::credentials::session_cache::SessionCache;
use crate::crypto::TokenCipher;
use crate::limits::Limits;
use crate::services::health::HealthService;
use crate::services::media::MediaService;
use crate::services::ports::SystemClock;
use crate::services::profile::ProfileService;
use crate::services::sessions::SessionService;
use crate::services::signin::SessionPolicy;
use crate::services::{
    AccountService, PublishService, SignInService, TikTokAccess, VideoService, WebhookService,
};
use crate::worker::Worker;

pub struct AppState {
    videos: VideoService,
    signin: SignInService,
    sessions: SessionService,
    profile: ProfileService,
    publish: PublishService,
    media: MediaService,
    account: AccountService,
    webhooks: WebhookService,
    health: HealthService,
    limits: Limits,
    cookies: SessionSettings,
    public_url: Url,
}

impl AppState {
    /// Builds the adapters and services once. No network call is made: storage and TikTok
    /// are contacted when requests need them. Also returns the worker over the same services.
    pub async fn build(settings: &Settings) -> std::io::Result<(Self, Worker)> {
        let sdk = postiqo_storage::sdk_config().await;
        let storage = postiqo_storage::connect(&sdk, &settings.storage);
        let client = Arc::new(tiktok_client(settings)?);
        let cipher = Arc::new(TokenCipher::new(&settings.token_sealing_keys));
        let jwt = Arc::new(JwtCodec::new(&settings.jwt));
        let session_cache = Arc::new(SessionCache::new(settings.sessions.cache_ttl));
        let clock = Arc::new(SystemClock);
        let signin = SignInService::new(
            storage.clone(),
            client.clone(),
            cipher.clone(),
            jwt.clone(),
            session_cache.clone(),
            SessionPolicy {
                allowed_origins: settings.allowed_origins.clone(),
                ttl: settings.sessions.ttl,
                reuse_interval: settings.sessions.refresh_reuse_interval,
            },
        );
        let sessions = SessionService::new(
            storage.sessions.clone(),
            jwt.clone(),
            session_cache.clone(),
            settings.allowed_origins.clone(),
            clock.clone(),
        );
        let tiktok = TikTokAccess::new(storage.clone(), client, cipher);
        let profile = ProfileService::new(storage.users.clone(), tiktok.clone(), clock);
        let media = MediaService::new(
            storage.clone(),
            settings.publish.media_mode,
            settings.publish.media_url_ttl,
            settings.public_url.clone(),
            jwt.media_keys(),
        );
        let instance = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let publish = PublishService::new(
            storage.clone(),
            tiktok.clone(),
            media.clone(),
            settings.publish.clone(),
            instance,
        );
        let account = AccountService::new(storage.clone(), tiktok, session_cache);
        let webhooks = WebhookService::new(
            storage.clone(),
            publish.clone(),
            account.clone(),
            settings.tiktok.client_secret.clone(),
            settings.publish.webhook_tolerance,
        );
        let worker = Worker::new(publish.clone(), account.clone());
        let state = Self {
            videos: VideoService::new(storage.clone(), settings.uploads.clone()),
            signin,
            sessions,
            profile,
            publish,
            media,
            account,
            webhooks,
            health: HealthService::new(storage),
            limits: Limits::new(&settings.rate_limits),
            cookies: settings.sessions.clone(),
            public_url: settings.public_url.clone(),
        };
        Ok((state, worker))
    }

    pub fn videos(&self) -> &VideoService {
        &self.videos
    }

    /// Signing in with TikTok, and our sessions' tokens (refresh, logout).
    pub fn signin(&self) -> &SignInService {
        &self.signin
    }

    /// Who a request's access token proves, and the CSRF check.
    pub fn sessions(&self) -> &SessionService {
        &self.sessions
    }

    pub fn profile(&self) -> &ProfileService {
        &self.profile
    }

    pub fn publish(&self) -> &PublishService {
        &self.publish
    }

    pub fn media(&self) -> &MediaService {
        &self.media
    }

    pub fn account(&self) -> &AccountService {
        &self.account
    }

    pub fn webhooks(&self) -> &WebhookService {
        &self.webhooks
    }

    pub fn health(&self) -> &HealthService {
        &self.health
    }

    /// Our own request limits (per client address, user, session): an HTTP-edge concern.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How session cookies are set.
    pub fn cookies(&self) -> &SessionSettings {
        &self.cookies
    }

    pub fn public_url(&self) -> &Url {
        &self.public_url
    }
}

/// The TikTok client for our app, redirecting back to our callback.
fn tiktok_client(settings: &Settings) -> std::io::Result<TikTokClient> {
    let redirect_uri = settings
        .public_url
        .join("/v1/auth/tiktok/callback")
        .map_err(std::io::Error::other)?;
    let config = TikTokConfig {
        client_key: settings.tiktok.client_key.clone(),
        client_secret: settings.tiktok.client_secret.clone(),
        auth_url: settings.tiktok.auth_url.clone(),
        api_base: settings.tiktok.api_url.clone(),
        scopes: settings.tiktok.scopes.clone(),
        redirect_uri,
        pkce: settings.tiktok.pkce,
        request_timeout: postiqo_tiktok::DEFAULT_REQUEST_TIMEOUT,
    };
    TikTokClient::new(config).map_err(std::io::Error::other)
}
