//! Request rate limits per client IP and per user on the endpoints that cost the most or
//! attract abuse: sign-in, video creation, publishing.
//!
//! Counters live in this process (governor's keyed GCRA limiters): an instance protects
//! itself and the limits scale with the number of instances. TikTok's own per-user limits,
//! which must hold across instances, are enforced separately in DynamoDB (see
//! `services::publishing::creator`).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use postiqo_domain::UserId;

use crate::config::RateLimitSettings;
use crate::problem::{ApiError, ErrorCode};

/// What is being limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Login, callback, token exchange and refresh, per client IP.
    SignIn,
    /// `POST /v1/videos`.
    CreateVideo,
    /// `POST /v1/videos/{id}/publish`.
    Publish,
}

type Keyed<K> = DefaultKeyedRateLimiter<K>;

pub struct Limits {
    enabled: bool,
    sign_in_ip: Keyed<IpAddr>,
    create_user: Keyed<UserId>,
    create_ip: Keyed<IpAddr>,
    publish_user: Keyed<UserId>,
    publish_ip: Keyed<IpAddr>,
    clock: DefaultClock,
    checks: AtomicU64,
}

fn quota(per_minute: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl Limits {
    pub fn new(s: &RateLimitSettings) -> Self {
        Self {
            enabled: s.enabled,
            sign_in_ip: RateLimiter::keyed(quota(s.sign_in_per_ip)),
            create_user: RateLimiter::keyed(quota(s.create_per_user)),
            create_ip: RateLimiter::keyed(quota(s.per_ip)),
            publish_user: RateLimiter::keyed(quota(s.publish_per_user)),
            publish_ip: RateLimiter::keyed(quota(s.per_ip)),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    fn verdict<K: std::hash::Hash + Eq + Clone>(
        &self,
        limiter: &Keyed<K>,
        key: &K,
    ) -> Result<(), ApiError> {
        match limiter.check_key(key) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Err(ApiError::new(ErrorCode::RateLimited)
                    .detail("Too many requests from this client; slow down.")
                    .retry_after(wait.as_secs().max(1)))
            }
        }
    }

    /// Checks (and counts) one request. `user` is `None` before sign-in.
    pub fn check(
        &self,
        limit: Limit,
        ip: Option<IpAddr>,
        user: Option<UserId>,
    ) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        // Forget idle keys now and then, so memory follows active clients, not all clients.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.sign_in_ip.retain_recent();
            self.create_user.retain_recent();
            self.create_ip.retain_recent();
            self.publish_user.retain_recent();
            self.publish_ip.retain_recent();
        }
        match limit {
            Limit::SignIn => ip.map_or(Ok(()), |ip| self.verdict(&self.sign_in_ip, &ip)),
            Limit::CreateVideo => {
                if let Some(u) = user {
                    self.verdict(&self.create_user, &u)?;
                }
                ip.map_or(Ok(()), |ip| self.verdict(&self.create_ip, &ip))
            }
            Limit::Publish => {
                if let Some(u) = user {
                    self.verdict(&self.publish_user, &u)?;
                }
                ip.map_or(Ok(()), |ip| self.verdict(&self.publish_ip, &ip))
            }
        }
    }
}

/// The client's address as our socket sees it (a proxy's, behind one).
pub fn client_ip(req: &actix_web::HttpRequest) -> Option<IpAddr> {
    req.peer_addr().map(|a| a.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(enabled: bool) -> RateLimitSettings {
        RateLimitSettings {
            enabled,
            sign_in_per_ip: 2,
            create_per_user: 3,
            publish_per_user: 1,
            per_ip: 100,
        }
    }

    #[test]
    fn limits_per_key_and_say_when_to_retry() {
        let l = Limits::new(&settings(true));
        let ip: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        assert!(l.check(Limit::SignIn, Some(ip), None).is_ok());
        assert!(l.check(Limit::SignIn, Some(ip), None).is_ok());
        let err = l
            .check(Limit::SignIn, Some(ip), None)
            .expect_err("third is over");
        assert_eq!(err.code, ErrorCode::RateLimited);
        assert!(err.retry_after.unwrap_or(0) >= 1);
        assert!(
            l.check(Limit::SignIn, Some(other), None).is_ok(),
            "other clients unaffected"
        );

        let u = UserId::new_v7(1, [1; 10]);
        assert!(l.check(Limit::Publish, Some(ip), Some(u)).is_ok());
        assert!(
            l.check(Limit::Publish, Some(other), Some(u)).is_err(),
            "per user, whatever the IP"
        );
    }

    #[test]
    fn can_be_switched_off() {
        let l = Limits::new(&settings(false));
        let ip: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..10 {
            assert!(l.check(Limit::SignIn, Some(ip), None).is_ok());
        }
    }
}
