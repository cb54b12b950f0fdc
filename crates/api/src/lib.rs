//! Postiqo's HTTP API. `main.rs` only parses the command and calls into here.

pub mod admission;
pub mod bootstrap;
pub mod config;
pub mod credentials;
pub mod crypto;
pub mod edge;
pub mod extract;
pub mod key_policy;
pub mod limits;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod problem;
pub mod readiness;
pub mod routes;
pub mod services;
pub mod startup;
pub mod state;
pub mod telemetry;
#[cfg(test)]
pub(crate) mod test_support;
pub mod worker;
