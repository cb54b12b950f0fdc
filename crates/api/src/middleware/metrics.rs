//! Counts and times every answered request by method, route template and status. Wrapped
//! outermost, so the time includes waiting for an in-flight permit and the status is the one
//! the client got (after `RequestContext` rewrote framework errors into problems).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use crate::metrics::{self, labels};

pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = labels::method(req.method());
    let result = next.call(req).await;
    let (route, status) = match &result {
        // The matched resource's template; `None` when no route matched (default service).
        Ok(res) => (res.request().match_pattern(), res.status()),
        // Raised before routing (actix-cors refusing a preflight): no route to name.
        Err(e) => (None, e.as_response_error().status_code()),
    };
    metrics::http_request(
        method,
        labels::route(route),
        status.as_u16(),
        started.elapsed(),
    );
    result
}
