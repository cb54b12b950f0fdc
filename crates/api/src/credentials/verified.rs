//! Access tokens this instance has already verified. A client sends the same token with every
//! request for its whole lifetime; checking its signature and claims again each time was half
//! of what Postiqo's own code added to a `GET /v1/videos/{id}` (docs/benchmarks.md §9). A
//! token seen before now costs one map look-up.
//!
//! Why this accepts exactly what a full verification would:
//! - only tokens a full verification accepted are remembered;
//! - the key is the whole token, so a look-up compares every byte, signature included;
//! - the signing keys cannot change while the process runs (they come from the environment);
//! - `exp` and `nbf` are checked again on every use, with the same leeway, against the same
//!   clock `jsonwebtoken` reads.
//!
//! Whether the session is still alive is not decided here: the session check that follows
//! every verification decides that, cached token or not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use postiqo_domain::UserId;

use super::jwt::AccessClaims;

/// Distinct live tokens remembered at most (a few hundred bytes each). Past it, the expired
/// ones go, and if that is not enough, all of them: a busier instance verifies more often,
/// nothing else changes.
pub const CAPACITY: usize = 8_192;

pub struct VerifiedTokens {
    capacity: usize,
    /// Seconds, as in `jsonwebtoken::Validation::leeway`.
    leeway: i64,
    tokens: Mutex<HashMap<Box<str>, Verified>>,
}

/// What a full verification of one token found.
#[derive(Clone)]
pub struct Verified {
    pub user: UserId,
    pub claims: Arc<AccessClaims>,
}

impl Verified {
    /// The same window `jsonwebtoken` validates: not expired more than `leeway` ago, and not
    /// before its `nbf` by more than `leeway`.
    fn is_current(&self, now: i64, leeway: i64) -> bool {
        self.claims.exp >= now - leeway && self.claims.nbf <= now + leeway
    }
}

impl VerifiedTokens {
    pub fn new(capacity: usize, leeway: u64) -> Self {
        Self {
            capacity,
            leeway: i64::try_from(leeway).unwrap_or(i64::MAX / 2),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// The verification remembered for exactly this token, if it is still within its window
    /// at `now` (seconds since the epoch). A token past its window is forgotten.
    pub fn get(&self, token: &str, now: i64) -> Option<Verified> {
        let mut tokens = self.tokens.lock().ok()?;
        let found = tokens.get(token)?;
        if found.is_current(now, self.leeway) {
            return Some(found.clone());
        }
        tokens.remove(token);
        None
    }

    /// Remembers a token a full verification has just accepted.
    pub fn insert(&self, token: &str, verified: Verified, now: i64) {
        let Ok(mut tokens) = self.tokens.lock() else {
            return;
        };
        if tokens.len() >= self.capacity {
            let leeway = self.leeway;
            tokens.retain(|_, v| v.is_current(now, leeway));
            if tokens.len() >= self.capacity {
                tokens.clear();
            }
        }
        tokens.insert(token.into(), verified);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.tokens.lock().map_or(0, |t| t.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(nbf: i64, exp: i64) -> Verified {
        Verified {
            user: UserId::new_v7(1, [1; 10]),
            claims: Arc::new(AccessClaims {
                iss: "i".into(),
                aud: "a".into(),
                sub: "s".into(),
                sid: "sid".into(),
                iat: nbf,
                nbf,
                exp,
            }),
        }
    }

    #[test]
    fn only_the_exact_token_is_found() {
        let cache = VerifiedTokens::new(8, 30);
        cache.insert("aaa.bbb.ccc", verified(1_000, 2_000), 1_000);
        assert!(cache.get("aaa.bbb.ccc", 1_500).is_some());
        assert!(cache.get("aaa.bbb.ccd", 1_500).is_none());
        assert!(cache.get("aaa.bbb.cc", 1_500).is_none());
        assert!(cache.get("aaa.bbb.ccc ", 1_500).is_none());
    }

    #[test]
    fn the_window_is_checked_on_every_use_with_the_leeway() {
        let cache = VerifiedTokens::new(8, 30);
        cache.insert("t", verified(1_000, 2_000), 1_000);
        assert!(cache.get("t", 970).is_some(), "nbf − leeway is inside");
        assert!(
            cache.get("t", 969).is_none(),
            "before nbf − leeway is outside"
        );
        // A token outside its window is forgotten; put it back.
        cache.insert("t", verified(1_000, 2_000), 1_000);
        assert!(cache.get("t", 2_030).is_some(), "exp + leeway is inside");
        assert!(
            cache.get("t", 2_031).is_none(),
            "after exp + leeway is outside"
        );
        assert_eq!(cache.len(), 0, "an expired token is forgotten");
    }

    #[test]
    fn a_full_cache_drops_expired_tokens_first_then_everything() {
        let cache = VerifiedTokens::new(3, 0);
        cache.insert("old", verified(0, 100), 0);
        cache.insert("live1", verified(0, 1_000), 0);
        cache.insert("live2", verified(0, 1_000), 0);
        cache.insert("new", verified(0, 1_000), 500);
        assert!(cache.get("old", 50).is_none(), "the expired one made room");
        assert!(cache.get("live1", 500).is_some());
        assert!(cache.get("new", 500).is_some());
        assert_eq!(cache.len(), 3);
        cache.insert("newer", verified(0, 1_000), 500);
        assert_eq!(cache.len(), 1, "nothing had expired: it started over");
        assert!(cache.get("newer", 500).is_some());
    }
}
