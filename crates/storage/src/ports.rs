use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use postiqo_domain::{
    ContentType, ETag, ObjectKey, PublishJob, Session, SessionId, TikTokLink, User, UserId, Video,
    VideoId, VideoStatus,
};

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

/// A user's TikTok tokens as stored: ciphertexts only. Encryption happens above storage, so
/// this crate never holds a usable token.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredTokens {
    /// Which encryption key sealed the ciphertexts (keys rotate).
    pub key_id: String,
    pub access_ciphertext: String,
    pub refresh_ciphertext: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_expires_at: DateTime<Utc>,
    pub scopes: Vec<String>,
    /// When the user granted this access (the sign-in that stored it); refreshes keep it.
    /// `None` for tokens stored before it was recorded.
    pub granted_at: Option<DateTime<Utc>>,
    /// Increases with every write; conditional writes compare it.
    pub version: u64,
    /// While set and in the future, one caller is refreshing the tokens.
    pub lease_until: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTokens")
            .field("key_id", &self.key_id)
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("granted_at", &self.granted_at)
            .field("version", &self.version)
            .field("lease_until", &self.lease_until)
            .finish_non_exhaustive()
    }
}

/// Accounts, the TikTok identities that own them, and their TikTok tokens.
#[async_trait]
pub trait UserRepository: Send + Sync + 'static {
    async fn get(&self, id: UserId) -> Result<Option<User>, RepoError>;

    async fn find_by_open_id(&self, open_id: &str) -> Result<Option<User>, RepoError>;

    /// Creates the account, claims its open_id and stores its tokens in one transaction;
    /// [`RepoError::Conflict`] when the open_id already belongs to an account.
    async fn create_with_tokens(&self, user: &User, tokens: &StoredTokens)
    -> Result<(), RepoError>;

    /// Updates the profile and replaces the tokens (whatever their version) in one
    /// transaction: a new sign-in supersedes any earlier grant.
    async fn update_with_tokens(&self, user: &User, tokens: &StoredTokens)
    -> Result<(), RepoError>;

    async fn set_tiktok_link(
        &self,
        id: UserId,
        link: TikTokLink,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError>;

    /// Replaces the profile of an existing account.
    async fn update_profile(&self, user: &User) -> Result<(), RepoError>;
}

/// The TikTok tokens of one user, with a lease so that one caller refreshes at a time.
#[async_trait]
pub trait TokenVault: Send + Sync + 'static {
    async fn get(&self, user: UserId) -> Result<Option<StoredTokens>, RepoError>;

    /// Takes the refresh lease if the tokens are still at `version` and nobody holds an
    /// unexpired lease; returns the new version. [`RepoError::Conflict`] otherwise.
    async fn acquire_lease(
        &self,
        user: UserId,
        version: u64,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError>;

    /// Stores refreshed tokens if the vault is still at `expected_version` (the lease
    /// holder's); the lease is cleared.
    async fn replace(
        &self,
        user: UserId,
        tokens: &StoredTokens,
        expected_version: u64,
    ) -> Result<(), RepoError>;

    /// Gives the lease back without new tokens (the refresh failed).
    async fn release_lease(&self, user: UserId, version: u64) -> Result<(), RepoError>;

    async fn delete(&self, user: UserId) -> Result<(), RepoError>;
}

/// Signed-in sessions.
#[async_trait]
pub trait SessionRepository: Send + Sync + 'static {
    async fn create(&self, session: &Session) -> Result<(), RepoError>;

    /// `None` when absent or expired.
    async fn get(
        &self,
        user: UserId,
        id: &SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, RepoError>;

    /// Replaces the session if its refresh hash is still `expected_hash` (one rotation wins).
    async fn replace(&self, session: &Session, expected_hash: &str) -> Result<(), RepoError>;

    async fn delete(&self, user: UserId, id: &SessionId) -> Result<(), RepoError>;

    /// Ends every session of the user; returns how many there were.
    async fn delete_all(&self, user: UserId) -> Result<usize, RepoError>;

    async fn list(&self, user: UserId, now: DateTime<Utc>) -> Result<Vec<Session>, RepoError>;
}

/// Short-lived, single-use records (OAuth states, login codes), addressed by a digest of
/// their secret so the secret itself is never stored.
#[async_trait]
pub trait OneTimeStore: Send + Sync + 'static {
    async fn put(
        &self,
        kind: &str,
        digest: &str,
        payload: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), RepoError>;

    /// Removes and returns the record; `None` if it never existed, was taken, or expired.
    /// Two concurrent takes cannot both get it.
    async fn take(
        &self,
        kind: &str,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, RepoError>;
}

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

/// One page of a user's sessions, oldest first.
#[derive(Debug, Clone, Default)]
pub struct SessionPage {
    pub sessions: Vec<Session>,
    /// Set when more follow; the next page starts after this one.
    pub next_after: Option<SessionId>,
}

/// Whole-account operations: everything of one user at once, for export and deletion.
/// Every method is safe to repeat, so an interrupted deletion is finished by running it again.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Up to `limit` of the user's videos after `after`, oldest first, read consistently;
    /// records past their TTL are left out. An export reads them page by page.
    async fn videos_page(
        &self,
        user: UserId,
        after: Option<VideoId>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<VideoPage, RepoError>;

    /// Up to `limit` of the user's live sessions after `after`, in session id order.
    async fn sessions_page(
        &self,
        user: UserId,
        after: Option<&SessionId>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<SessionPage, RepoError>;

    /// How many records of each kind the user's partition holds besides the profile, the
    /// tokens, sessions and videos (idempotency keys, publish bookkeeping, …). Records past
    /// their TTL are left out.
    async fn other_counts(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<std::collections::BTreeMap<String, usize>, RepoError>;

    /// Marks the account as being deleted (a conditional write on the profile); a repeated
    /// call keeps the first time. Returns the marked profile, `None` when there is no profile
    /// any more.
    async fn mark_deleting(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, RepoError>;

    /// Accounts marked for deletion before `before` whose deletion was never finished (the
    /// caller went away mid-way), oldest first, for the worker to finish.
    async fn abandoned_deletions(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<UserId>, RepoError>;

    /// Deletes every record of the user's partition except the profile and the session
    /// `keep_session`; returns how many were deleted.
    async fn delete_records(
        &self,
        user: UserId,
        keep_session: Option<&SessionId>,
    ) -> Result<usize, RepoError>;

    /// The last step: the profile, the session `keep_session` and the TikTok identity of
    /// `open_id` (only while it still names this user) in one transaction.
    async fn delete_root(
        &self,
        user: UserId,
        open_id: Option<&str>,
        keep_session: Option<&SessionId>,
    ) -> Result<(), RepoError>;
}

/// What the delivery memory held for a webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryBegin {
    /// Never seen (or forgotten): the caller processes it, then calls `finish`.
    Started,
    /// Another request is processing the same delivery right now.
    InProgress,
    /// Processed before: acknowledge and ignore.
    Done,
}

/// A delivery as remembered: whether it was processed, and until when it is remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub done: bool,
    /// A claim while processing; a claim whose holder died runs out here.
    pub lease_until: DateTime<Utc>,
    pub remember_until: DateTime<Utc>,
}

impl DeliveryRecord {
    /// What a delivery arriving at `now` finds. Adapters write the same rule as a condition
    /// (claim unless remembered and either done or claimed by someone alive).
    pub fn seen_at(&self, now: DateTime<Utc>) -> DeliveryBegin {
        if self.remember_until <= now {
            DeliveryBegin::Started
        } else if self.done {
            DeliveryBegin::Done
        } else if self.lease_until > now {
            DeliveryBegin::InProgress
        } else {
            DeliveryBegin::Started
        }
    }
}

/// Webhook deliveries already received, keyed by a digest of their body and forgotten by TTL:
/// the replay defence for signed deliveries (TikTok retries for days, and whether a retry is
/// signed again is not documented, so a delivery's age alone cannot tell a retry from a replay).
#[async_trait]
pub trait WebhookDeliveries: Send + Sync + 'static {
    /// Claims the delivery for processing until `lease_until`, remembered until
    /// `remember_until` (conditional write: of two concurrent claims one wins). A delivery
    /// already done is remembered at least until `remember_until` from now on.
    async fn begin(
        &self,
        digest: &str,
        lease_until: DateTime<Utc>,
        remember_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<DeliveryBegin, RepoError>;

    /// Marks a claimed delivery processed.
    async fn finish(&self, digest: &str) -> Result<(), RepoError>;

    /// Drops a claim whose processing failed, so that TikTok's next attempt is processed.
    async fn abandon(&self, digest: &str) -> Result<(), RepoError>;
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn a_remembered_delivery_is_done_in_progress_or_free_to_claim() {
        let claimed = DeliveryRecord {
            done: false,
            lease_until: at(60),
            remember_until: at(1000),
        };
        assert_eq!(claimed.seen_at(at(10)), DeliveryBegin::InProgress);
        assert_eq!(
            claimed.seen_at(at(60)),
            DeliveryBegin::Started,
            "the claim of a holder that died runs out"
        );
        let done = DeliveryRecord {
            done: true,
            ..claimed
        };
        assert_eq!(done.seen_at(at(10)), DeliveryBegin::Done);
        assert_eq!(done.seen_at(at(999)), DeliveryBegin::Done);
        assert_eq!(
            done.seen_at(at(1000)),
            DeliveryBegin::Started,
            "forgotten once its memory ends, even before DynamoDB deletes it"
        );
    }
}
