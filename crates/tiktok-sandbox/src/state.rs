//! All sandbox state, in memory behind one mutex (it is a dev tool: simple beats fast).
//! The lock is never held across an `.await`.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use serde::Serialize;

use crate::{
    SandboxConfig,
    faults::Faults,
    ids,
    model::{AccessToken, AuthCode, Grant, Publish, RefreshToken, Settings, TestUser},
    ratelimit::RateLimiter,
};

pub(crate) const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// One webhook the sandbox tried to send.
#[derive(Clone, Debug, Serialize)]
pub struct WebhookRecord {
    pub id: u64,
    pub event: String,
    pub user_openid: String,
    pub body: String,
    /// `pending`, `retrying`, `delivered`, `failed`, `dropped` (fault switch) or `no_url`.
    pub outcome: String,
    pub last_status: Option<u16>,
    pub attempts: u32,
}

pub(crate) struct AppState {
    pub client_key: String,
    pub client_secret: String,
    config: SandboxConfig,
    /// Outbound client for media pulls and webhooks. Redirects are never followed because
    /// TikTok treats a 3xx media URL as invalid (§5.4).
    pub http: reqwest::Client,
    inner: Mutex<Inner>,
}

pub(crate) struct Inner {
    pub settings: Settings,
    pub users: Vec<TestUser>,
    pub codes: HashMap<String, AuthCode>,
    pub grants: HashMap<u64, Grant>,
    next_grant: u64,
    pub access: HashMap<String, AccessToken>,
    pub refresh: HashMap<String, RefreshToken>,
    pub publishes: Vec<Publish>,
    /// Accepted inits per open_id, for the daily cap.
    pub posts: HashMap<String, Vec<Instant>>,
    pub inits_by_open_id: BTreeMap<String, u64>,
    pub rate: RateLimiter,
    pub faults: Faults,
    pub webhooks: Vec<WebhookRecord>,
    /// Successful PKCE checks by challenge encoding (`hex` / `base64url`).
    pub pkce_matches: BTreeMap<&'static str, u64>,
}

impl AppState {
    pub(crate) fn new(config: SandboxConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            // TikTok gives a pull one hour (§5.4).
            .timeout(Duration::from_secs(60 * 60))
            .user_agent("tiktok-sandbox")
            // A fresh connection for every pull and webhook, as TikTok's fetchers make: a pooled
            // one could be reused just as the API's keep-alive timeout closes it, and the pull
            // would fail for a reason TikTok never has (seen in a benchmark run: two pulls
            // 4.8 s apart, keep-alive 5 s).
            .pool_max_idle_per_host(0)
            .build()?;
        Ok(Self {
            client_key: config.client_key.clone(),
            client_secret: config.client_secret.clone(),
            inner: Mutex::new(Inner::new(&config)),
            config,
            http,
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not wedge the whole dev server.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn reset(&self) {
        *self.lock() = Inner::new(&self.config);
    }
}

fn settings_from(c: &SandboxConfig) -> Settings {
    Settings {
        access_token_ttl_secs: c.access_token_ttl.as_secs(),
        refresh_token_ttl_secs: c.refresh_token_ttl.as_secs(),
        code_ttl_secs: c.code_ttl.as_secs(),
        verified_url_prefixes: c.verified_url_prefixes.clone(),
        webhook_url: c.webhook_url.clone(),
        moderation_delay_ms: u64::try_from(c.moderation_delay.as_millis()).unwrap_or(u64::MAX),
        allow_http_media: c.allow_http_media,
        redirect_uris: c.redirect_uris.clone(),
        require_pkce: c.require_pkce,
        pkce_encoding: c.pkce_encoding,
        download_delay_ms: u64::try_from(c.download_delay.as_millis()).unwrap_or(u64::MAX),
        daily_post_cap: c.daily_post_cap,
        auto_approve: c.auto_approve.clone(),
    }
}

impl Inner {
    fn new(config: &SandboxConfig) -> Self {
        let mut demo = TestUser::new("demo_creator", config.daily_post_cap);
        demo.display_name = "Demo Creator".to_owned();
        Self {
            settings: settings_from(config),
            users: vec![demo],
            codes: HashMap::new(),
            grants: HashMap::new(),
            next_grant: 1,
            access: HashMap::new(),
            refresh: HashMap::new(),
            publishes: Vec::new(),
            posts: HashMap::new(),
            inits_by_open_id: BTreeMap::new(),
            rate: RateLimiter::default(),
            faults: Faults::default(),
            webhooks: Vec::new(),
            pkce_matches: BTreeMap::new(),
        }
    }

    /// Finds a user by username or open_id.
    pub(crate) fn user(&self, key: &str) -> Option<&TestUser> {
        self.users
            .iter()
            .find(|u| u.username == key || u.open_id == key)
    }

    pub(crate) fn user_mut(&mut self, key: &str) -> Option<&mut TestUser> {
        self.users
            .iter_mut()
            .find(|u| u.username == key || u.open_id == key)
    }

    /// The grant behind a live access token.
    pub(crate) fn authenticate(&self, token: &str, now: Instant) -> Option<Grant> {
        let at = self.access.get(token)?;
        let grant = self.grants.get(&at.grant)?;
        (now < at.expires_at && !grant.revoked).then(|| grant.clone())
    }

    pub(crate) fn new_grant(&mut self, open_id: String, scopes: Vec<String>) -> u64 {
        let id = self.next_grant;
        self.next_grant += 1;
        self.grants.insert(
            id,
            Grant {
                open_id,
                scopes,
                revoked: false,
            },
        );
        id
    }

    /// Fresh access + refresh token for `grant`.
    pub(crate) fn issue_tokens(&mut self, grant: u64, now: Instant) -> (String, String) {
        let access = ids::access_token();
        let refresh = ids::refresh_token();
        self.access.insert(
            access.clone(),
            AccessToken {
                grant,
                expires_at: now + self.settings.access_ttl(),
            },
        );
        self.refresh.insert(
            refresh.clone(),
            RefreshToken {
                grant,
                expires_at: now + self.settings.refresh_ttl(),
                rotated: false,
            },
        );
        (access, refresh)
    }

    /// Revokes every grant of a user; returns whether there was one.
    pub(crate) fn revoke_user(&mut self, open_id: &str) -> bool {
        let mut any = false;
        for g in self.grants.values_mut().filter(|g| g.open_id == open_id) {
            any |= !g.revoked;
            g.revoked = true;
        }
        any
    }

    pub(crate) fn revoked_access_tokens(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .access
            .iter()
            .filter(|(_, t)| self.grants.get(&t.grant).is_none_or(|g| g.revoked))
            .map(|(token, _)| token.clone())
            .collect();
        out.sort();
        out
    }

    pub(crate) fn publish_mut(&mut self, publish_id: &str) -> Option<&mut Publish> {
        self.publishes
            .iter_mut()
            .find(|p| p.publish_id == publish_id)
    }

    /// Inbox uploads of a user in the last 24 h the creator has not posted (§3.4).
    pub(crate) fn pending_shares(&self, open_id: &str, now: Instant) -> usize {
        self.publishes
            .iter()
            .filter(|p| p.inbox && p.open_id == open_id)
            .filter(|p| now.duration_since(p.created) < DAY)
            .filter(|p| {
                matches!(
                    p.status,
                    crate::model::PublishState::ProcessingDownload
                        | crate::model::PublishState::SendToUserInbox
                )
            })
            .count()
    }

    /// Accepted inits of a user in the last 24 h.
    pub(crate) fn posts_today(&mut self, open_id: &str, now: Instant) -> usize {
        let posts = self.posts.entry(open_id.to_owned()).or_default();
        posts.retain(|t| now.duration_since(*t) < DAY);
        posts.len()
    }
}
