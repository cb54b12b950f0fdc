//! Whole-account operations (export, deletion).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use postiqo_domain::{Session, SessionId, User, UserId, VideoId};

use super::VideoPage;
use crate::RepoError;

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
