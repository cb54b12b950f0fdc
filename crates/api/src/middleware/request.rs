use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::ResponseError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

use crate::admission::{Admission, Overloaded};
use crate::problem::{ApiError, ErrorCode, problem_response};

fn is_problem(res: &ServiceResponse<BoxBody>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"))
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled, for problem bodies built deep inside handlers.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Keeps a caller's id only when it cannot smuggle anything into logs or headers.
fn sane_request_id(raw: &HeaderValue) -> Option<String> {
    let s = raw.to_str().ok()?;
    let ok = (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| s.to_owned())
}

/// The route template a response answered (`<unmatched>` when none), for the layers outside.
#[derive(Debug, Clone)]
pub struct MatchedRoute(pub String);

/// Settings for [`RequestContext::handle`].
#[derive(Clone)]
pub struct RequestContext {
    /// Send HSTS: only when the API is served over HTTPS.
    pub hsts: bool,
    /// Bounds the API requests in progress at once. Each one holds storage calls and their
    /// connections; past the bound, requests wait their turn (for a while) instead of all
    /// holding memory at once (the benchmark's 256 connections). Long media streams do not
    /// take a permit.
    pub admission: Arc<Admission>,
    /// Largest request body (`POSTIQO_JSON_LIMIT_BYTES`).
    pub body_limit: usize,
    /// A body must arrive within this (`POSTIQO_BODY_TIMEOUT_SECS`).
    pub body_timeout: Duration,
}

const SWAGGER_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Headers on every answer, also the refusals the connection guard writes itself (with
/// `Cache-Control: no-store` where a handler chose nothing else, a CSP and, over HTTPS, HSTS).
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
];

impl RequestContext {
    /// Reads the body with no permit held (a stalled client holds only its connection), then
    /// waits in line for a permit, at most the queue timeout.
    async fn admit(
        &self,
        req: &mut ServiceRequest,
    ) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, ApiError> {
        super::body::buffer(req, self.body_limit, self.body_timeout).await?;
        // Queued from here: the body has arrived, the permit is awaited.
        let _queued = crate::metrics::http_queued();
        match self.admission.admit().await {
            Ok(permit) => Ok(Some(permit)),
            Err(Overloaded) => Err(ApiError::new(ErrorCode::Overloaded)
                .detail("Too many requests are in progress on this instance.")
                .retry_after(self.admission.retry_after_secs())),
        }
    }

    /// Gives every request an id (echoed in `X-Request-Id`, in problem bodies and on every
    /// log line of the request), writes one access line, and sets the security headers.
    pub async fn handle(
        self,
        mut req: ServiceRequest,
        next: Next<impl MessageBody + 'static>,
    ) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
        let id = req
            .headers()
            .get(&X_REQUEST_ID)
            .and_then(sane_request_id)
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let trace_id = super::trace_context::trace_id(req.headers());
        let span = tracing::info_span!("request", request_id = %id, trace_id = trace_id.as_deref());
        let started = Instant::now();
        let is_swagger = req.path().starts_with("/swagger-ui");
        let bounded = req.path().starts_with("/v1/") && !req.path().starts_with("/v1/media/");
        let admitted = if bounded {
            self.admit(&mut req).instrument(span.clone()).await
        } else {
            Ok(None)
        };

        let mut res = match admitted {
            Ok(permit) => {
                // Counted only while a permit is held: a request refused at admission is
                // never in flight.
                let _in_flight = permit.as_ref().map(|_| crate::metrics::http_in_flight());
                let _permit = permit;
                let result = REQUEST_ID
                    .scope(id.clone(), next.call(req).instrument(span.clone()))
                    .await;
                // Errors raised by inner middleware (actix-cors) have no response yet; they
                // become a problem carrying this request's id. (The request cannot be kept to
                // build the response here: holding a clone of it breaks actix's routing.)
                match result {
                    Ok(res) => res.map_into_boxed_body(),
                    Err(e) => {
                        let status = e.as_response_error().status_code();
                        let mut err = ApiError::new(ErrorCode::for_status(status));
                        err.request_id = Some(id);
                        return Err(err.into());
                    }
                }
            }
            Err(mut err) => {
                err.request_id = Some(id.clone());
                let mut refusal = err.error_response();
                // The rest of an unread body would otherwise be parsed as the next request.
                if matches!(
                    err.code,
                    ErrorCode::RequestTimeout | ErrorCode::PayloadTooLarge | ErrorCode::BadRequest
                ) {
                    refusal
                        .head_mut()
                        .set_connection_type(ConnectionType::Close);
                }
                req.into_response(refusal)
            }
        };

        // Anything that left a framework layer as a non-problem error (actix-cors, payload
        // limits, ...) is rewritten, so every error a client sees has the same shape.
        if res.status().as_u16() >= 400 && !is_problem(&res) {
            let code = ErrorCode::for_status(res.status());
            let mut problem = ApiError::new(code).problem();
            problem.status = res.status().as_u16();
            problem.request_id = Some(id.clone());
            let status = res.status();
            let new = problem_response(status, &problem, |_| {});
            res = res.into_response(new);
        }

        let headers = res.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&id) {
            headers.insert(X_REQUEST_ID, v);
        }
        // actix-cors adds Allow-Credentials and Expose-Headers to the answer of every request
        // that carries an Origin, also when the origin is not allowed (it then leaves out
        // Allow-Origin). Alone they grant nothing, but no foreign origin should be told
        // "credentials: true" either.
        if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
            headers.remove(header::ACCESS_CONTROL_ALLOW_CREDENTIALS);
            headers.remove(header::ACCESS_CONTROL_EXPOSE_HEADERS);
        }
        for (name, value) in SECURITY_HEADERS {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        if !headers.contains_key(header::CACHE_CONTROL) {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(if is_swagger { SWAGGER_CSP } else { API_CSP }),
        );
        if self.hsts {
            headers.insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS),
            );
        }

        let status = res.status().as_u16();
        // Matching the template walks the routes again (regular expressions): once here, and
        // the metrics layer outside reads it back.
        let route = crate::metrics::labels::route(res.request().match_pattern());
        res.response_mut()
            .extensions_mut()
            .insert(MatchedRoute(route.clone()));
        // Read back from the request the response carries: nothing is copied for the line.
        let request = res.request();
        let user_agent = request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map_or("", |s| first_chars(s, 256));
        // The address the rate limits count (`ClientAddrLayer`, outside this layer): the
        // socket peer, or the forwarded client behind a trusted proxy.
        let client_ip = ClientIp(crate::limits::client_ip(request));
        // Path and query are not logged: query strings carry OAuth codes and states.
        tracing::info!(
            target: "access",
            parent: &span,
            method = request.method().as_str(),
            route,
            status,
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            user_agent,
            client_ip = %client_ip,
            "request"
        );
        Ok(res)
    }
}

/// At most the first `n` characters of `s`.
fn first_chars(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(end, _)| &s[..end])
}

/// The client's address on the access line, empty when there is none.
struct ClientIp(Option<std::net::IpAddr>);

impl std::fmt::Display for ClientIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_are_cut_at_a_character_boundary() {
        assert_eq!(first_chars("abc", 256), "abc");
        assert_eq!(first_chars("abcdef", 3), "abc");
        assert_eq!(first_chars("añb", 2), "añ");
        assert_eq!(first_chars("", 2), "");
    }

    #[test]
    fn request_ids_with_odd_bytes_are_replaced() {
        assert_eq!(
            sane_request_id(&HeaderValue::from_static("abc-123_x.y:z")),
            Some("abc-123_x.y:z".to_owned())
        );
        assert_eq!(sane_request_id(&HeaderValue::from_static("a b")), None);
        assert_eq!(
            sane_request_id(&HeaderValue::from_static("a\"},{\"admin\":true")),
            None
        );
        let long = "a".repeat(129);
        assert_eq!(
            sane_request_id(&HeaderValue::from_str(&long).expect("header")),
            None
        );
    }
}
