//! A short memory of sessions this instance recently found alive, so an authenticated
//! request needs no session read of its own (the benchmark showed that read at about a third
//! of a request's cost, and twice the storage latency).
//!
//! The price is bounded and stated: a session ended on *another* instance may still be
//! honoured here for up to `POSTIQO_SESSION_CACHE_MS` (default 2 s, at most 5 s). Sessions
//! ended on this instance (logout, a reused refresh token, disconnect, account deletion,
//! TikTok removing access) are forgotten at once.
//!
//! "At once" must hold against requests already in flight: one that read the session just
//! before it was deleted must not put it back afterwards. So a reader takes a [`ReadTicket`]
//! before its storage read, every ending bumps a counter and leaves a tombstone carrying it,
//! and [`SessionCache::remember`] refuses a ticket older than a tombstone of that session (or
//! of its user). Tombstones are kept [`TOMBSTONE_KEEP`]; pruning one raises a floor below
//! which every ticket is refused, so a read slower than that is simply not cached.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use postiqo_domain::{SessionId, UserId};

/// More live sessions than this are not worth remembering; the map starts over.
const MAX_ENTRIES: usize = 50_000;
/// How long an ending is remembered; far longer than a session read takes.
const TOMBSTONE_KEEP: Duration = Duration::from_secs(30);

/// Taken before reading a session from storage; [`SessionCache::remember`] needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadTicket(u64);

#[derive(Default)]
struct Inner {
    live: HashMap<(UserId, SessionId), Instant>,
    /// Bumped by every ending.
    epoch: u64,
    ended: HashMap<(UserId, SessionId), (u64, Instant)>,
    ended_users: HashMap<UserId, (u64, Instant)>,
    /// Tickets below this predate a tombstone no longer kept.
    floor: u64,
}

impl Inner {
    fn end(&mut self) -> (u64, Instant) {
        self.epoch += 1;
        let now = Instant::now();
        self.prune(now);
        (self.epoch, now)
    }

    fn prune(&mut self, now: Instant) {
        let mut floor = self.floor;
        let mut keep = |(epoch, at): &(u64, Instant)| {
            let kept = now.duration_since(*at) < TOMBSTONE_KEEP;
            if !kept {
                floor = floor.max(*epoch);
            }
            kept
        };
        self.ended.retain(|_, t| keep(t));
        self.ended_users.retain(|_, t| keep(t));
        if self.ended.len() + self.ended_users.len() > MAX_ENTRIES {
            floor = self.epoch;
            self.ended.clear();
            self.ended_users.clear();
        }
        self.floor = floor;
    }

    fn ended_after(&self, ticket: ReadTicket, user: UserId, session: &SessionId) -> bool {
        let after = |t: Option<&(u64, Instant)>| t.is_some_and(|(epoch, _)| *epoch > ticket.0);
        ticket.0 < self.floor
            || after(self.ended.get(&(user, session.clone())))
            || after(self.ended_users.get(&user))
    }
}

pub struct SessionCache {
    ttl: Duration,
    inner: Mutex<Inner>,
}

impl SessionCache {
    /// `ttl` zero disables the cache: every request reads its session.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn is_live(&self, user: UserId, session: &SessionId) -> bool {
        if self.ttl.is_zero() {
            return false;
        }
        let Ok(inner) = self.inner.lock() else {
            return false;
        };
        inner
            .live
            .get(&(user, session.clone()))
            .is_some_and(|seen| seen.elapsed() < self.ttl)
    }

    /// Take before reading a session from storage.
    pub fn ticket(&self) -> ReadTicket {
        ReadTicket(self.inner.lock().map_or(0, |i| i.epoch))
    }

    /// Remembers a session a read found alive, unless it was ended on this instance after the
    /// read's ticket was taken.
    pub fn remember(&self, ticket: ReadTicket, user: UserId, session: &SessionId) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.ended_after(ticket, user, session) {
            return;
        }
        if inner.live.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            inner.live.retain(|_, seen| seen.elapsed() < ttl);
            if inner.live.len() >= MAX_ENTRIES {
                inner.live.clear();
            }
        }
        inner.live.insert((user, session.clone()), Instant::now());
    }

    /// The session was ended: forget it, and refuse it to reads already under way.
    pub fn forget(&self, user: UserId, session: &SessionId) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.live.remove(&(user, session.clone()));
            let tombstone = inner.end();
            inner.ended.insert((user, session.clone()), tombstone);
        }
    }

    /// Every session of the user was ended.
    pub fn forget_user(&self, user: UserId) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.live.retain(|(u, _), _| *u != user);
            let tombstone = inner.end();
            inner.ended_users.insert(user, tombstone);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (UserId, SessionId, SessionId) {
        (
            UserId::new_v7(1, [1; 10]),
            SessionId::from_random([1; 16]),
            SessionId::from_random([2; 16]),
        )
    }

    #[test]
    fn remembers_briefly_and_forgets_on_demand() {
        let cache = SessionCache::new(Duration::from_millis(50));
        let (user, s1, s2) = ids();
        assert!(!cache.is_live(user, &s1));
        cache.remember(cache.ticket(), user, &s1);
        cache.remember(cache.ticket(), user, &s2);
        assert!(cache.is_live(user, &s1));
        cache.forget(user, &s1);
        assert!(!cache.is_live(user, &s1));
        assert!(cache.is_live(user, &s2));
        cache.forget_user(user);
        assert!(!cache.is_live(user, &s2));
        cache.remember(cache.ticket(), user, &s1);
        std::thread::sleep(Duration::from_millis(60));
        assert!(!cache.is_live(user, &s1), "entries expire");
    }

    #[test]
    fn zero_ttl_disables_it() {
        let cache = SessionCache::new(Duration::ZERO);
        let (user, s, _) = ids();
        cache.remember(cache.ticket(), user, &s);
        assert!(!cache.is_live(user, &s));
    }

    #[test]
    fn a_read_from_before_the_ending_cannot_bring_the_session_back() {
        let cache = SessionCache::new(Duration::from_secs(5));
        let (user, s1, s2) = ids();
        // A request takes its ticket and reads the session (alive)...
        let before = cache.ticket();
        // ...the session is logged out meanwhile...
        cache.forget(user, &s1);
        // ...and the request's answer from storage arrives: it must not be cached.
        cache.remember(before, user, &s1);
        assert!(!cache.is_live(user, &s1));
        // Another session read with the same ticket is unaffected.
        cache.remember(before, user, &s2);
        assert!(cache.is_live(user, &s2));
        // A read that started after the ending saw storage without the session; one that
        // finds it alive again (a new sign-in cannot reuse an id, but say it did) is cached.
        cache.remember(cache.ticket(), user, &s1);
        assert!(cache.is_live(user, &s1));
    }

    #[test]
    fn ending_every_session_of_a_user_refuses_their_reads_in_flight() {
        let cache = SessionCache::new(Duration::from_secs(5));
        let (user, s1, s2) = ids();
        let other = UserId::new_v7(2, [2; 10]);
        let before = cache.ticket();
        cache.forget_user(user);
        cache.remember(before, user, &s1);
        cache.remember(before, user, &s2);
        assert!(!cache.is_live(user, &s1));
        assert!(!cache.is_live(user, &s2));
        cache.remember(before, other, &s1);
        assert!(cache.is_live(other, &s1), "other users are unaffected");
    }

    #[test]
    fn tickets_older_than_a_pruned_tombstone_are_refused() {
        let cache = SessionCache::new(Duration::from_secs(5));
        let (user, s1, s2) = ids();
        let ancient = cache.ticket();
        cache.forget(user, &s1);
        {
            let mut inner = cache.inner.lock().expect("lock");
            // Age the tombstone past its keep, as if the read had hung for half a minute.
            let old = Instant::now()
                .checked_sub(TOMBSTONE_KEEP + Duration::from_secs(1))
                .expect("monotonic clock past the keep");
            for t in inner.ended.values_mut() {
                t.1 = old;
            }
        }
        // The next ending prunes it and raises the floor.
        let other = UserId::new_v7(2, [2; 10]);
        cache.forget(other, &s2);
        assert!(cache.inner.lock().expect("lock").ended.len() == 1);
        cache.remember(ancient, user, &s1);
        assert!(!cache.is_live(user, &s1), "refused by the floor");
        cache.remember(cache.ticket(), user, &s1);
        assert!(cache.is_live(user, &s1));
    }
}
