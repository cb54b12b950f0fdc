//! Where records and files live: the table, the bucket and how S3 is addressed.

use postiqo_storage::StorageConfig;
use postiqo_storage::job_shards::{DEFAULT_JOB_SHARDS, JobShards, MAX_JOB_SHARDS};

use super::env::{ConfigError, Env, Reader, err};
use super::http::{AllowedOrigin, allowed_origins};

/// All `postiqo-api bootstrap` needs: the table and bucket, and the origins the bucket's CORS
/// rule lets upload from a browser.
#[derive(Debug, Clone)]
pub struct BootstrapSettings {
    pub storage: StorageConfig,
    pub allowed_origins: Vec<AllowedOrigin>,
}

impl BootstrapSettings {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let r = Reader(env);
        Ok(Self {
            storage: storage(&r)?,
            allowed_origins: allowed_origins(&r)?,
        })
    }
}

pub(super) fn storage(r: &Reader) -> Result<StorageConfig, ConfigError> {
    let table = r.required("POSTIQO_TABLE")?;
    let valid_table = (3..=255).contains(&table.len())
        && table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid_table {
        return Err(err(
            "POSTIQO_TABLE",
            "must be 3-255 characters of [A-Za-z0-9_.-]",
        ));
    }
    let bucket = r.required("POSTIQO_BUCKET")?;
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'))
        && !bucket.starts_with(['-', '.'])
        && !bucket.ends_with(['-', '.']);
    if !valid_bucket {
        return Err(err(
            "POSTIQO_BUCKET",
            "must be a valid S3 bucket name (3-63 of [a-z0-9.-])",
        ));
    }
    let s3_public_endpoint = match r.opt("POSTIQO_S3_PUBLIC_ENDPOINT") {
        Some(_) => Some(r.url("POSTIQO_S3_PUBLIC_ENDPOINT", None)?.to_string()),
        None => None,
    };
    // Local S3 servers live on an IP address, where virtual-host addressing cannot work;
    // real S3 prefers virtual-host style. Default to path style only when an endpoint is
    // overridden.
    let endpoint_overridden =
        r.opt("AWS_ENDPOINT_URL_S3").is_some() || r.opt("AWS_ENDPOINT_URL").is_some();
    let s3_force_path_style = r.bool("POSTIQO_S3_FORCE_PATH_STYLE", endpoint_overridden)?;
    let record_capacity = r.bool("POSTIQO_METRICS_DYNAMODB_CAPACITY", false)?;
    let job_shards = r
        .parse("POSTIQO_JOB_SHARDS", DEFAULT_JOB_SHARDS, "a whole number")
        .and_then(|n| {
            JobShards::new(n).map_err(|_| {
                err(
                    "POSTIQO_JOB_SHARDS",
                    format!("must be from 1 to {MAX_JOB_SHARDS}"),
                )
            })
        })?;
    Ok(StorageConfig {
        table,
        bucket,
        s3_public_endpoint,
        s3_force_path_style,
        record_capacity,
        job_shards,
    })
}
