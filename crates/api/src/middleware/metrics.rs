//! Counts and times every answered request by method, route template and status. Wrapped
//! outermost, so the time includes waiting for an in-flight permit and the status is the one
//! the client got (after `RequestContext` rewrote framework errors into problems).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use super::request::MatchedRoute;
use crate::metrics::{self, labels};

pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = labels::method(req.method());
    let result = next.call(req).await;
    let (route, status) = match &result {
        // The matched resource's template, as `RequestContext` found it (or, for an answer
        // that did not pass through it, found here); `<unmatched>` for the default service.
        Ok(res) => (
            res.response()
                .extensions()
                .get::<MatchedRoute>()
                .map(|m| m.0.clone())
                .unwrap_or_else(|| labels::route(res.request().match_pattern())),
            res.status(),
        ),
        // Raised before routing (actix-cors refusing a preflight): no route to name.
        Err(e) => (labels::route(None), e.as_response_error().status_code()),
    };
    metrics::http_request(method, route, status.as_u16(), started.elapsed());
    result
}
