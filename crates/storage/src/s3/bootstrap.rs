use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    CorsConfiguration, CorsRule, CreateBucketConfiguration, ExpirationStatus, LifecycleExpiration,
    LifecycleRule, LifecycleRuleFilter, Tag,
};
use tracing::info;

use crate::BlobError;
use crate::definition::{
    CORS, LIFECYCLE_RULES, LifecycleAction, LifecycleFilter, LifecycleRuleDefinition,
};
use crate::error::{blob_error, service_code};

/// What the bucket must allow.
#[derive(Debug, Clone)]
pub struct BucketSetup {
    pub bucket: String,
    /// Browser origins that may PUT to presigned URLs.
    pub allowed_origins: Vec<String>,
}

fn built<T, E: std::error::Error + Send + Sync + 'static>(r: Result<T, E>) -> Result<T, BlobError> {
    r.map_err(|e| BlobError::Backend(Box::new(e)))
}

fn cors_rule(allowed_origins: &[String]) -> Result<CorsRule, BlobError> {
    let strings = |list: &[&str]| Some(list.iter().map(|s| (*s).to_owned()).collect());
    built(
        CorsRule::builder()
            .set_allowed_origins(Some(allowed_origins.to_vec()))
            .set_allowed_methods(strings(CORS.allowed_methods))
            .set_allowed_headers(strings(CORS.allowed_headers))
            .set_expose_headers(strings(CORS.expose_headers))
            .max_age_seconds(CORS.max_age_secs)
            .build(),
    )
}

fn lifecycle_rule(def: &LifecycleRuleDefinition) -> Result<LifecycleRule, BlobError> {
    let filter = match def.filter {
        LifecycleFilter::Everything => LifecycleRuleFilter::builder().prefix("").build(),
        LifecycleFilter::Tag { key, value } => LifecycleRuleFilter::builder()
            .tag(built(Tag::builder().key(key).value(value).build())?)
            .build(),
    };
    let rule = LifecycleRule::builder()
        .id(def.id)
        .status(ExpirationStatus::Enabled)
        .filter(filter);
    let rule = match def.action {
        LifecycleAction::AbortIncompleteMultipartUpload { days } => rule
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(days)
                    .build(),
            ),
        LifecycleAction::Expire { days } => {
            rule.expiration(LifecycleExpiration::builder().days(days).build())
        }
    };
    built(rule.build())
}

/// Creates the bucket with its CORS and lifecycle rules as [`crate::definition`] describes them.
/// Safe to run any number of times: an existing bucket is kept and its rules are set again.
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

    client
        .put_bucket_cors()
        .bucket(&setup.bucket)
        .cors_configuration(built(
            CorsConfiguration::builder()
                .cors_rules(cors_rule(&setup.allowed_origins)?)
                .build(),
        )?)
        .send()
        .await
        .map_err(blob_error)?;

    client
        .put_bucket_lifecycle_configuration()
        .bucket(&setup.bucket)
        .lifecycle_configuration(built(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(
                    LIFECYCLE_RULES
                        .iter()
                        .map(lifecycle_rule)
                        .collect::<Result<_, _>>()?,
                ))
                .build(),
        )?)
        .send()
        .await
        .map_err(blob_error)?;
    info!(bucket = %setup.bucket, origins = ?setup.allowed_origins, "bucket CORS and lifecycle rules set");
    Ok(())
}
