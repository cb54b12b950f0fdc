//! `postiqo-api bootstrap`: creates the table and the bucket. Idempotent.

use postiqo_storage::{BucketSetup, RepoError, bootstrap_bucket, bootstrap_table};

use crate::config::StorageSettings;

/// Days after which S3 aborts an unfinished multipart upload and frees its parts.
const ABORT_INCOMPLETE_MULTIPART_DAYS: i32 = 1;
/// Days after which an upload never confirmed (still tagged pending) is deleted. The video
/// record expires after `POSTIQO_PENDING_VIDEO_TTL_SECS` (a day by default); a day more of
/// grace keeps a slow upload-complete from racing the rule.
const EXPIRE_UNCONFIRMED_DAYS: i32 = 2;

pub async fn run(settings: &StorageSettings) -> Result<(), RepoError> {
    let sdk = postiqo_storage::sdk_config().await;
    let ddb = aws_sdk_dynamodb_client(&sdk);
    bootstrap_table(&ddb, &settings.storage.table).await?;
    let s3 = postiqo_storage::S3Blobs::new(&sdk, &settings.storage);
    bootstrap_bucket(
        s3.client(),
        &BucketSetup {
            bucket: settings.storage.bucket.clone(),
            allowed_origins: settings
                .allowed_origins
                .iter()
                .map(|o| o.as_str().to_owned())
                .collect(),
            abort_incomplete_multipart_days: ABORT_INCOMPLETE_MULTIPART_DAYS,
            expire_unconfirmed_days: EXPIRE_UNCONFIRMED_DAYS,
        },
    )
    .await?;
    Ok(())
}

fn aws_sdk_dynamodb_client(sdk: &aws_config::SdkConfig) -> postiqo_storage::DynamoClient {
    postiqo_storage::DynamoClient::new(sdk)
}
