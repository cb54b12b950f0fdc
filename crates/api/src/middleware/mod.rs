//! Cross-cutting request handling: the client's address, request ids, access logs, security
//! headers, HTTP metrics, trace context, and reading bodies before a request may take an
//! in-flight permit.

mod body;
mod client_addr;
pub mod metrics;
mod request;
pub mod trace_context;

pub use client_addr::{
    ClientAddr, ClientAddrLayer, ForwardedHeader, TrustedProxies, TrustedProxiesError, resolve,
};
pub use request::{API_CSP, HSTS, RequestContext, SECURITY_HEADERS, current_request_id};
