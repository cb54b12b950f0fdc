//! Video records.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use postiqo_domain::{UserId, Video, VideoId, VideoStatus};

use crate::RepoError;

/// Which page of a user's videos to read.
#[derive(Debug, Clone)]
pub struct VideoQuery {
    pub owner: UserId,
    pub status: Option<VideoStatus>,
    pub limit: u32,
    /// Continue after this video (the last one of the previous page).
    pub after: Option<VideoId>,
    /// Records whose TTL has passed count as gone even before DynamoDB removes them.
    pub now: DateTime<Utc>,
}

/// One page of videos, newest first.
#[derive(Debug, Clone)]
pub struct VideoPage {
    pub videos: Vec<Video>,
    /// Set when more videos follow; the next page starts after this one.
    pub next_after: Option<VideoId>,
}

/// Durable video records. Every write is conditional: `insert` on absence, `update` and
/// `delete` on the version read, so two racing writers cannot both win.
#[async_trait]
pub trait VideoRepository: Send + Sync + 'static {
    /// Stores a new video; [`RepoError::Conflict`] if the id exists.
    async fn insert(
        &self,
        video: &Video,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), RepoError>;

    /// The caller's video, read consistently; `None` when absent, expired or someone else's.
    async fn get(
        &self,
        owner: UserId,
        id: VideoId,
        now: DateTime<Utc>,
    ) -> Result<Option<Video>, RepoError>;

    /// Replaces the record if it is still at `expected_version` (the version that was read);
    /// [`RepoError::Conflict`] otherwise. `expires_at` sets or clears the TTL.
    async fn update(
        &self,
        video: &Video,
        expected_version: u64,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), RepoError>;

    /// Deletes the record if it is still at `expected_version`.
    async fn delete(
        &self,
        owner: UserId,
        id: VideoId,
        expected_version: u64,
    ) -> Result<(), RepoError>;

    async fn list(&self, query: VideoQuery) -> Result<VideoPage, RepoError>;

    /// Cheap call proving the table answers.
    async fn ping(&self) -> Result<(), RepoError>;
}
