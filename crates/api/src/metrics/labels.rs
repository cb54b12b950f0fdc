//! Label values that stay few whatever the traffic. Prometheus keeps one series per label
//! combination, so nothing taken from a request (a path, an id, a header) becomes a label as
//! is, and codes that come from TikTok are admitted only up to a fixed number.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use actix_web::http::Method;

/// The route label of a request no route matched (404s of made-up paths, CORS refusals).
pub const UNMATCHED_ROUTE: &str = "<unmatched>";

/// What a code becomes once the set is full, or when it does not look like a code.
pub const OTHER: &str = "other";

/// The request method, from a fixed set: a client can send any token as a method.
pub fn method(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// `2xx`, `4xx`, ...: the latency histogram is split by class, not by status, to keep its
/// bucket series few.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => OTHER,
    }
}

/// The route template actix matched (`/v1/videos/{id}`), never the path itself.
pub fn route(pattern: Option<String>) -> String {
    pattern.unwrap_or_else(|| UNMATCHED_ROUTE.to_owned())
}

/// A set of code-like values that admits new members only until it holds `cap` of them.
/// TikTok's failure reasons are an open set (a reason added tomorrow arrives as it is), so
/// each is kept as a label while there are few, and the rest count together as `other`.
pub struct BoundedSet {
    cap: usize,
    seen: Mutex<HashSet<String>>,
}

impl BoundedSet {
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            seen: Mutex::new(HashSet::new()),
        }
    }

    /// `value` if it looks like a code (1-64 of `[a-z0-9_.]`) and is known or there is room;
    /// otherwise [`OTHER`].
    pub fn admit(&self, value: &str) -> String {
        let well_formed = (1..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.'));
        if !well_formed {
            return OTHER.to_owned();
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.contains(value) {
            return value.to_owned();
        }
        if seen.len() >= self.cap {
            return OTHER.to_owned();
        }
        seen.insert(value.to_owned());
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_known_set_share_one_label() {
        assert_eq!(method(&Method::GET), "GET");
        assert_eq!(method(&Method::DELETE), "DELETE");
        let invented = Method::from_bytes(b"X-ANYTHING-1234").expect("a token");
        assert_eq!(method(&invented), "OTHER");
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(302), "3xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(status_class(999), OTHER);
    }

    #[test]
    fn unmatched_requests_never_carry_their_path() {
        assert_eq!(route(None), UNMATCHED_ROUTE);
        assert_eq!(route(Some("/v1/videos/{id}".into())), "/v1/videos/{id}");
    }

    #[test]
    fn codes_are_admitted_up_to_the_cap_then_counted_as_other() {
        let set = BoundedSet::new(3);
        assert_eq!(set.admit("video_pull_failed"), "video_pull_failed");
        assert_eq!(set.admit("internal"), "internal");
        assert_eq!(set.admit("spam_risk"), "spam_risk");
        // Full: a new code is `other`, the known ones keep their label.
        assert_eq!(set.admit("brand_new_reason"), OTHER);
        assert_eq!(set.admit("internal"), "internal");
        assert_eq!(set.admit("video_pull_failed"), "video_pull_failed");
        // 10,000 distinct codes still make one `other`.
        let labels: HashSet<String> = (0..10_000)
            .map(|i| set.admit(&format!("code_{i}")))
            .collect();
        assert_eq!(labels.len(), 1);
    }

    #[test]
    fn values_that_do_not_look_like_codes_are_other() {
        let set = BoundedSet::new(100);
        for bad in [
            "",
            "Upper",
            "with space",
            "quote\"",
            "new\nline",
            "ünïcode",
            "{id}",
            &"a".repeat(65),
        ] {
            assert_eq!(set.admit(bad), OTHER, "{bad:?}");
        }
        assert_eq!(set.admit(&"a".repeat(64)), "a".repeat(64));
    }
}
