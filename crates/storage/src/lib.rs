//! DynamoDB and S3 behind the traits Postiqo's services use.
//!
//! The services see only [`VideoRepository`] and [`BlobStore`]; the SDK types stay in the
//! adapters, and every SDK failure is classified here once (conflict, not found, unavailable)
//! so callers can answer 409 or 503 without knowing which backend spoke.

pub mod capacity;
mod config;
pub mod definition;
mod dynamo;
mod error;
mod http;
pub mod job_shards;
#[cfg(feature = "memory")]
pub mod memory;
pub mod observe;
mod ports;
mod s3;

pub use aws_sdk_dynamodb::Client as DynamoClient;
pub use config::{StorageConfig, bootstrap, connect, sdk_config};
pub use dynamo::{
    DynamoAccounts, DynamoIdentity, DynamoPublish, DynamoVideos, DynamoWebhooks, bootstrap_table,
};
pub use error::{BlobError, RepoError};
pub use job_shards::JobShards;
pub use ports::{AccountStore, SessionPage};
pub use ports::{
    BlobStore, CompletedPart, DeliveryBegin, DeliveryRecord, IdempotencyBegin, IdempotencyStore,
    JobChange, ObjectMeta, ObjectStream, OneTimeStore, PresignedRequest, PublishStore, RateWindows,
    SessionRepository, StoredTokens, TokenVault, UserRepository, VideoPage, VideoQuery,
    VideoRepository, WebhookDeliveries,
};
pub use s3::{BucketSetup, S3Blobs, bootstrap_bucket};

use std::sync::Arc;

/// The adapters the API needs, built once at start-up.
#[derive(Clone)]
pub struct Storage {
    pub videos: Arc<dyn VideoRepository>,
    pub blobs: Arc<dyn BlobStore>,
    pub users: Arc<dyn UserRepository>,
    pub tokens: Arc<dyn TokenVault>,
    pub sessions: Arc<dyn SessionRepository>,
    pub one_time: Arc<dyn OneTimeStore>,
    pub publish: Arc<dyn PublishStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub rates: Arc<dyn RateWindows>,
    /// Everything of one user at once: export and account deletion.
    pub accounts: Arc<dyn AccountStore>,
    /// Webhook deliveries already received (replay defence).
    pub webhook_deliveries: Arc<dyn WebhookDeliveries>,
}

impl Storage {
    /// Readiness: both backends answer for our table and bucket.
    pub async fn check_ready(&self) -> Result<(), RepoError> {
        let (db, blobs) = tokio::join!(self.videos.ping(), self.blobs.ping());
        db?;
        blobs.map_err(RepoError::from)
    }
}
