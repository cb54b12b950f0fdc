//! End-to-end tests: the real `postiqo-api` binary against the local DynamoDB and S3 servers.
#![allow(clippy::unwrap_used)]

mod account;
mod auth;
mod basics;
mod connections;
mod deploy;
mod edge;
mod export;
mod faults;
mod lifecycle;
mod media;
mod metrics;
mod outage;
mod production;
mod publish;
mod queue;
mod security;
mod sessions;
mod signin;
mod uploads;
mod videos;
mod webhooks;
