//! End-to-end tests: the real `postiqo-api` binary against the local DynamoDB and S3 servers.
#![allow(clippy::unwrap_used)]

mod account;
mod auth;
mod basics;
mod deploy;
mod faults;
mod lifecycle;
mod outage;
mod publish;
mod security;
mod uploads;
mod videos;
