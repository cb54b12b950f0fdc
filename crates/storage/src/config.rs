use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use crate::{
    DynamoAccounts, DynamoIdentity, DynamoPublish, DynamoVideos, DynamoWebhooks, JobShards,
    S3Blobs, Storage,
};

/// What the adapters need beyond the standard AWS variables.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub table: String,
    pub bucket: String,
    /// The S3 endpoint browsers use, when it differs from the one the API reaches (a presigned
    /// URL's signature covers the host, so it must be signed for the host the client calls).
    pub s3_public_endpoint: Option<String>,
    /// Path-style addressing (`host/bucket/key`): needed by local S3 servers on an IP address.
    pub s3_force_path_style: bool,
    /// Ask DynamoDB for the capacity each call consumed and record it (docs/capacity.md).
    pub record_capacity: bool,
    /// How many partitions the publish job queue is spread over (`POSTIQO_JOB_SHARDS`).
    pub job_shards: JobShards,
}

/// The shared AWS configuration from the standard chain (`AWS_REGION`, `AWS_ENDPOINT_URL*`,
/// credentials), with tight timeouts: when storage is down, requests must fail fast with 503
/// instead of hanging.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(12))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .http_client(crate::http::PerThreadHttpClient::shared())
        .load()
        .await
}

/// Builds the adapters. No network call is made: readiness is checked separately.
pub fn connect(sdk: &SdkConfig, cfg: &StorageConfig) -> Storage {
    // DynamoDB's answers are read whole inside the attempt and operation timeouts, which bound a
    // stall; the SDK's stalled-stream protection would only add timers to every call.
    let mut ddb_conf = aws_sdk_dynamodb::config::Builder::from(sdk)
        .interceptor(crate::observe::StorageMetrics)
        .stalled_stream_protection(
            aws_sdk_dynamodb::config::StalledStreamProtectionConfig::disabled(),
        );
    if cfg.record_capacity {
        ddb_conf = ddb_conf.interceptor(crate::capacity::ConsumedCapacityMetrics);
    }
    let ddb = aws_sdk_dynamodb::Client::from_conf(ddb_conf.build());
    let videos = DynamoVideos::new(ddb.clone(), cfg.table.clone());
    let identity = Arc::new(DynamoIdentity::new(ddb.clone(), cfg.table.clone()));
    let publish = Arc::new(
        DynamoPublish::new(ddb.clone(), cfg.table.clone()).with_job_shards(cfg.job_shards),
    );
    let accounts = Arc::new(DynamoAccounts::new(ddb.clone(), cfg.table.clone()));
    let webhook_deliveries = Arc::new(DynamoWebhooks::new(ddb, cfg.table.clone()));
    let blobs = S3Blobs::new(sdk, cfg);
    Storage {
        videos: Arc::new(videos),
        blobs: Arc::new(blobs),
        users: identity.clone(),
        tokens: identity.clone(),
        sessions: identity.clone(),
        one_time: identity,
        publish: publish.clone(),
        idempotency: publish.clone(),
        rates: publish,
        accounts,
        webhook_deliveries,
    }
}

/// Creates the table (with its indexes and TTL) and the bucket (CORS for `allowed_origins`,
/// lifecycle rules) if they are missing, and brings their settings to `definition.rs`'s.
/// Idempotent: `postiqo-api bootstrap` and the tests call it on every start.
pub async fn bootstrap(
    cfg: &StorageConfig,
    allowed_origins: Vec<String>,
) -> Result<(), crate::RepoError> {
    let sdk = sdk_config().await;
    crate::bootstrap_table(&aws_sdk_dynamodb::Client::new(&sdk), &cfg.table).await?;
    let s3 = crate::S3Blobs::new(&sdk, cfg);
    crate::bootstrap_bucket(
        s3.client(),
        &crate::BucketSetup {
            bucket: cfg.bucket.clone(),
            allowed_origins,
        },
    )
    .await?;
    Ok(())
}
