//! The sandbox's own rules, checked over real HTTP with a plain HTTP client (not our TikTok
//! client: the sandbox must behave like TikTok, whoever calls it).
#![allow(clippy::unwrap_used)]

mod helpers;
mod oauth;
mod posting;
mod user_info;
mod webhooks;
