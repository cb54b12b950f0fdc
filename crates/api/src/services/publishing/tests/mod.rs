//! Publishing's use cases in process: in-memory storage, a scripted TikTok, a manual clock.
//! Tokio's clock is paused, so the services' short waits (idempotency, retries) take no time.

mod inbox;
mod queue;
mod schedule;
mod start;
mod tracking;
mod windows;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use postiqo_domain::{
    ContentType, PublishJob, PublishSettings, TikTokLink, Title, UploadPlan, User, UserId, Video,
    VideoId, VideoSize,
};
use postiqo_storage::memory::MemoryStore;
use postiqo_storage::{PublishStore, UserRepository, VideoRepository};

use super::{PublishPorts, PublishService, PublishStorage};
use crate::config::{MediaMode, PublishConfig};
use crate::services::ports::Clock;
use crate::test_support::{FakeMedia, FakeTikTok, ManualClock};

pub const LEASE: Duration = Duration::from_secs(30);
pub const DEADLINE: Duration = Duration::from_secs(7200);
pub const POST_ID_WAIT: Duration = Duration::from_secs(3600);
pub const SCHEDULE_MIN_LEAD: Duration = Duration::from_secs(60);
pub const SCHEDULE_GRACE: Duration = Duration::from_secs(3600);

fn cfg() -> PublishConfig {
    PublishConfig {
        media_mode: MediaMode::Proxy,
        media_url_ttl: Duration::from_secs(7200),
        worker: true,
        worker_interval: Duration::from_secs(1),
        worker_idle_max: Duration::from_secs(10),
        worker_lease: LEASE,
        deadline: DEADLINE,
        post_id_wait: POST_ID_WAIT,
        poll_initial: Duration::from_secs(3),
        poll_max: Duration::from_secs(60),
        webhook_tolerance: Duration::from_secs(300),
        abandoned_deletion_after: Duration::from_secs(600),
        schedule_min_lead: SCHEDULE_MIN_LEAD,
        schedule_grace: SCHEDULE_GRACE,
    }
}

pub struct World {
    pub store: Arc<MemoryStore>,
    pub tiktok: Arc<FakeTikTok>,
    pub media: Arc<FakeMedia>,
    pub clock: Arc<ManualClock>,
    /// The instance that handles the requests.
    pub api: PublishService,
    /// Another instance's worker.
    pub worker: PublishService,
    pub user: UserId,
    videos: AtomicU8,
}

/// What upload-complete reads from a short, ordinary phone video.
pub fn media() -> postiqo_domain::VideoMedia {
    postiqo_domain::VideoMedia {
        duration_ms: 15_000,
        width: 1080,
        height: 1920,
        frame_rate: postiqo_domain::FrameRate::from_fps(30.0),
        video_codec: "h264".into(),
        has_audio: true,
    }
}

impl World {
    pub fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let tiktok = Arc::new(FakeTikTok::new());
        let media = Arc::new(FakeMedia::default());
        let clock = Arc::new(ManualClock::new());
        let ports = PublishPorts {
            storage: PublishStorage {
                videos: store.clone(),
                users: store.clone(),
                publish: store.clone(),
                idempotency: store.clone(),
                rates: store.clone(),
            },
            tiktok: tiktok.clone(),
            media: media.clone(),
            clock: clock.clone(),
        };
        let user = UserId::new_v7(1, [7; 10]);
        let now = clock.now();
        store.put_user(User {
            id: user,
            open_id: "open-alice".into(),
            username: Some("alice".into()),
            display_name: None,
            avatar_url: None,
            scopes: vec!["user.info.basic".into(), "video.publish".into()],
            tiktok: TikTokLink::Connected,
            created_at: now,
            updated_at: now,
            deletion_requested_at: None,
        });
        Self {
            api: PublishService::with_ports(ports.clone(), cfg(), "api".into()),
            worker: PublishService::with_ports(ports, cfg(), "worker".into()),
            store,
            tiktok,
            media,
            clock,
            user,
            videos: AtomicU8::new(1),
        }
    }

    /// A new UPLOADED video of the user.
    pub fn uploaded(&self) -> VideoId {
        self.uploaded_with(media())
    }

    /// A new UPLOADED video of the user whose container said `media`.
    pub fn uploaded_with(&self, media: postiqo_domain::VideoMedia) -> VideoId {
        let now = self.clock.now();
        let n = self.videos.fetch_add(1, Ordering::SeqCst);
        let id = VideoId::new_v7(
            u64::try_from(now.timestamp_millis()).unwrap_or(0),
            [n, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        );
        let video = Video::new(
            id,
            self.user,
            Title::parse("hello").expect("title"),
            ContentType::Mp4,
            VideoSize::parse(10, 100).expect("size"),
            UploadPlan::Single,
            None,
            now,
        )
        .complete_upload(
            postiqo_domain::ETag::parse("\"verified\"").expect("tag"),
            Some(media),
            now,
        )
        .expect("uploaded");
        self.store.put_video(video);
        id
    }

    pub async fn video(&self, id: VideoId) -> Video {
        VideoRepository::get(&*self.store, self.user, id, self.clock.now())
            .await
            .expect("read")
            .expect("video exists")
    }

    pub async fn job(&self, id: VideoId) -> Option<PublishJob> {
        PublishStore::job(&*self.store, self.user, id)
            .await
            .expect("read")
    }

    /// The user grants `video.upload` as well (drafts need it).
    pub async fn grant_upload_scope(&self) {
        let mut user = UserRepository::get(&*self.store, self.user)
            .await
            .expect("read")
            .expect("user");
        user.scopes.push("video.upload".into());
        self.store.put_user(user);
    }

    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }
}

pub fn settings(level: &str) -> PublishSettings {
    PublishSettings {
        privacy_level: level.into(),
        disable_comment: false,
        disable_duet: false,
        disable_stitch: false,
        video_cover_timestamp_ms: None,
        brand_content_toggle: false,
        brand_organic_toggle: false,
        is_aigc: false,
    }
}

pub fn failure_code(v: &Video) -> Option<String> {
    v.tiktok
        .as_ref()
        .and_then(|t| t.failure.as_ref())
        .map(|f| f.code.clone())
}
