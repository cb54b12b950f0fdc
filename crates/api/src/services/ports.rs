//! The services' ports besides storage's: the clock, TikTok's posting calls, and the media
//! URLs TikTok pulls from.
//!
//! Storage's ports live in `postiqo_storage` beside their DynamoDB/S3 adapters. These live
//! here because their production adapters are this crate's: [`SystemClock`], [`TikTokAccess`]
//! (the real client behind the token vault, with its refresh-once rule) and [`MediaService`].
//! In-process tests swap in the doubles of `crate::test_support`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use postiqo_domain::{ETag, UserId, Video};
use postiqo_tiktok::{CreatorInfo, PostInfo, PublishId, PublishStatus, TikTokError};
use url::Url;

use crate::services::media::{MediaService, PinError};
use crate::services::tiktok_access::{TikTokAccess, TikTokAccessError};

/// What time it is. Services ask this instead of `Utc::now()` so that tests can move time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A TikTok call that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum TikTokCallError {
    /// No call could be made (no usable token) or the token refresh before it failed.
    #[error(transparent)]
    Access(#[from] TikTokAccessError),
    /// TikTok's answer, or the lack of one; classify it with `TikTokError`'s methods.
    #[error(transparent)]
    TikTok(TikTokError),
}

/// The Content Posting calls publishing makes, on behalf of a user (the adapter finds and
/// refreshes the user's token).
#[async_trait]
pub trait TikTokPosting: Send + Sync + 'static {
    async fn creator_info(&self, user: UserId) -> Result<CreatorInfo, TikTokCallError>;

    async fn init_publish(
        &self,
        user: UserId,
        post: &PostInfo,
        video_url: &Url,
    ) -> Result<PublishId, TikTokCallError>;

    /// TikTok's inbox upload: the video becomes a draft in the creator's TikTok inbox.
    async fn init_inbox(&self, user: UserId, video_url: &Url)
    -> Result<PublishId, TikTokCallError>;

    async fn fetch_status(
        &self,
        user: UserId,
        publish_id: &PublishId,
    ) -> Result<PublishStatus, TikTokCallError>;

    async fn cancel_publish(
        &self,
        user: UserId,
        publish_id: &PublishId,
    ) -> Result<(), TikTokCallError>;
}

fn flatten<T>(r: Result<Result<T, TikTokError>, TikTokAccessError>) -> Result<T, TikTokCallError> {
    r?.map_err(TikTokCallError::TikTok)
}

#[async_trait]
impl TikTokPosting for TikTokAccess {
    async fn creator_info(&self, user: UserId) -> Result<CreatorInfo, TikTokCallError> {
        let client = self.client().clone();
        flatten(
            self.with_token_raw(user, |token| {
                let client = client.clone();
                async move { client.creator_info(&token).await }
            })
            .await,
        )
    }

    async fn init_publish(
        &self,
        user: UserId,
        post: &PostInfo,
        video_url: &Url,
    ) -> Result<PublishId, TikTokCallError> {
        let client = self.client().clone();
        flatten(
            self.with_token_raw(user, |token| {
                let client = client.clone();
                let post = post.clone();
                let url = video_url.clone();
                async move { client.init_video_publish(&token, &post, &url).await }
            })
            .await,
        )
    }

    async fn init_inbox(
        &self,
        user: UserId,
        video_url: &Url,
    ) -> Result<PublishId, TikTokCallError> {
        let client = self.client().clone();
        flatten(
            self.with_token_raw(user, |token| {
                let client = client.clone();
                let url = video_url.clone();
                async move { client.init_inbox_video(&token, &url).await }
            })
            .await,
        )
    }

    async fn fetch_status(
        &self,
        user: UserId,
        publish_id: &PublishId,
    ) -> Result<PublishStatus, TikTokCallError> {
        let client = self.client().clone();
        flatten(
            self.with_token_raw(user, |token| {
                let client = client.clone();
                let pid = publish_id.clone();
                async move { client.fetch_status(&token, &pid).await }
            })
            .await,
        )
    }

    async fn cancel_publish(
        &self,
        user: UserId,
        publish_id: &PublishId,
    ) -> Result<(), TikTokCallError> {
        let client = self.client().clone();
        flatten(
            self.with_token_raw(user, |token| {
                let client = client.clone();
                let pid = publish_id.clone();
                async move { client.cancel_publish(&token, &pid).await }
            })
            .await,
        )
    }
}

/// The media URL could not be made (storage failed while presigning, or a bad base URL).
#[derive(Debug, thiserror::Error)]
#[error("media URL could not be made: {0}")]
pub struct MediaUrlError(pub String);

/// Where TikTok pulls a video from, and which content it may pull.
#[async_trait]
pub trait MediaSource: Send + Sync + 'static {
    /// The content TikTok may be given: the one verified at upload-complete, if the object
    /// still holds it.
    async fn pinned(&self, video: &Video) -> Result<ETag, PinError>;

    /// The URL for TikTok to pull the `pinned` content of this video from.
    async fn url_for(&self, video: &Video, pinned: &ETag) -> Result<Url, MediaUrlError>;
}

#[async_trait]
impl MediaSource for MediaService {
    async fn pinned(&self, video: &Video) -> Result<ETag, PinError> {
        MediaService::pinned(self, video).await
    }

    async fn url_for(&self, video: &Video, pinned: &ETag) -> Result<Url, MediaUrlError> {
        MediaService::url_for(self, video, pinned)
            .await
            .map_err(|e| MediaUrlError(format!("{e:?}")))
    }
}
