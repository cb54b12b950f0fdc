//! The SPA's cookies. Access and refresh tokens are HttpOnly (scripts never see them); the
//! refresh cookie is scoped to /v1/auth so it travels only to the endpoints that use it.
//!
//! Over https their names carry the prefixes browsers enforce: `__Host-` (Secure, `Path=/`, no
//! `Domain`) for the access cookie and `__Secure-` for the refresh cookie, which keeps its
//! narrow path. A page on a sibling subdomain, or any plain-http page, can then not plant a
//! session cookie of its choosing. A plain-http localhost API keeps the bare names (a browser
//! refuses prefixed cookies that are not Secure).

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite as CookieSameSite};

use crate::config::{SameSite, SessionSettings};

pub const ACCESS: &str = "postiqo_access";
pub const REFRESH: &str = "postiqo_refresh";
const HOST_ACCESS: &str = "__Host-postiqo_access";
const SECURE_REFRESH: &str = "__Secure-postiqo_refresh";
/// Binds an OAuth `state` to the browser that started the sign-in.
pub const OAUTH_BINDING: &str = "postiqo_oauth";

const REFRESH_PATH: &str = "/v1/auth";
const BINDING_PATH: &str = "/v1/auth/tiktok";

/// The access cookie's name for these settings.
pub fn access_name(s: &SessionSettings) -> &'static str {
    if s.secure_cookies {
        HOST_ACCESS
    } else {
        ACCESS
    }
}

/// The refresh cookie's name for these settings.
pub fn refresh_name(s: &SessionSettings) -> &'static str {
    if s.secure_cookies {
        SECURE_REFRESH
    } else {
        REFRESH
    }
}

fn same_site(s: SameSite) -> CookieSameSite {
    match s {
        SameSite::Lax => CookieSameSite::Lax,
        SameSite::Strict => CookieSameSite::Strict,
        SameSite::None => CookieSameSite::None,
    }
}

fn build(
    name: &'static str,
    value: String,
    path: &'static str,
    max_age_secs: i64,
    s: &SessionSettings,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .secure(s.secure_cookies)
        .same_site(same_site(s.same_site))
        .max_age(CookieDuration::seconds(max_age_secs))
        .finish()
}

pub fn access(token: String, ttl_secs: i64, s: &SessionSettings) -> Cookie<'static> {
    build(access_name(s), token, "/", ttl_secs, s)
}

pub fn refresh(token: String, s: &SessionSettings) -> Cookie<'static> {
    build(
        refresh_name(s),
        token,
        REFRESH_PATH,
        i64::try_from(s.ttl.as_secs()).unwrap_or(i64::MAX),
        s,
    )
}

/// Lax at least: the callback is a top-level navigation coming back from TikTok, which a
/// Strict cookie would not accompany.
pub fn oauth_binding(value: String, s: &SessionSettings) -> Cookie<'static> {
    let mut c = build(OAUTH_BINDING, value, BINDING_PATH, 600, s);
    if s.same_site == SameSite::Strict {
        c.set_same_site(CookieSameSite::Lax);
    }
    c
}

/// Expired copies that make the browser drop the session cookies.
pub fn cleared(s: &SessionSettings) -> [Cookie<'static>; 2] {
    [
        build(access_name(s), String::new(), "/", 0, s),
        build(refresh_name(s), String::new(), REFRESH_PATH, 0, s),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings(secure: bool) -> SessionSettings {
        SessionSettings {
            ttl: Duration::from_secs(3600),
            same_site: SameSite::Lax,
            secure_cookies: secure,
            cache_ttl: Duration::ZERO,
            refresh_reuse_interval: Duration::ZERO,
        }
    }

    #[test]
    fn https_cookies_carry_the_prefixes_browsers_enforce() {
        let s = settings(true);
        let a = access("t".into(), 900, &s);
        assert_eq!(a.name(), "__Host-postiqo_access");
        // What `__Host-` demands: Secure, Path=/, no Domain.
        assert_eq!(a.secure(), Some(true));
        assert_eq!(a.path(), Some("/"));
        assert_eq!(a.domain(), None);
        let r = refresh("t".into(), &s);
        assert_eq!(r.name(), "__Secure-postiqo_refresh");
        assert_eq!(r.secure(), Some(true));
        assert_eq!(r.path(), Some("/v1/auth"));
        let names: Vec<_> = cleared(&s).iter().map(|c| c.name().to_owned()).collect();
        assert_eq!(names, ["__Host-postiqo_access", "__Secure-postiqo_refresh"]);
    }

    #[test]
    fn plain_http_localhost_keeps_the_bare_names() {
        let s = settings(false);
        assert_eq!(access("t".into(), 900, &s).name(), "postiqo_access");
        assert_eq!(refresh("t".into(), &s).name(), "postiqo_refresh");
        assert_eq!(access_name(&s), ACCESS);
        assert_eq!(refresh_name(&s), REFRESH);
    }
}
