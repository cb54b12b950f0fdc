//! The video bucket.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use postiqo_domain::{ContentType, ETag, ObjectKey, UserId};

use crate::BlobError;

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
    /// Names this exact content; reads conditioned on it get these bytes or nothing.
    pub etag: Option<ETag>,
}

/// An object being read: its metadata and a stream of its bytes.
pub struct ObjectStream {
    pub content_length: u64,
    /// Set when a range was served (`bytes a-b/total`).
    pub content_range: Option<String>,
    pub content_type: Option<String>,
    pub total_size: Option<u64>,
    pub body: std::pin::Pin<
        Box<dyn futures_core::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send>,
    >,
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

    /// The first `len` bytes of the object (fewer if it is shorter). With `if_match`, only
    /// from that content: [`BlobError::Changed`] when the object holds other bytes now.
    async fn read_prefix(
        &self,
        key: &ObjectKey,
        len: u64,
        if_match: Option<&ETag>,
    ) -> Result<Vec<u8>, BlobError>;

    /// A GET anyone holding the URL can make until it expires (for TikTok's pull).
    async fn presign_get(
        &self,
        key: &ObjectKey,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError>;

    /// Marks an uploaded object as confirmed, so the bucket's lifecycle rule for unconfirmed
    /// uploads no longer applies to it.
    async fn mark_confirmed(&self, key: &ObjectKey) -> Result<(), BlobError>;

    /// Stores a small site file (e.g. TikTok's domain-verification file) under `site/`.
    async fn put_site_file(
        &self,
        name: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), BlobError>;

    /// Every site file under `dir/` (names relative to it), at most `max_files` of at most
    /// `max_bytes` each (larger ones are left out): small files served from memory.
    async fn site_files(
        &self,
        dir: &str,
        max_files: usize,
        max_bytes: u64,
    ) -> Result<Vec<(String, Vec<u8>)>, BlobError>;

    /// Streams the object (or the byte range, in HTTP `Range` syntax) without buffering it.
    /// With `if_match`, only that content: [`BlobError::Changed`] when the object was
    /// overwritten since.
    async fn open_stream(
        &self,
        key: &ObjectKey,
        range: Option<&str>,
        if_match: Option<&ETag>,
    ) -> Result<ObjectStream, BlobError>;

    /// Deletes the object; deleting a missing object is not an error.
    async fn delete(&self, key: &ObjectKey) -> Result<(), BlobError>;

    /// Aborts every unfinished multipart upload under the user's prefix
    /// ([`ObjectKey::account_prefix`]); returns how many there were.
    async fn abort_uploads_of(&self, owner: UserId) -> Result<usize, BlobError>;

    /// Deletes every object under the user's prefix; returns how many there were.
    async fn delete_objects_of(&self, owner: UserId) -> Result<usize, BlobError>;

    /// Cheap call proving the bucket answers.
    async fn ping(&self) -> Result<(), BlobError>;
}
