//! Per-token sliding one-minute windows (fact sheet §5.1). Every attempt is recorded, also
//! rejected ones, because the stats exist to show whether a client stayed within budget.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use serde::Serialize;

const WINDOW: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    UserInfo,
    CreatorInfo,
    VideoInit,
    InboxInit,
    StatusFetch,
    Cancel,
}

impl Endpoint {
    /// Documented limits; cancel has none documented (UNCONFIRMED), so none is applied.
    fn limit(self) -> Option<usize> {
        match self {
            Self::UserInfo => Some(600),
            Self::CreatorInfo => Some(20),
            Self::VideoInit | Self::InboxInit => Some(6),
            Self::StatusFetch => Some(30),
            Self::Cancel => None,
        }
    }
}

#[derive(Debug, Default)]
struct Window {
    /// (time, accepted)
    hits: VecDeque<(Instant, bool)>,
    max_in_window: usize,
    total: u64,
    rejected: u64,
}

#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    windows: HashMap<(String, Endpoint), Window>,
}

/// Stats for one token on one endpoint.
#[derive(Debug, Serialize)]
pub struct RateStats {
    pub token: String,
    pub endpoint: Endpoint,
    /// Attempts (accepted or not) in the last 60 s.
    pub last_minute: usize,
    /// Highest number of attempts seen in any 60 s window.
    pub max_in_any_60s: usize,
    pub total: u64,
    pub rejected: u64,
}

impl RateLimiter {
    /// Records an attempt; `false` means answer 429.
    pub(crate) fn attempt(&mut self, token: &str, endpoint: Endpoint, now: Instant) -> bool {
        let w = self
            .windows
            .entry((token.to_owned(), endpoint))
            .or_default();
        prune(w, now);
        let accepted_in_window = w.hits.iter().filter(|(_, ok)| *ok).count();
        let accepted = endpoint
            .limit()
            .is_none_or(|limit| accepted_in_window < limit);
        w.hits.push_back((now, accepted));
        w.max_in_window = w.max_in_window.max(w.hits.len());
        w.total += 1;
        if !accepted {
            w.rejected += 1;
        }
        accepted
    }

    pub(crate) fn stats(&mut self, now: Instant) -> Vec<RateStats> {
        let mut out: Vec<RateStats> = self
            .windows
            .iter_mut()
            .map(|((token, endpoint), w)| {
                prune(w, now);
                RateStats {
                    token: token.clone(),
                    endpoint: *endpoint,
                    last_minute: w.hits.len(),
                    max_in_any_60s: w.max_in_window,
                    total: w.total,
                    rejected: w.rejected,
                }
            })
            .collect();
        out.sort_by(|a, b| (a.endpoint, &a.token).cmp(&(b.endpoint, &b.token)));
        out
    }
}

fn prune(w: &mut Window, now: Instant) {
    while w
        .hits
        .front()
        .is_some_and(|(t, _)| now.duration_since(*t) >= WINDOW)
    {
        w.hits.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_slides() {
        let mut rl = RateLimiter::default();
        let t0 = Instant::now();
        for i in 0..6 {
            assert!(rl.attempt("a", Endpoint::VideoInit, t0 + Duration::from_secs(i)));
        }
        assert!(!rl.attempt("a", Endpoint::VideoInit, t0 + Duration::from_secs(10)));
        // Another token has its own budget.
        assert!(rl.attempt("b", Endpoint::VideoInit, t0 + Duration::from_secs(10)));
        // The first hit leaves the window after 60 s.
        assert!(rl.attempt("a", Endpoint::VideoInit, t0 + Duration::from_secs(60)));
        let stats = rl.stats(t0 + Duration::from_secs(60));
        let a = stats.iter().find(|s| s.token == "a").expect("stats for a");
        assert_eq!(a.max_in_any_60s, 7);
        assert_eq!(a.rejected, 1);
        assert_eq!(a.total, 8);
    }
}
