//! Request rate limits per client address, per user and per session on the endpoints that
//! cost the most or attract abuse: sign-in, refresh, video creation, publishing, profile sync
//! and export.
//!
//! Counters live in this process (governor's keyed GCRA limiters): an instance protects
//! itself and the limits scale with the number of instances. TikTok's own per-user limits,
//! which must hold across instances, are enforced separately in DynamoDB (see
//! `services::publishing::creator`).
//!
//! The client address is the one `middleware::client_addr` found (the forwarded one behind a
//! trusted proxy). IPv6 clients are counted per /64: one subscriber usually holds a whole /64
//! and can pick any address in it.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::HttpMessage;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use postiqo_domain::{SessionId, UserId};

use crate::config::RateLimitSettings;
use crate::middleware::ClientAddr;
use crate::problem::{ApiError, ErrorCode};

/// What is being limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Login, callback and token exchange, per client address.
    SignIn,
    /// `POST /v1/auth/refresh`: per session, and per client address for the generous
    /// `per_ip` budget (a flood of tokens naming no session).
    Refresh,
    /// `POST /v1/videos`.
    CreateVideo,
    /// `POST /v1/videos/{id}/publish`.
    Publish,
    /// `POST /v1/me/sync` (a TikTok call each), per user.
    Sync,
    /// `GET /v1/me/export` (reads every record of the account), per user.
    Export,
}

type Keyed<K> = DefaultKeyedRateLimiter<K>;

pub struct Limits {
    enabled: bool,
    sign_in_ip: Keyed<IpAddr>,
    refresh_session: Keyed<SessionId>,
    refresh_ip: Keyed<IpAddr>,
    create_user: Keyed<UserId>,
    create_ip: Keyed<IpAddr>,
    publish_user: Keyed<UserId>,
    publish_ip: Keyed<IpAddr>,
    sync_user: Keyed<UserId>,
    export_user: Keyed<UserId>,
    clock: DefaultClock,
    checks: AtomicU64,
}

fn quota(per_minute: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN))
}

/// The counter an address falls into: itself for IPv4, its /64 for IPv6.
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
    }
}

impl Limits {
    pub fn new(s: &RateLimitSettings) -> Self {
        Self {
            enabled: s.enabled,
            sign_in_ip: RateLimiter::keyed(quota(s.sign_in_per_ip)),
            refresh_session: RateLimiter::keyed(quota(s.refresh_per_session)),
            refresh_ip: RateLimiter::keyed(quota(s.per_ip)),
            create_user: RateLimiter::keyed(quota(s.create_per_user)),
            create_ip: RateLimiter::keyed(quota(s.per_ip)),
            publish_user: RateLimiter::keyed(quota(s.publish_per_user)),
            publish_ip: RateLimiter::keyed(quota(s.per_ip)),
            sync_user: RateLimiter::keyed(quota(s.account_per_user)),
            export_user: RateLimiter::keyed(quota(s.account_per_user)),
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

    fn by_ip(&self, limiter: &Keyed<IpAddr>, ip: Option<IpAddr>) -> Result<(), ApiError> {
        ip.map_or(Ok(()), |ip| self.verdict(limiter, &limit_key(ip)))
    }

    fn by_user(&self, limiter: &Keyed<UserId>, user: Option<UserId>) -> Result<(), ApiError> {
        user.map_or(Ok(()), |u| self.verdict(limiter, &u))
    }

    /// Forget idle keys now and then, so memory follows active clients, not all clients.
    fn tidy(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.sign_in_ip.retain_recent();
            self.refresh_session.retain_recent();
            self.refresh_ip.retain_recent();
            self.create_user.retain_recent();
            self.create_ip.retain_recent();
            self.publish_user.retain_recent();
            self.publish_ip.retain_recent();
            self.sync_user.retain_recent();
            self.export_user.retain_recent();
        }
    }

    /// Checks (and counts) one request. `user` is `None` before sign-in.
    pub fn check(
        &self,
        limit: Limit,
        ip: Option<IpAddr>,
        user: Option<UserId>,
    ) -> Result<(), ApiError> {
        self.decide(limit, ip, user)
            .inspect_err(|_| crate::metrics::rate_limit_refused(limit))
    }

    fn decide(
        &self,
        limit: Limit,
        ip: Option<IpAddr>,
        user: Option<UserId>,
    ) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        self.tidy();
        match limit {
            Limit::SignIn => self.by_ip(&self.sign_in_ip, ip),
            Limit::Refresh => self.by_ip(&self.refresh_ip, ip),
            Limit::CreateVideo => {
                self.by_user(&self.create_user, user)?;
                self.by_ip(&self.create_ip, ip)
            }
            Limit::Publish => {
                self.by_user(&self.publish_user, user)?;
                self.by_ip(&self.publish_ip, ip)
            }
            Limit::Sync => self.by_user(&self.sync_user, user),
            Limit::Export => self.by_user(&self.export_user, user),
        }
    }

    /// A refresh of `session`, counted against that session alone: one client refreshing in
    /// a loop never costs another session its refresh, wherever either comes from. Checked
    /// after [`Limit::Refresh`], with the session id the presented token names (not yet
    /// verified: naming another session needs its id, which only its holder sees).
    pub fn check_refresh_session(&self, session: &SessionId) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        self.verdict(&self.refresh_session, session)
    }
}

/// The client's address: the socket peer, or the forwarded address when the peer is a trusted
/// proxy (see `middleware::client_addr`).
pub fn client_ip(req: &actix_web::HttpRequest) -> Option<IpAddr> {
    let found = req.extensions().get::<ClientAddr>().map(|c| c.0);
    found.or_else(|| req.peer_addr().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(enabled: bool) -> RateLimitSettings {
        RateLimitSettings {
            enabled,
            sign_in_per_ip: 2,
            refresh_per_session: 2,
            create_per_user: 3,
            publish_per_user: 1,
            per_ip: 100,
            account_per_user: 1,
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
    fn ipv6_clients_count_per_64() {
        let l = Limits::new(&settings(true));
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let same_64: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:fffe".parse().expect("ip");
        let next_64: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert!(l.check(Limit::SignIn, Some(a), None).is_ok());
        assert!(l.check(Limit::SignIn, Some(same_64), None).is_ok());
        assert!(
            l.check(Limit::SignIn, Some(a), None).is_err(),
            "a /64 is one client"
        );
        assert!(l.check(Limit::SignIn, Some(next_64), None).is_ok());
        assert_eq!(
            limit_key(same_64),
            "2001:db8:1:2::".parse::<IpAddr>().expect("ip")
        );
        let v4: IpAddr = [203, 0, 113, 7].into();
        assert_eq!(limit_key(v4), v4, "IPv4 addresses are their own key");
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().expect("ip");
        assert_eq!(limit_key(mapped), v4);
    }

    #[test]
    fn refreshes_count_per_session_and_account_calls_per_user() {
        let l = Limits::new(&settings(true));
        let s1 = SessionId::from_random([1; 16]);
        let s2 = SessionId::from_random([2; 16]);
        assert!(l.check_refresh_session(&s1).is_ok());
        assert!(l.check_refresh_session(&s1).is_ok());
        assert!(l.check_refresh_session(&s1).is_err());
        assert!(
            l.check_refresh_session(&s2).is_ok(),
            "another session is unaffected"
        );
        let ip: IpAddr = [127, 0, 0, 1].into();
        while l.check(Limit::SignIn, Some(ip), None).is_ok() {}
        assert!(
            l.check(Limit::Refresh, Some(ip), None).is_ok(),
            "sign-ins do not spend the refresh budget"
        );

        let u = UserId::new_v7(1, [1; 10]);
        let v = UserId::new_v7(2, [2; 10]);
        assert!(l.check(Limit::Sync, Some(ip), Some(u)).is_ok());
        assert!(l.check(Limit::Sync, Some(ip), Some(u)).is_err());
        assert!(
            l.check(Limit::Export, Some(ip), Some(u)).is_ok(),
            "export has its own budget"
        );
        assert!(l.check(Limit::Export, Some(ip), Some(u)).is_err());
        assert!(l.check(Limit::Sync, Some(ip), Some(v)).is_ok());
        assert!(l.check(Limit::Export, Some(ip), Some(v)).is_ok());
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
