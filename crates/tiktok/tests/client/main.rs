//! The client against the sandbox over real HTTP (the sandbox mimics TikTok per the fact
//! sheet, so these tests exercise the same code paths as production).
#![allow(clippy::unwrap_used)]

mod connection;
mod helpers;
mod oauth;
mod posting;
mod webhooks;
