//! Test doubles of the services' own ports (`services::ports`), for in-process service tests:
//! a scripted TikTok, a manual clock and a media-URL source. Storage's in-memory adapters
//! are `postiqo_storage::memory` (feature `memory`).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use postiqo_domain::{ETag, UserId, Video};
use postiqo_tiktok::{
    ApiErrorCode, CreatorInfo, PostInfo, PrivacyLevel, PublishId, PublishState, PublishStatus,
    TikTokError,
};
use url::Url;

use crate::services::media::PinError;
use crate::services::ports::{Clock, MediaSource, MediaUrlError, TikTokCallError, TikTokPosting};

/// A clock that moves only when told to.
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new() -> Self {
        let start = Utc
            .timestamp_opt(1_800_000_000, 0)
            .single()
            .unwrap_or_default();
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
    inbox_inits: usize,
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

    /// How many inbox (draft) inits TikTok received; they share the `on_init` script.
    pub fn inbox_inits(&self) -> usize {
        self.script().inbox_inits
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

    async fn init_inbox(
        &self,
        _user: UserId,
        _video_url: &Url,
    ) -> Result<PublishId, TikTokCallError> {
        let (step, id) = {
            let mut s = self.script();
            s.inbox_inits += 1;
            s.next_id += 1;
            (s.init.pop_front(), s.next_id)
        };
        run(step, || PublishId::new(format!("v_inbox_url~v2.{id}"))).await
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
