//! Cross-cutting request handling: request ids, access logs and security headers.

mod request;

pub use request::{RequestContext, current_request_id};
