//! Whole-account operations in memory: the user's "partition" is every record keyed by the
//! user, whatever its kind, as in DynamoDB.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use postiqo_domain::{SessionId, User, UserId, VideoId};

use super::{MemoryStore, State, live};
use crate::{AccountStore, RepoError, SessionPage, VideoPage};

/// DynamoDB reads at most this many items per page, whatever the caller asks.
fn page_limit(limit: u32) -> usize {
    limit.clamp(1, 100) as usize
}

/// Deletes every record of the user except the profile and the session `keep`; the count
/// of what went. Unconditional, as DynamoDB's batch deletion is.
fn delete_partition(s: &mut State, user: UserId, keep: Option<&SessionId>) -> usize {
    let before = s.videos.len()
        + s.tokens.len()
        + s.sessions.len()
        + s.jobs.len()
        + s.lookups.len()
        + s.idempotency.len()
        + s.rates.len();
    let kept = keep.map(|k| k.as_str());
    s.videos.retain(|(u, _), _| *u != user);
    s.tokens.remove(&user);
    s.sessions
        .retain(|(u, id), _| *u != user || Some(id.as_str()) == kept);
    s.jobs.retain(|(u, _), _| *u != user);
    s.lookups.retain(|(u, _), _| *u != user);
    s.idempotency.retain(|(u, _), _| *u != user);
    s.rates.retain(|(u, _), _| *u != user);
    let after = s.videos.len()
        + s.tokens.len()
        + s.sessions.len()
        + s.jobs.len()
        + s.lookups.len()
        + s.idempotency.len()
        + s.rates.len();
    before - after
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn videos_page(
        &self,
        user: UserId,
        after: Option<VideoId>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<VideoPage, RepoError> {
        let limit = page_limit(limit);
        let s = self.lock();
        // In sort-key order (`VIDEO#<id>`): ids are UUIDv7, so oldest first.
        let mut videos: Vec<_> = s
            .videos
            .values()
            .filter(|(v, exp)| v.owner == user && live(*exp, now))
            .map(|(v, _)| v.clone())
            .collect();
        videos.sort_by_key(|v| v.id.to_string());
        if let Some(after) = after.map(|a| a.to_string()) {
            videos.retain(|v| v.id.to_string() > after);
        }
        let more = videos.len() > limit;
        videos.truncate(limit);
        let next_after = more.then(|| videos.last().map(|v| v.id)).flatten();
        Ok(VideoPage { videos, next_after })
    }

    async fn sessions_page(
        &self,
        user: UserId,
        after: Option<&SessionId>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<SessionPage, RepoError> {
        let limit = page_limit(limit);
        let s = self.lock();
        let mut sessions: Vec<_> = s
            .sessions
            .iter()
            .filter(|((u, id), sess)| {
                *u == user
                    && sess.expires_at > now
                    && after.is_none_or(|a| id.as_str() > a.as_str())
            })
            .map(|(_, sess)| sess.clone())
            .take(limit + 1)
            .collect();
        let more = sessions.len() > limit;
        sessions.truncate(limit);
        let next_after = more
            .then(|| sessions.last().map(|s| s.id.clone()))
            .flatten();
        Ok(SessionPage {
            sessions,
            next_after,
        })
    }

    async fn other_counts(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<String, usize>, RepoError> {
        let s = self.lock();
        let mine = |u: &UserId| *u == user;
        let counts = [
            (
                "publish_job",
                s.jobs.keys().filter(|(u, _)| mine(u)).count(),
            ),
            (
                "publish_lookup",
                s.lookups.keys().filter(|(u, _)| mine(u)).count(),
            ),
            (
                "idempotency",
                s.idempotency
                    .iter()
                    .filter(|((u, _), r)| mine(u) && r.expires_at > now)
                    .count(),
            ),
            (
                "rate_window",
                s.rates.keys().filter(|(u, _)| mine(u)).count(),
            ),
        ];
        Ok(counts
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| (k.to_owned(), n))
            .collect())
    }

    async fn mark_deleting(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, RepoError> {
        self.write(|s| {
            let Some(profile) = s.users.get_mut(&user) else {
                // No profile: the account is already deleted (or never existed).
                return Ok(None);
            };
            // A resumed deletion keeps the first request's time.
            profile.deletion_requested_at.get_or_insert(now);
            profile.updated_at = now;
            let marked = profile.clone();
            s.deleting.entry(user).or_insert(now);
            Ok(Some(marked))
        })
    }

    async fn abandoned_deletions(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<UserId>, RepoError> {
        let s = self.lock();
        let mut marked: Vec<(DateTime<Utc>, UserId)> = s
            .deleting
            .iter()
            .filter(|(user, since)| **since < before && s.users.contains_key(user))
            .map(|(user, since)| (*since, *user))
            .collect();
        marked.sort();
        Ok(marked
            .into_iter()
            .take(limit as usize)
            .map(|(_, user)| user)
            .collect())
    }

    async fn delete_records(
        &self,
        user: UserId,
        keep_session: Option<&SessionId>,
    ) -> Result<usize, RepoError> {
        self.write(|s| Ok(delete_partition(s, user, keep_session)))
    }

    async fn delete_root(
        &self,
        user: UserId,
        open_id: Option<&str>,
        keep_session: Option<&SessionId>,
    ) -> Result<(), RepoError> {
        self.write(|s| {
            s.users.remove(&user);
            s.deleting.remove(&user);
            if let Some(sid) = keep_session {
                s.sessions.remove(&(user, sid.as_str().to_owned()));
            }
            // Only while it names this account: a new account of the same TikTok user keeps
            // its identity.
            if let Some(open_id) = open_id
                && s.identities.get(open_id) == Some(&user)
            {
                s.identities.remove(open_id);
            }
            Ok(())
        })
    }
}
