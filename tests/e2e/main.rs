//! End-to-end tests: the real `postiqo-api` binary against the local DynamoDB and S3 servers.
#![allow(clippy::unwrap_used)]

mod auth;
mod basics;
mod lifecycle;
mod outage;
mod uploads;
mod videos;
