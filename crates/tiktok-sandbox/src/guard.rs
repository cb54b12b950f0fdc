//! The checks every v2 API call passes first: bearer token, per-token rate limit, scope.

use std::time::Instant;

use actix_web::{HttpRequest, http::StatusCode};

use crate::{
    model::Grant,
    ratelimit::Endpoint,
    respond::{Reject, bearer},
    state::AppState,
};

pub(crate) struct Caller {
    pub grant: Grant,
}

/// `any_scope`: the call needs at least one of these (status fetch takes either
/// `video.upload` or `video.publish`, §3.6). An empty slice skips the scope check.
pub(crate) fn authorize(
    state: &AppState,
    req: &HttpRequest,
    endpoint: Endpoint,
    any_scope: &[&str],
) -> Result<Caller, Reject> {
    let invalid = || {
        Reject::api(
            StatusCode::UNAUTHORIZED,
            "access_token_invalid",
            "The access token is invalid or not found in the request.",
        )
    };
    let token = bearer(req).ok_or_else(invalid)?.to_owned();
    let now = Instant::now();
    let mut inner = state.lock();
    let grant = inner.authenticate(&token, now).ok_or_else(invalid)?;
    if !inner.rate.attempt(&token, endpoint, now) {
        return Err(Reject::api(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            "Rate limit exceeded for this access token.",
        ));
    }
    if !any_scope.is_empty() && !any_scope.iter().any(|s| grant.has_scope(s)) {
        return Err(Reject::api(
            StatusCode::UNAUTHORIZED,
            "scope_not_authorized",
            format!(
                "The user did not authorize the scope required: {}",
                any_scope.join(" or ")
            ),
        ));
    }
    Ok(Caller { grant })
}
