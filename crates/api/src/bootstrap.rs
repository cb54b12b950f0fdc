//! `postiqo-api bootstrap`: creates the table and the bucket. Idempotent.

use postiqo_storage::{BucketSetup, RepoError, bootstrap_bucket, bootstrap_table};

use crate::config::BootstrapSettings;

pub async fn run(settings: &BootstrapSettings) -> Result<(), RepoError> {
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
        },
    )
    .await?;
    Ok(())
}

fn aws_sdk_dynamodb_client(sdk: &aws_config::SdkConfig) -> postiqo_storage::DynamoClient {
    postiqo_storage::DynamoClient::new(sdk)
}
