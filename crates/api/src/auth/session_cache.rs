//! A short memory of sessions this instance recently found alive, so an authenticated
//! request needs no session read of its own (the benchmark showed that read at about a third
//! of a request's cost, and twice the storage latency).
//!
//! The price is bounded and stated: a session ended on *another* instance may still be
//! honoured here for up to `POSTIQO_SESSION_CACHE_MS` (default 2 s). Sessions ended on this
//! instance (logout, a reused refresh token, disconnect, account deletion, TikTok removing
//! access) are forgotten at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use postiqo_domain::{SessionId, UserId};

/// More live sessions than this are not worth remembering; the map starts over.
const MAX_ENTRIES: usize = 50_000;

pub struct SessionCache {
    ttl: Duration,
    entries: Mutex<HashMap<(UserId, SessionId), Instant>>,
}

impl SessionCache {
    /// `ttl` zero disables the cache: every request reads its session.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_live(&self, user: UserId, session: &SessionId) -> bool {
        if self.ttl.is_zero() {
            return false;
        }
        let Ok(entries) = self.entries.lock() else {
            return false;
        };
        entries
            .get(&(user, session.clone()))
            .is_some_and(|seen| seen.elapsed() < self.ttl)
    }

    pub fn remember(&self, user: UserId, session: &SessionId) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                let ttl = self.ttl;
                entries.retain(|_, seen| seen.elapsed() < ttl);
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert((user, session.clone()), Instant::now());
        }
    }

    pub fn forget(&self, user: UserId, session: &SessionId) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&(user, session.clone()));
        }
    }

    pub fn forget_user(&self, user: UserId) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|(u, _), _| *u != user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_briefly_and_forgets_on_demand() {
        let cache = SessionCache::new(Duration::from_millis(50));
        let user = UserId::new_v7(1, [1; 10]);
        let s1 = SessionId::from_random([1; 16]);
        let s2 = SessionId::from_random([2; 16]);
        assert!(!cache.is_live(user, &s1));
        cache.remember(user, &s1);
        cache.remember(user, &s2);
        assert!(cache.is_live(user, &s1));
        cache.forget(user, &s1);
        assert!(!cache.is_live(user, &s1));
        assert!(cache.is_live(user, &s2));
        cache.forget_user(user);
        assert!(!cache.is_live(user, &s2));
        cache.remember(user, &s1);
        std::thread::sleep(Duration::from_millis(60));
        assert!(!cache.is_live(user, &s1), "entries expire");
    }

    #[test]
    fn zero_ttl_disables_it() {
        let cache = SessionCache::new(Duration::ZERO);
        let user = UserId::new_v7(1, [1; 10]);
        let s = SessionId::from_random([1; 16]);
        cache.remember(user, &s);
        assert!(!cache.is_live(user, &s));
    }
}
