//! Postiqo's domain: identifiers, the rules a video must obey, the video state machine, the
//! publish job's state machine and TikTok's posting rules.
//!
//! Pure on purpose: no I/O, no clocks (callers pass `now`), no HTTP or AWS types, so every rule
//! here is unit-tested without a server and every adapter has one place to ask.

mod ids;
mod media;
mod media_rules;
mod posting_rules;
mod publish;
mod publish_job;
pub mod rfc3339;
mod status;
mod title;
mod upload;
mod user;
mod video;

pub use ids::{IdParseError, ObjectKey, UserId, VideoId};
pub use media::{
    ContainerCheck, ContentType, ContentTypeError, ETag, SizeError, VideoSize, sniff_container,
};
pub use media_rules::{
    API_MAX_DURATION_SECS, FrameRate, MAX_COVER_TIMESTAMP_MS, MAX_FRAME_RATE, MAX_SIDE_PX,
    MIN_FRAME_RATE, MIN_SIDE_PX, MediaProblem, TIKTOK_CODECS, VideoMedia, draft_media_problems,
    media_problems,
};
pub use posting_rules::{
    AccessLoss, CREATOR_INFO_WINDOW, CreatorOptions, INBOX_PENDING_LIMIT, INBOX_PENDING_WINDOW,
    INIT_WINDOW, PRIVACY_PUBLIC_TO_EVERYONE, PRIVACY_SELF_ONLY, RateWindow, STATUS_WINDOW,
    SettingsError,
};
pub use publish::{PublishFailure, PublishMode, PublishSettings, TikTokPublish, post_url};
pub use publish_job::{Backoff, JobAction, JobPhase, JobStep, JobTransitionError, PublishJob};
pub use status::{VideoAction, VideoStatus, VideoStatusParseError};
pub use title::{TITLE_MAX_UTF16_UNITS, Title, TitleError};
pub use upload::{
    MAX_PARTS, MIN_PART_SIZE, PLANNED_PARTS, UploadPlan, UploadPlanError, UploadPolicy,
};
pub use user::{
    Profile, REMEMBERED_REFRESH_HASHES, RefreshCheck, RetiredRefresh, Session, SessionId,
    TikTokLink, User,
};
pub use video::{HistoryEvent, StatusChange, TransitionError, Video};
