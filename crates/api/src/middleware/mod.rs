//! Cross-cutting request handling: request ids, access logs, security headers, HTTP metrics
//! and trace context.

pub mod metrics;
mod request;
pub mod trace_context;

pub use request::{RequestContext, current_request_id};
