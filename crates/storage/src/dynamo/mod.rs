//! The single DynamoDB table. Key design and access patterns: docs/data-model.md.

mod account;
mod bootstrap;
mod identity;
mod item;
pub(crate) mod keys;
mod publish;
mod videos;
mod webhooks;

pub use account::DynamoAccounts;
pub use bootstrap::bootstrap_table;
pub use identity::DynamoIdentity;
pub use publish::DynamoPublish;
pub use videos::DynamoVideos;
pub use webhooks::DynamoWebhooks;
