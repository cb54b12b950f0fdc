//! Test doubles of the services' own ports (`services::ports`), for in-process service tests:
//! a scripted TikTok, a manual clock and a media-URL source; and [`Services`], the session
//! and account services wired as `state.rs` wires them, over in-memory storage
//! (`postiqo_storage::memory`, feature `memory`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use postiqo_domain::{ETag, TikTokLink, User, UserId, Video};
use postiqo_storage::memory::MemoryStore;
use postiqo_storage::{Storage, StoredTokens};
use postiqo_tiktok::{
    ApiErrorCode, CreatorInfo, PostInfo, PrivacyLevel, PublishId, PublishState, PublishStatus,
    SecretString, TikTokClient, TikTokConfig, TikTokError,
};
use url::Url;

use crate::config::{AllowedOrigin, JwtSettings, KeyRing};
use crate::credentials::JwtCodec;
use crate::credentials::session_cache::SessionCache;
use crate::crypto::TokenCipher;
use crate::services::media::PinError;
use crate::services::ports::{Clock, MediaSource, MediaUrlError, TikTokCallError, TikTokPosting};
use crate::services::sessions::SessionService;
use crate::services::signin::SessionPolicy;
use crate::services::{AccountService, SignInService, TikTokAccess};

/// A clock that moves only when told to.
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new() -> Self {
        let start = Utc
            .timestamp_opt(1_800_000_000, 0)
            .single()
            .unwrap_or_default();
        Self::at(start)
    }

    /// Starting at `start`; access tokens are checked against the system clock, so tests that
    /// verify one start at `Utc::now()`.
    pub fn at(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }

    pub fn advance(&self, d: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero());
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What the fake TikTok does for one call.
pub enum Step<T> {
    Reply(Result<T, TikTokCallError>),
    /// Never answers: a caller that gives up on it is a process dying mid-call.
    Hang,
    /// Runs when the call is made (e.g. to break storage right after TikTok answered).
    Then(Box<dyn FnOnce() -> Result<T, TikTokCallError> + Send>),
}

/// TikTok's answer with an error `code` and HTTP status.
pub fn tiktok_error(code: &str, http_status: u16) -> TikTokCallError {
    TikTokCallError::TikTok(TikTokError::Api {
        code: ApiErrorCode::parse(code),
        http_status,
        message: String::new(),
        log_id: None,
    })
}

pub fn status(state: PublishState) -> PublishStatus {
    PublishStatus {
        status: state,
        fail_reason: None,
        publicly_available_post_ids: Vec::new(),
        uploaded_bytes: None,
        downloaded_bytes: None,
    }
}

#[derive(Default)]
struct Script {
    creator: VecDeque<Step<CreatorInfo>>,
    init: VecDeque<Step<PublishId>>,
    status: VecDeque<Step<PublishStatus>>,
    inits: Vec<PostInfo>,
    creator_calls: usize,
    status_calls: usize,
    cancels: Vec<String>,
    next_id: u32,
}

/// TikTok's posting API as a script: each call takes the next scripted step, or the happy
/// default (a creator who may post publicly or privately, a new publish id, still
/// downloading). Every call is recorded.
#[derive(Default)]
pub struct FakeTikTok(Mutex<Script>);

impl FakeTikTok {
    pub fn new() -> Self {
        Self::default()
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn on_creator_info(&self, step: Step<CreatorInfo>) {
        self.script().creator.push_back(step);
    }

    pub fn on_init(&self, step: Step<PublishId>) {
        self.script().init.push_back(step);
    }

    pub fn on_status(&self, step: Step<PublishStatus>) {
        self.script().status.push_back(step);
    }

    /// Every init TikTok received, in order.
    pub fn inits(&self) -> Vec<PostInfo> {
        self.script().inits.clone()
    }

    pub fn creator_calls(&self) -> usize {
        self.script().creator_calls
    }

    pub fn status_calls(&self) -> usize {
        self.script().status_calls
    }

    pub fn cancels(&self) -> Vec<String> {
        self.script().cancels.clone()
    }
}

pub fn default_creator() -> CreatorInfo {
    CreatorInfo {
        creator_username: Some("alice".into()),
        privacy_level_options: vec![PrivacyLevel::PublicToEveryone, PrivacyLevel::SelfOnly],
        ..Default::default()
    }
}

async fn run<T>(step: Option<Step<T>>, default: impl FnOnce() -> T) -> Result<T, TikTokCallError> {
    match step {
        Some(Step::Reply(r)) => r,
        Some(Step::Hang) => std::future::pending().await,
        Some(Step::Then(f)) => f(),
        None => Ok(default()),
    }
}

#[async_trait]
impl TikTokPosting for FakeTikTok {
    async fn creator_info(&self, _user: UserId) -> Result<CreatorInfo, TikTokCallError> {
        let step = {
            let mut s = self.script();
            s.creator_calls += 1;
            s.creator.pop_front()
        };
        run(step, default_creator).await
    }

    async fn init_publish(
        &self,
        _user: UserId,
        post: &PostInfo,
        _video_url: &Url,
    ) -> Result<PublishId, TikTokCallError> {
        let (step, id) = {
            let mut s = self.script();
            s.inits.push(post.clone());
            s.next_id += 1;
            (s.init.pop_front(), s.next_id)
        };
        run(step, || PublishId::new(format!("v_pub_url~v2.{id}"))).await
    }

    async fn fetch_status(
        &self,
        _user: UserId,
        _publish_id: &PublishId,
    ) -> Result<PublishStatus, TikTokCallError> {
        let step = {
            let mut s = self.script();
            s.status_calls += 1;
            s.status.pop_front()
        };
        run(step, || status(PublishState::ProcessingDownload)).await
    }

    async fn cancel_publish(
        &self,
        _user: UserId,
        publish_id: &PublishId,
    ) -> Result<(), TikTokCallError> {
        self.script().cancels.push(publish_id.as_str().to_owned());
        Ok(())
    }
}

/// Media URLs on a fixed host; `fail_next` makes the next ones fail, `hang` makes the next
/// one never come (the process dies before it calls TikTok).
#[derive(Default)]
pub struct FakeMedia {
    failures: Mutex<usize>,
    hang: std::sync::atomic::AtomicBool,
    /// The stored object no longer holds the verified bytes.
    changed: std::sync::atomic::AtomicBool,
}

impl FakeMedia {
    pub fn fail_next(&self, n: usize) {
        *self.failures.lock().unwrap_or_else(|p| p.into_inner()) = n;
    }

    pub fn overwrite(&self) {
        self.changed
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn hang_next(&self) {
        self.hang.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait]
impl MediaSource for FakeMedia {
    async fn pinned(&self, video: &Video) -> Result<ETag, PinError> {
        if self.changed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(PinError::Changed);
        }
        Ok(video
            .verified_etag
            .clone()
            .or_else(|| ETag::parse("\"fake\""))
            .ok_or(PinError::Missing)?)
    }

    async fn url_for(&self, video: &Video, _pinned: &ETag) -> Result<Url, MediaUrlError> {
        let video = video.id;
        if self.hang.swap(false, std::sync::atomic::Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            if *failures > 0 {
                *failures -= 1;
                return Err(MediaUrlError("presign failed".into()));
            }
        }
        Url::parse(&format!("https://media.example/v1/media/{video}"))
            .map_err(|e| MediaUrlError(e.to_string()))
    }
}

/// A key ring of one 32-byte key.
fn key_ring(kid: &str, byte: u8) -> KeyRing {
    KeyRing {
        keys: vec![(
            kid.to_owned(),
            SecretString::from(base64::engine::general_purpose::STANDARD.encode([byte; 32])),
        )],
    }
}

/// A TikTok client no test may reach: its URLs name a closed local port, so a call that
/// should not happen fails at once instead of going anywhere.
pub fn unreachable_tiktok() -> TikTokClient {
    let nowhere = |path: &str| Url::parse(&format!("http://127.0.0.1:9/{path}")).expect("url");
    TikTokClient::new(TikTokConfig {
        auth_url: nowhere("auth"),
        api_base: nowhere(""),
        ..TikTokConfig::new(
            "test-client",
            SecretString::from("test-secret"),
            nowhere("callback"),
        )
    })
    .expect("the test TikTok client")
}

/// How long a retired refresh token still yields the current tokens in [`Services`].
pub const REUSE_INTERVAL: Duration = Duration::from_secs(10);
/// Lifetime of a session in [`Services`].
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 86_400);

/// The session and account services over one in-memory store, sharing one session cache
/// and one manual clock (starting now, so access tokens verify).
pub struct Services {
    pub store: Arc<MemoryStore>,
    pub storage: Storage,
    pub clock: Arc<ManualClock>,
    pub signin: SignInService,
    pub sessions: SessionService,
    pub account: AccountService,
}

impl Services {
    pub fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let storage = store.storage();
        let clock = Arc::new(ManualClock::at(Utc::now()));
        let client = Arc::new(unreachable_tiktok());
        let cipher = Arc::new(TokenCipher::new(&key_ring("seal-1", 7)));
        let jwt = Arc::new(JwtCodec::new(&JwtSettings {
            signing_keys: key_ring("jwt-1", 9),
            issuer: "https://api.postiqo.test".into(),
            audience: "postiqo-api".into(),
            access_ttl: Duration::from_secs(900),
        }));
        // Long enough that only being told can make it drop a session it has seen alive.
        let cache = Arc::new(SessionCache::new(Duration::from_secs(600)));
        let origins: Vec<AllowedOrigin> = AllowedOrigin::parse("https://app.postiqo.test")
            .into_iter()
            .collect();
        let signin = SignInService::new(
            storage.clone(),
            client.clone(),
            cipher.clone(),
            jwt.clone(),
            cache.clone(),
            SessionPolicy {
                allowed_origins: origins.clone(),
                ttl: SESSION_TTL,
                reuse_interval: REUSE_INTERVAL,
            },
        )
        .with_clock(clock.clone());
        let sessions = SessionService::new(
            storage.sessions.clone(),
            jwt,
            cache.clone(),
            origins,
            clock.clone(),
        );
        let tiktok = TikTokAccess::new(storage.clone(), client, cipher);
        let account = AccountService::new(storage.clone(), tiktok, cache);
        Self {
            store,
            storage,
            clock,
            signin,
            sessions,
            account,
        }
    }

    /// Creates a connected account with (unusable) stored TikTok tokens, as a sign-in does.
    pub async fn sign_up(&self, open_id: &str) -> UserId {
        let now = self.clock.now();
        let user = User {
            id: UserId::new_v7(
                u64::try_from(now.timestamp_millis()).unwrap_or(0),
                id_bytes(open_id),
            ),
            open_id: open_id.to_owned(),
            username: Some(open_id.to_owned()),
            display_name: None,
            avatar_url: None,
            scopes: vec!["user.info.basic".into(), "video.publish".into()],
            tiktok: TikTokLink::Connected,
            created_at: now,
            updated_at: now,
            deletion_requested_at: None,
        };
        let tokens = StoredTokens {
            key_id: "seal-1".into(),
            access_ciphertext: "sealed-access".into(),
            refresh_ciphertext: "sealed-refresh".into(),
            access_expires_at: now + chrono::Duration::hours(24),
            refresh_expires_at: now + chrono::Duration::days(365),
            scopes: user.scopes.clone(),
            granted_at: Some(now),
            version: 1,
            lease_until: None,
        };
        match self.storage.users.create_with_tokens(&user, &tokens).await {
            Ok(()) => user.id,
            Err(e) => panic!("sign-up failed: {e}"),
        }
    }
}

/// Distinct id bytes per name, so two accounts made in the same millisecond differ.
fn id_bytes(name: &str) -> [u8; 10] {
    let mut bytes = [0u8; 10];
    for (i, b) in name.bytes().enumerate() {
        bytes[i % 10] ^= b.wrapping_add(u8::try_from(i).unwrap_or(0));
    }
    bytes
}
