//! The single DynamoDB table. Key design and access patterns: docs/data-model.md.

mod auth;
mod bootstrap;
mod item;
mod keys;
mod videos;

pub use auth::DynamoAuth;
pub use bootstrap::bootstrap_table;
pub use videos::DynamoVideos;
