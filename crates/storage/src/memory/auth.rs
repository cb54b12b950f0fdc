//! Accounts, TikTok tokens, sessions and one-time records in memory.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use postiqo_domain::{Session, SessionId, TikTokLink, User, UserId};

use super::{MemoryStore, State};
use crate::{OneTimeStore, RepoError, SessionRepository, StoredTokens, TokenVault, UserRepository};

/// DynamoDB's `PROFILE_LIVE`: whole-profile writes never revive an account being deleted.
fn profile_live(s: &State, user: UserId) -> Result<(), RepoError> {
    match s.users.get(&user) {
        Some(u) if !u.is_being_deleted() => Ok(()),
        _ => Err(RepoError::Conflict),
    }
}

#[async_trait]
impl UserRepository for MemoryStore {
    async fn get(&self, id: UserId) -> Result<Option<User>, RepoError> {
        Ok(self.lock().users.get(&id).cloned())
    }

    async fn find_by_open_id(&self, open_id: &str) -> Result<Option<User>, RepoError> {
        let s = self.lock();
        Ok(s.identities
            .get(open_id)
            .and_then(|id| s.users.get(id))
            .cloned())
    }

    async fn create_with_tokens(
        &self,
        user: &User,
        tokens: &StoredTokens,
    ) -> Result<(), RepoError> {
        self.write(|s| {
            if s.identities.contains_key(&user.open_id) || s.users.contains_key(&user.id) {
                return Err(RepoError::Conflict);
            }
            s.identities.insert(user.open_id.clone(), user.id);
            s.users.insert(user.id, user.clone());
            s.tokens.insert(user.id, tokens.clone());
            Ok(())
        })
    }

    async fn update_with_tokens(
        &self,
        user: &User,
        tokens: &StoredTokens,
    ) -> Result<(), RepoError> {
        self.write(|s| {
            profile_live(s, user.id)?;
            s.users.insert(user.id, user.clone());
            s.tokens.insert(user.id, tokens.clone());
            Ok(())
        })
    }

    async fn set_tiktok_link(
        &self,
        id: UserId,
        link: TikTokLink,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        self.write(|s| match s.users.get_mut(&id) {
            Some(u) => {
                u.tiktok = link;
                u.updated_at = now;
                Ok(())
            }
            None => Err(RepoError::Conflict),
        })
    }

    async fn update_profile(&self, user: &User) -> Result<(), RepoError> {
        self.write(|s| {
            profile_live(s, user.id)?;
            s.users.insert(user.id, user.clone());
            Ok(())
        })
    }
}

#[async_trait]
impl TokenVault for MemoryStore {
    async fn get(&self, user: UserId) -> Result<Option<StoredTokens>, RepoError> {
        Ok(self.lock().tokens.get(&user).cloned())
    }

    async fn acquire_lease(
        &self,
        user: UserId,
        version: u64,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        self.write(|s| match s.tokens.get_mut(&user) {
            Some(t) if t.version == version && t.lease_until.is_none_or(|l| l <= now) => {
                t.lease_until = Some(until);
                t.version = version + 1;
                Ok(t.version)
            }
            _ => Err(RepoError::Conflict),
        })
    }

    async fn replace(
        &self,
        user: UserId,
        tokens: &StoredTokens,
        expected_version: u64,
    ) -> Result<(), RepoError> {
        self.write(|s| match s.tokens.get_mut(&user) {
            Some(t) if t.version == expected_version => {
                *t = StoredTokens {
                    version: expected_version + 1,
                    lease_until: None,
                    ..tokens.clone()
                };
                Ok(())
            }
            _ => Err(RepoError::Conflict),
        })
    }

    async fn release_lease(&self, user: UserId, version: u64) -> Result<(), RepoError> {
        self.write(|s| match s.tokens.get_mut(&user) {
            Some(t) if t.version == version => {
                t.lease_until = None;
                t.version = version + 1;
                Ok(())
            }
            _ => Err(RepoError::Conflict),
        })
    }

    async fn delete(&self, user: UserId) -> Result<(), RepoError> {
        self.write(|s| {
            s.tokens.remove(&user);
            Ok(())
        })
    }
}

fn session_key(user: UserId, id: &SessionId) -> (UserId, String) {
    (user, id.as_str().to_owned())
}

#[async_trait]
impl SessionRepository for MemoryStore {
    async fn create(&self, session: &Session) -> Result<(), RepoError> {
        self.write(|s| {
            let key = session_key(session.user, &session.id);
            if s.sessions.contains_key(&key) {
                return Err(RepoError::Conflict);
            }
            s.sessions.insert(key, session.clone());
            Ok(())
        })
    }

    async fn get(
        &self,
        user: UserId,
        id: &SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, RepoError> {
        Ok(self
            .lock()
            .sessions
            .get(&session_key(user, id))
            .filter(|s| s.expires_at > now)
            .cloned())
    }

    async fn replace(&self, session: &Session, expected_hash: &str) -> Result<(), RepoError> {
        self.write(
            |s| match s.sessions.get_mut(&session_key(session.user, &session.id)) {
                Some(stored) if stored.refresh_hash == expected_hash => {
                    *stored = session.clone();
                    Ok(())
                }
                _ => Err(RepoError::Conflict),
            },
        )
    }

    async fn delete(&self, user: UserId, id: &SessionId) -> Result<(), RepoError> {
        self.write(|s| {
            s.sessions.remove(&session_key(user, id));
            Ok(())
        })
    }

    async fn delete_all(&self, user: UserId) -> Result<usize, RepoError> {
        // One delete per session, as DynamoDB does: a failure can leave some of them.
        let sessions = self.list(user, DateTime::<Utc>::MIN_UTC).await?;
        for s in &sessions {
            SessionRepository::delete(self, user, &s.id).await?;
        }
        Ok(sessions.len())
    }

    async fn list(&self, user: UserId, now: DateTime<Utc>) -> Result<Vec<Session>, RepoError> {
        Ok(self
            .lock()
            .sessions
            .iter()
            .filter(|((u, _), s)| *u == user && s.expires_at > now)
            .map(|(_, s)| s.clone())
            .collect())
    }
}

#[async_trait]
impl OneTimeStore for MemoryStore {
    async fn put(
        &self,
        kind: &str,
        digest: &str,
        payload: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        self.write(|s| {
            let key = (kind.to_owned(), digest.to_owned());
            if s.one_time.contains_key(&key) {
                return Err(RepoError::Conflict);
            }
            s.one_time.insert(key, (payload.to_owned(), expires_at));
            Ok(())
        })
    }

    async fn take(
        &self,
        kind: &str,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, RepoError> {
        self.write(|s| {
            Ok(s.one_time
                .remove(&(kind.to_owned(), digest.to_owned()))
                .filter(|(_, expires)| *expires > now)
                .map(|(payload, _)| payload))
        })
    }
}
