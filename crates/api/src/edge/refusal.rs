//! The answers the connection guard writes itself, byte for byte: the same problem documents,
//! request ids and security headers as every other answer, and `Connection: close`.

use std::fmt::Write as _;
use std::net::SocketAddr;

use actix_web::http::StatusCode;
use actix_web::web::Bytes;

use crate::middleware::{API_CSP, HSTS, SECURITY_HEADERS};
use crate::problem::{ApiError, ErrorCode};

/// Why a connection is refused before any request reaches the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The request line or a header is not HTTP/1.
    Malformed,
    /// The head exceeds actix-http's bounds (128 KiB, 96 headers).
    HeadTooLarge,
    /// The head did not arrive within the header timeout.
    HeadTimeout,
}

impl Refusal {
    fn code(self) -> ErrorCode {
        match self {
            Refusal::Malformed => ErrorCode::BadRequest,
            Refusal::HeadTooLarge => ErrorCode::HeadersTooLarge,
            Refusal::HeadTimeout => ErrorCode::RequestTimeout,
        }
    }

    fn detail(self) -> &'static str {
        match self {
            Refusal::Malformed => "The request line or headers are not valid HTTP/1.1.",
            Refusal::HeadTooLarge => {
                "The request line and headers may be at most 128 KiB and 96 headers."
            }
            Refusal::HeadTimeout => "The request line and headers did not arrive in time.",
        }
    }
}

/// The whole HTTP/1.1 response for `refusal`; logs it like the access log logs a request.
pub fn answer(refusal: Refusal, hsts: bool, peer: Option<SocketAddr>) -> Bytes {
    let code = refusal.code();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut err = ApiError::new(code).detail(refusal.detail());
    err.request_id = Some(id.clone());
    let body = serde_json::to_vec(&err.problem()).unwrap_or_default();
    let status = code.status();
    // The same shape as the middleware's access lines: the id on the request span.
    let span = tracing::info_span!("request", request_id = %id);
    tracing::info!(
        target: "access",
        parent: &span,
        method = "",
        route = "<refused by the connection guard>",
        status = status.as_u16(),
        code = code.code(),
        client_ip = peer.map(|p| p.ip().to_string()).unwrap_or_default(),
        "request"
    );
    Bytes::from(encode(status, &id, hsts, &body))
}

fn encode(status: StatusCode, id: &str, hsts: bool, body: &[u8]) -> Vec<u8> {
    let mut head = String::with_capacity(512);
    let reason = status.canonical_reason().unwrap_or_default();
    let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT");
    // Writing to a String cannot fail.
    let _ = write!(
        head,
        "HTTP/1.1 {} {reason}\r\n\
         content-type: application/problem+json\r\n\
         content-length: {}\r\n\
         connection: close\r\n\
         date: {date}\r\n\
         x-request-id: {id}\r\n\
         cache-control: no-store\r\n\
         content-security-policy: {API_CSP}\r\n",
        status.as_u16(),
        body.len(),
    );
    for (name, value) in SECURITY_HEADERS {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    if hsts {
        let _ = write!(head, "strict-transport-security: {HSTS}\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_complete_problem_responses() {
        for (refusal, start, code) in [
            (
                Refusal::Malformed,
                "HTTP/1.1 400 Bad Request\r\n",
                "bad_request",
            ),
            (
                Refusal::HeadTooLarge,
                "HTTP/1.1 431 Request Header Fields Too Large\r\n",
                "headers_too_large",
            ),
            (
                Refusal::HeadTimeout,
                "HTTP/1.1 408 Request Timeout\r\n",
                "request_timeout",
            ),
        ] {
            let raw = answer(refusal, true, None);
            let text = std::str::from_utf8(&raw).expect("utf-8");
            assert!(text.starts_with(start), "{text}");
            let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
            let problem: serde_json::Value = serde_json::from_str(body).expect("JSON");
            assert_eq!(problem["code"], code);
            assert_eq!(problem["type"], format!("urn:postiqo:problem:{code}"));
            assert!(head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())));
            assert!(head.contains("\r\nstrict-transport-security: max-age=31536000"));
            assert!(head.contains("\r\ndate: "));
            assert!(head.contains(&format!(
                "\r\nx-request-id: {}",
                problem["request_id"].as_str().expect("id")
            )));
        }
        let plain = answer(Refusal::Malformed, false, None);
        assert!(
            !std::str::from_utf8(&plain)
                .expect("utf-8")
                .contains("strict-transport")
        );
    }
}
