//! HTTP handlers, grouped by resource. Each registers through utoipa-actix-web, so a route
//! cannot exist without its OpenAPI entry.

pub mod account;
pub mod auth;
pub mod fallback;
pub mod health;
pub mod me;
pub mod media;
pub mod publish;
pub mod tiktok;
pub mod videos;
pub mod webhooks;
