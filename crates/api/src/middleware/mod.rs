//! Cross-cutting request handling: request ids, access logs, security headers, and reading
//! bodies before a request may take an in-flight permit.

mod body;
mod request;

pub use request::{API_CSP, HSTS, RequestContext, SECURITY_HEADERS, current_request_id};
