//! In-memory adapters of every storage port, for tests of the services that run in process,
//! in milliseconds, with no storage server. One [`MemoryStore`] stands behind all of them;
//! [`MemoryStore::storage`] builds the whole [`Storage`] from it.
//!
//! They keep the adapters' contracts, not their mechanics: every write is conditional on the
//! same versions DynamoDB checks, a commit is all-or-nothing, and records past their TTL read
//! as absent. Time is whatever the caller passes as `now` (the services' clock), so a test
//! controls rate windows, leases and expiry by moving its clock. [`MemoryStore::fail_next_writes`]
//! makes storage (table and bucket alike) unavailable for a number of writes, to test what a
//! service does then.
//!
//! The bucket keeps objects as bytes. Presigned URLs are `memory://` URLs nobody can call: a
//! test plays the client's upload with [`MemoryStore::put_object`] and
//! [`MemoryStore::put_part`].

mod account;
mod auth;
mod blobs;
mod publish;
#[cfg(test)]
mod tests;
mod webhooks;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use postiqo_domain::{PublishJob, Session, User, UserId, Video, VideoId};

use crate::{BlobError, DeliveryRecord, RepoError, Storage, StoredTokens};

pub use blobs::StoredObject;

/// A video and when its TTL ends.
type StoredVideo = (Video, Option<DateTime<Utc>>);

#[derive(Default)]
struct State {
    videos: BTreeMap<(UserId, VideoId), StoredVideo>,
    users: HashMap<UserId, User>,
    /// Which account a TikTok open_id belongs to (DynamoDB's identity item).
    identities: HashMap<String, UserId>,
    tokens: HashMap<UserId, StoredTokens>,
    jobs: BTreeMap<(UserId, VideoId), PublishJob>,
    lookups: HashMap<(UserId, String), VideoId>,
    idempotency: HashMap<(UserId, String), Idem>,
    rates: HashMap<(UserId, String), Vec<DateTime<Utc>>>,
    /// By user and session id, so a user's sessions list in id order.
    sessions: BTreeMap<(UserId, String), Session>,
    /// By kind and digest: the payload and when it expires.
    one_time: HashMap<(String, String), (String, DateTime<Utc>)>,
    deliveries: HashMap<String, DeliveryRecord>,
    /// Accounts being deleted and since when (DynamoDB's sparse index of deletions).
    deleting: HashMap<UserId, DateTime<Utc>>,
    objects: BTreeMap<String, StoredObject>,
    /// Ranged and prefix reads of objects made so far (each one a GET on S3).
    object_reads: usize,
    uploads: BTreeMap<String, blobs::Upload>,
    next_upload: u64,
    /// Writes that still succeed before the failing ones start.
    passing_writes: usize,
    failing_writes: usize,
    writes: usize,
}

#[derive(Clone)]
struct Idem {
    request_hash: String,
    expires_at: DateTime<Utc>,
    done: Option<(u16, String)>,
}

/// One in-memory store behind every port; [`MemoryStore::storage`] hands it out as each.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

fn unavailable() -> RepoError {
    RepoError::Unavailable("storage made unavailable by the test".into())
}

fn blob_unavailable() -> BlobError {
    BlobError::Unavailable("object storage made unavailable by the test".into())
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The whole storage of the services, every port backed by this one store.
    pub fn storage(self: &Arc<Self>) -> Storage {
        Storage {
            videos: self.clone(),
            blobs: self.clone(),
            users: self.clone(),
            tokens: self.clone(),
            sessions: self.clone(),
            one_time: self.clone(),
            publish: self.clone(),
            idempotency: self.clone(),
            rates: self.clone(),
            accounts: self.clone(),
            webhook_deliveries: self.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already; the data is still
        // what it was, so keep reading it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a write: refused as unavailable while the test asked for failures.
    fn write<T>(&self, f: impl FnOnce(&mut State) -> Result<T, RepoError>) -> Result<T, RepoError> {
        self.write_or(unavailable, f)
    }

    /// A write to the bucket: refused as the bucket being unavailable.
    fn blob_write<T>(
        &self,
        f: impl FnOnce(&mut State) -> Result<T, BlobError>,
    ) -> Result<T, BlobError> {
        self.write_or(blob_unavailable, f)
    }

    fn write_or<T, E>(
        &self,
        outage: fn() -> E,
        f: impl FnOnce(&mut State) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut s = self.lock();
        if s.passing_writes > 0 {
            s.passing_writes -= 1;
        } else if s.failing_writes > 0 {
            s.failing_writes -= 1;
            return Err(outage());
        }
        let out = f(&mut s)?;
        s.writes += 1;
        Ok(out)
    }

    /// The next `n` writes (to the table or the bucket) fail as unavailable and change
    /// nothing.
    pub fn fail_next_writes(&self, n: usize) {
        self.fail_writes_after(0, n);
    }

    /// The next `ok` writes succeed, then `n` fail as unavailable: a use case broken after
    /// its `ok`-th write (a write refused by a condition counts too: it reached storage).
    pub fn fail_writes_after(&self, ok: usize, n: usize) {
        let mut s = self.lock();
        s.passing_writes = if n == 0 { 0 } else { ok };
        s.failing_writes = n;
    }

    /// How many of the failures asked for are still to come (none: every one happened).
    pub fn pending_failures(&self) -> usize {
        self.lock().failing_writes
    }

    /// How many writes succeeded so far.
    pub fn writes(&self) -> usize {
        self.lock().writes
    }

    /// Every job, for assertions.
    pub fn jobs(&self) -> Vec<PublishJob> {
        self.lock().jobs.values().cloned().collect()
    }

    /// Puts a user and claims its open_id (what a first sign-in does, without tokens).
    pub fn put_user(&self, user: User) {
        let mut s = self.lock();
        s.identities.entry(user.open_id.clone()).or_insert(user.id);
        s.users.insert(user.id, user);
    }

    /// Puts a video as it is, e.g. one already UPLOADED.
    pub fn put_video(&self, video: Video) {
        self.lock()
            .videos
            .insert((video.owner, video.id), (video, None));
    }

    /// How many records the user has, whatever their kind or TTL (profile, tokens, sessions,
    /// videos, jobs, publish lookups, idempotency keys, rate windows), plus whether the
    /// identity of `open_id` still names the user: what a deletion must leave at zero.
    pub fn records_of(&self, user: UserId) -> usize {
        let s = self.lock();
        usize::from(s.users.contains_key(&user))
            + usize::from(s.tokens.contains_key(&user))
            + s.identities.values().filter(|u| **u == user).count()
            + s.sessions.keys().filter(|(u, _)| *u == user).count()
            + s.videos.keys().filter(|(u, _)| *u == user).count()
            + s.jobs.keys().filter(|(u, _)| *u == user).count()
            + s.lookups.keys().filter(|(u, _)| *u == user).count()
            + s.idempotency.keys().filter(|(u, _)| *u == user).count()
            + s.rates.keys().filter(|(u, _)| *u == user).count()
    }
}

fn live(expires: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    expires.is_none_or(|e| e > now)
}
