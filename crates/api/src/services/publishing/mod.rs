//! Publishing to TikTok (Direct Post, `PULL_FROM_URL`) and tracking each publish to its end.
//!
//! It lives under `services/` because it is one more use case of the same layer (load, apply
//! a domain transition, write conditionally) and only bigger, so it has a folder:
//!
//! - [`creator`]: creator info and TikTok's per-user rate windows;
//! - [`start`]: idempotency keys, the publish request, and TikTok's init (first or retried);
//! - [`schedule`]: scheduled publishes: making, moving, cancelling and starting them when due;
//! - [`inbox`]: drafts sent to the creator's TikTok inbox, and TikTok's cap on them;
//! - [`tracking`]: TikTok's updates (status fetch and webhooks) and cancel;
//! - [`queue`]: the job queue the worker runs: leases, backoff, deadlines, failing a publish;
//! - [`wake`]: when the worker looks at the queue next (idle pacing, hints of saved jobs);
//! - [`error`]: [`PublishError`], what went wrong in publishing's words.
//!
//! The rules themselves are in `postiqo_domain` (the video and the publish job state machines,
//! TikTok's posting rules); TikTok, storage, the media URLs and the clock are ports, so
//! `tests` runs these use cases in process against in-memory adapters.
//!
//! The order of writes is what makes this safe: the intent (PUBLISHING, an attempt id and a
//! job holding a lease) is stored *before* TikTok is called, and TikTok's publish id right
//! after. If the process dies in between, the job's lease runs out while it still says
//! "initiating", and the worker fails the video with `publish_outcome_unknown` rather than
//! calling init again: a second post is never made without the user asking for it.

pub mod check;
pub mod creator;
pub mod error;
pub mod inbox;
pub mod queue;
pub mod schedule;
pub mod start;
pub mod tracking;
pub mod wake;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use postiqo_domain::Backoff;
use postiqo_storage::{
    IdempotencyStore, PublishStore, RateWindows, Storage, UserRepository, VideoRepository,
};

pub use check::PublishCheck;
pub use error::PublishError;
/// What TikTok says a creator may post now (the posting screen shows it).
pub use postiqo_tiktok::CreatorInfo;
pub use start::{Idempotent, Once, PublishPlan};
pub use tracking::TikTokUpdate;
pub use wake::{IdlePacing, WakeHints};

use crate::config::PublishConfig;
use crate::services::media::MediaService;
use crate::services::ports::{Clock, MediaSource, SystemClock, TikTokPosting};
use crate::services::tiktok_access::TikTokAccess;

/// The storage ports publishing uses, and only those.
#[derive(Clone)]
pub struct PublishStorage {
    pub videos: Arc<dyn VideoRepository>,
    pub users: Arc<dyn UserRepository>,
    pub publish: Arc<dyn PublishStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub rates: Arc<dyn RateWindows>,
}

impl From<&Storage> for PublishStorage {
    fn from(s: &Storage) -> Self {
        Self {
            videos: s.videos.clone(),
            users: s.users.clone(),
            publish: s.publish.clone(),
            idempotency: s.idempotency.clone(),
            rates: s.rates.clone(),
        }
    }
}

/// Everything publishing talks to.
#[derive(Clone)]
pub struct PublishPorts {
    pub storage: PublishStorage,
    pub tiktok: Arc<dyn TikTokPosting>,
    pub media: Arc<dyn MediaSource>,
    pub clock: Arc<dyn Clock>,
}

#[derive(Clone)]
pub struct PublishService {
    store: PublishStorage,
    tiktok: Arc<dyn TikTokPosting>,
    media: Arc<dyn MediaSource>,
    clock: Arc<dyn Clock>,
    cfg: PublishConfig,
    /// Names this process in job leases.
    instance: String,
    /// When jobs saved here become due (the worker's wake-ups).
    hints: Arc<WakeHints>,
}

impl PublishService {
    /// The production wiring: DynamoDB, the real TikTok client, the system clock.
    pub fn new(
        storage: Storage,
        tiktok: TikTokAccess,
        media: MediaService,
        cfg: PublishConfig,
        instance: String,
    ) -> Self {
        Self::with_ports(
            PublishPorts {
                storage: PublishStorage::from(&storage),
                tiktok: Arc::new(tiktok),
                media: Arc::new(media),
                clock: Arc::new(SystemClock),
            },
            cfg,
            instance,
        )
    }

    pub fn with_ports(ports: PublishPorts, cfg: PublishConfig, instance: String) -> Self {
        let hints = Arc::new(WakeHints::default());
        let mut store = ports.storage;
        store.publish = Arc::new(wake::Hinting {
            inner: store.publish,
            hints: hints.clone(),
        });
        Self {
            store,
            tiktok: ports.tiktok,
            media: ports.media,
            clock: ports.clock,
            cfg,
            instance,
            hints,
        }
    }

    /// When jobs this instance saved become due.
    pub fn wake_hints(&self) -> &WakeHints {
        &self.hints
    }

    pub fn config(&self) -> &PublishConfig {
        &self.cfg
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn backoff(&self) -> Backoff {
        Backoff {
            initial: self.cfg.poll_initial,
            max: self.cfg.poll_max,
        }
    }
}
