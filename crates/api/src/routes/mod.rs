//! HTTP handlers, grouped by resource. Each registers through utoipa-actix-web, so a route
//! cannot exist without its OpenAPI entry.

pub mod account;
pub mod auth;
pub mod fallback;
pub mod health;
pub mod json;
pub mod me;
pub mod media;
pub mod publish;
pub mod publish_check;
pub mod schedule;
pub mod tiktok;
pub mod videos;
pub mod webhooks;
