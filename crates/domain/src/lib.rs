//! Postiqo's domain: identifiers, the rules a video must obey and the video state machine.
//!
//! Pure on purpose: no I/O, no clocks (callers pass `now`), no HTTP or AWS types, so every rule
//! here is unit-tested without a server and every adapter has one place to ask.

mod ids;
mod media;
mod publish;
mod status;
mod title;
mod upload;
mod user;
mod video;

pub use ids::{IdParseError, ObjectKey, UserId, VideoId};
pub use media::{
    ContainerCheck, ContentType, ContentTypeError, ETag, SizeError, VideoSize, sniff_container,
};
pub use publish::{PublishFailure, PublishSettings, TikTokPublish, post_url};
pub use status::{VideoAction, VideoStatus, VideoStatusParseError};
pub use title::{TITLE_MAX_UTF16_UNITS, Title, TitleError};
pub use upload::{MAX_PARTS, MIN_PART_SIZE, UploadPlan, UploadPlanError, UploadPolicy};
pub use user::{REMEMBERED_REFRESH_HASHES, RefreshCheck, Session, SessionId, TikTokLink, User};
pub use video::{StatusChange, TransitionError, Video};
