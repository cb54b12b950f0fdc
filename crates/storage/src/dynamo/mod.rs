//! The single DynamoDB table. Key design and access patterns: docs/data-model.md.

mod bootstrap;
mod item;
mod keys;
mod videos;

pub use bootstrap::bootstrap_table;
pub use videos::DynamoVideos;
