//! Use cases: load, apply a domain transition, write conditionally. Handlers call these and
//! nothing else, so every rule runs the same way whoever calls it.

pub mod account;
pub mod health;
pub mod media;
pub mod ports;
pub mod profile;
pub mod publishing;
pub mod sessions;
pub mod signin;
pub mod site_files;
pub mod tiktok_access;
pub mod videos;
pub mod webhooks;

#[cfg(test)]
mod tests;

pub use account::AccountService;
pub use publishing::PublishService;
pub use signin::SignInService;
pub use tiktok_access::TikTokAccess;
pub use videos::VideoService;
pub use webhooks::WebhookService;
