//! Our sessions and the one-time records of signing in.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use postiqo_domain::{Session, SessionId, UserId};

use crate::RepoError;

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
