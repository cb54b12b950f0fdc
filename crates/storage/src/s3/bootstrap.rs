use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    CorsConfiguration, CorsRule, CreateBucketConfiguration, ExpirationStatus, LifecycleExpiration,
    LifecycleRule, LifecycleRuleFilter, Tag,
};
use tracing::info;

use crate::BlobError;
use crate::error::{blob_error, service_code};

/// What the bucket must allow.
#[derive(Debug, Clone)]
pub struct BucketSetup {
    pub bucket: String,
    /// Browser origins that may PUT to presigned URLs.
    pub allowed_origins: Vec<String>,
    /// Unfinished multipart uploads are aborted (and their parts freed) after this many days.
    pub abort_incomplete_multipart_days: i32,
    /// Objects still tagged as pending uploads are deleted after this many days.
    pub expire_unconfirmed_days: i32,
}

fn built<T, E: std::error::Error + Send + Sync + 'static>(r: Result<T, E>) -> Result<T, BlobError> {
    r.map_err(|e| BlobError::Backend(Box::new(e)))
}

/// Creates the bucket with its CORS and lifecycle rules. Safe to run any number of times: an
/// existing bucket is kept and its rules are set again.
pub async fn bootstrap_bucket(client: &Client, setup: &BucketSetup) -> Result<(), BlobError> {
    let region = client.config().region().map(|r| r.as_ref().to_owned());
    let mut create = client.create_bucket().bucket(&setup.bucket);
    // us-east-1 is the one region that refuses an explicit location constraint.
    if let Some(region) = region.filter(|r| r != "us-east-1") {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region.as_str()))
                .build(),
        );
    }
    match create.send().await {
        Ok(_) => info!(bucket = %setup.bucket, "bucket created"),
        Err(e)
            if matches!(
                service_code(&e),
                Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
            ) =>
        {
            info!(bucket = %setup.bucket, "bucket exists")
        }
        Err(e) => return Err(blob_error(e)),
    }

    let cors = built(
        CorsRule::builder()
            .set_allowed_origins(Some(setup.allowed_origins.clone()))
            .allowed_methods("PUT")
            .allowed_methods("GET")
            .allowed_methods("HEAD")
            .allowed_headers("*")
            // Browsers need to read the ETag of each part to complete a multipart upload.
            .expose_headers("ETag")
            .max_age_seconds(3600)
            .build(),
    )?;
    client
        .put_bucket_cors()
        .bucket(&setup.bucket)
        .cors_configuration(built(
            CorsConfiguration::builder().cors_rules(cors).build(),
        )?)
        .send()
        .await
        .map_err(blob_error)?;

    let rule = built(
        LifecycleRule::builder()
            .id("abort-incomplete-multipart-uploads")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(setup.abort_incomplete_multipart_days)
                    .build(),
            )
            .build(),
    )?;
    // Objects uploaded but never confirmed by upload-complete keep their "pending" tag; they
    // go away after the video record's TTL (one day by default) plus a day of grace.
    let pending_tag = Tag::builder()
        .key("postiqo-upload")
        .value("pending")
        .build()
        .map_err(|e| BlobError::Backend(Box::new(e)))?;
    let stale = built(
        LifecycleRule::builder()
            .id("expire-unconfirmed-uploads")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().tag(pending_tag).build())
            .expiration(
                LifecycleExpiration::builder()
                    .days(setup.expire_unconfirmed_days)
                    .build(),
            )
            .build(),
    )?;
    client
        .put_bucket_lifecycle_configuration()
        .bucket(&setup.bucket)
        .lifecycle_configuration(built(
            BucketLifecycleConfiguration::builder()
                .rules(rule)
                .rules(stale)
                .build(),
        )?)
        .send()
        .await
        .map_err(blob_error)?;
    info!(bucket = %setup.bucket, origins = ?setup.allowed_origins, "bucket CORS and lifecycle rules set");
    Ok(())
}
