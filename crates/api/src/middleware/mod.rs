//! Cross-cutting request handling: the client's address, request ids, access logs and
//! security headers.

mod client_addr;
mod request;

pub use client_addr::{
    ClientAddr, ClientAddrLayer, ForwardedHeader, TrustedProxies, TrustedProxiesError, resolve,
};
pub use request::{RequestContext, current_request_id};
