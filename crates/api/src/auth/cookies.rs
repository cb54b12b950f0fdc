//! The SPA's cookies. Access and refresh tokens are HttpOnly (scripts never see them); the
//! refresh cookie is scoped to /v1/auth so it travels only to the endpoints that use it.

use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite as CookieSameSite};

use crate::config::{SameSite, SessionSettings};

pub const ACCESS: &str = "postiqo_access";
pub const REFRESH: &str = "postiqo_refresh";
/// Binds an OAuth `state` to the browser that started the sign-in.
pub const OAUTH_BINDING: &str = "postiqo_oauth";

const REFRESH_PATH: &str = "/v1/auth";
const BINDING_PATH: &str = "/v1/auth/tiktok";

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
    build(ACCESS, token, "/", ttl_secs, s)
}

pub fn refresh(token: String, s: &SessionSettings) -> Cookie<'static> {
    build(
        REFRESH,
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
        build(ACCESS, String::new(), "/", 0, s),
        build(REFRESH, String::new(), REFRESH_PATH, 0, s),
    ]
}
