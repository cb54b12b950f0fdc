use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use postiqo_domain::{ContentType, ObjectKey, UserId, Video, VideoId, VideoStatus};

use crate::{BlobError, RepoError};

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

/// A request the client makes itself, straight to S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedRequest {
    pub method: String,
    pub url: String,
    /// Headers the client must send exactly as given (they are part of the signature).
    pub headers: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

/// What S3 knows about a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    pub content_type: Option<String>,
}

/// One uploaded part, as the client reports it after its PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    pub part_number: u32,
    pub etag: String,
}

/// The video bucket. Bytes never pass through the API: it signs requests and inspects objects.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// A PUT whose signature binds bucket, key, Content-Type and Content-Length.
    async fn presign_put(
        &self,
        key: &ObjectKey,
        content_type: ContentType,
        content_length: u64,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError>;

    /// Opens a multipart upload and returns S3's upload id.
    async fn create_multipart(
        &self,
        key: &ObjectKey,
        content_type: ContentType,
    ) -> Result<String, BlobError>;

    /// A PUT for one part, binding its number and exact length.
    async fn presign_part(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        part_number: u32,
        content_length: u64,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError>;

    async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<(), BlobError>;

    /// Aborts an unfinished multipart upload; an unknown upload id is not an error.
    async fn abort_multipart(&self, key: &ObjectKey, upload_id: &str) -> Result<(), BlobError>;

    /// `None` when there is no such object.
    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, BlobError>;

    /// The first `len` bytes of the object (fewer if it is shorter).
    async fn read_prefix(&self, key: &ObjectKey, len: u64) -> Result<Vec<u8>, BlobError>;

    /// Deletes the object; deleting a missing object is not an error.
    async fn delete(&self, key: &ObjectKey) -> Result<(), BlobError>;

    /// Cheap call proving the bucket answers.
    async fn ping(&self) -> Result<(), BlobError>;
}
