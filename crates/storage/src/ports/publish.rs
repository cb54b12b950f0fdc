//! Publishing: videos with their jobs, idempotency keys, TikTok's rate windows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use postiqo_domain::{PublishJob, UserId, Video, VideoId};

use crate::RepoError;

/// What to do with the job in the same transaction as a video change.
#[derive(Debug, Clone)]
pub enum JobChange<'a> {
    Keep,
    /// Create (no `expected_version`) or replace the job at `expected_version`.
    Save {
        job: &'a PublishJob,
        expected_version: Option<u64>,
    },
    Remove {
        expected_version: u64,
    },
}

/// Videos and their publish jobs, changed together.
#[async_trait]
pub trait PublishStore: Send + Sync + 'static {
    /// Writes the video (conditional on `expected_version`), applies the job change, and, when
    /// `publish_id` is given, records the lookup from that publish id to the video — all in
    /// one transaction. [`RepoError::Conflict`] if any condition fails.
    async fn commit(
        &self,
        video: &Video,
        expected_version: u64,
        job: JobChange<'_>,
        publish_id: Option<&str>,
    ) -> Result<(), RepoError>;

    async fn job(&self, owner: UserId, video: VideoId) -> Result<Option<PublishJob>, RepoError>;

    /// Removes what publishing left for a video that is being deleted: its job and the lookup
    /// from its publish id. Missing items are not an error.
    async fn forget(
        &self,
        owner: UserId,
        video: VideoId,
        publish_id: Option<&str>,
    ) -> Result<(), RepoError>;

    /// Deletes a job whose video is gone or moved on, if it is still at `expected_version`.
    async fn delete_job(
        &self,
        owner: UserId,
        video: VideoId,
        expected_version: u64,
    ) -> Result<(), RepoError>;

    /// Up to `limit` jobs whose `next_run_at` has come (eventually consistent), oldest first
    /// within the batch. A sharded store fills the batch from several shards, and successive
    /// calls start at different shards (`job_shards`), so it need not be the oldest overall.
    async fn due_jobs(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<PublishJob>, RepoError>;

    /// Takes the job's lease if it is still at its version and nobody holds a live lease
    /// (what [`PublishJob::leased`] allows), in one conditional write.
    async fn lease(
        &self,
        job: &PublishJob,
        owner: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<PublishJob, RepoError>;

    /// The video a publish id belongs to, within the owner's records.
    async fn video_for_publish_id(
        &self,
        owner: UserId,
        publish_id: &str,
    ) -> Result<Option<VideoId>, RepoError>;
}

/// What an idempotency key already recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// The key was new: the caller does the work and then calls `finish`.
    Started,
    /// Another request with this key is still running.
    InProgress { request_hash: String },
    /// Done before: replay this answer.
    Done {
        request_hash: String,
        status: u16,
        body: String,
    },
}

/// Idempotency keys of unsafe requests, per user, expiring by TTL.
#[async_trait]
pub trait IdempotencyStore: Send + Sync + 'static {
    async fn begin(
        &self,
        owner: UserId,
        key_digest: &str,
        request_hash: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<IdempotencyBegin, RepoError>;

    async fn finish(
        &self,
        owner: UserId,
        key_digest: &str,
        status: u16,
        body: &str,
    ) -> Result<(), RepoError>;

    /// Forgets a key whose request failed before changing anything, so it can be retried.
    async fn abandon(&self, owner: UserId, key_digest: &str) -> Result<(), RepoError>;
}

/// Sliding-window limits shared by every instance (TikTok's limits are per user token).
#[async_trait]
pub trait RateWindows: Send + Sync + 'static {
    /// Records one call if fewer than `limit` happened in the last `window`; otherwise
    /// returns how long to wait.
    async fn try_acquire(
        &self,
        owner: UserId,
        name: &str,
        limit: usize,
        window: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<Result<(), std::time::Duration>, RepoError>;
}
