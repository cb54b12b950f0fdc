//! The same storage work the API does for each endpoint, made directly with the AWS SDK and
//! timed in a loop: the baseline the API's latency is divided by.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::presigning::PresigningConfig;

use crate::error::{Context, Result, sdk_error};
use crate::stats::{Sample, sample};

pub type Item = HashMap<String, AttributeValue>;

/// Bare SDK clients, configured from the same environment (endpoint, region, credentials) and
/// with the same timeouts and retries as the API's (`postiqo_storage::sdk_config`).
pub struct Bare {
    ddb: aws_sdk_dynamodb::Client,
    s3: aws_sdk_s3::Client,
    table: String,
    bucket: String,
}

/// One storage operation, as the API makes it for one endpoint.
#[derive(Debug, Clone)]
pub enum Op {
    /// `GET /v1/videos/{id}`: GetItem, consistent read.
    Get { pk: String, sk: String },
    /// `GET /v1/videos?limit=20`: Query, newest first, Limit 21, the TTL filter.
    Query { pk: String },
    /// `POST /v1/videos`: conditional PutItem of a new video plus a SigV4 presigned PUT.
    Create { template: Item, user_id: String },
}

impl Bare {
    pub async fn connect(table: &str, bucket: &str) -> Self {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .operation_attempt_timeout(Duration::from_secs(5))
                    .operation_timeout(Duration::from_secs(12))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        Self {
            ddb: aws_sdk_dynamodb::Client::new(&sdk),
            s3,
            table: table.to_owned(),
            bucket: bucket.to_owned(),
        }
    }

    /// One item, read back (to copy a real video item for the PutItem baseline).
    pub async fn item(&self, pk: &str, sk: &str) -> Result<Item> {
        self.ddb
            .get_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(pk.to_owned()))
            .key("SK", AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?
            .item
            .context("GetItem: the seeded video is not in the table")
    }

    pub async fn run(&self, op: &Op) -> Result<()> {
        match op {
            Op::Get { pk, sk } => {
                let out = self
                    .ddb
                    .get_item()
                    .table_name(&self.table)
                    .key("PK", AttributeValue::S(pk.clone()))
                    .key("SK", AttributeValue::S(sk.clone()))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| sdk_error("GetItem", e))?;
                out.item.context("GetItem found nothing")?;
            }
            Op::Query { pk } => {
                let now = chrono::Utc::now().timestamp();
                let out = self
                    .ddb
                    .query()
                    .table_name(&self.table)
                    .scan_index_forward(false)
                    .limit(21)
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :video)")
                    .filter_expression("attribute_not_exists(#exp) OR #exp > :now")
                    .expression_attribute_names("#pk", "PK")
                    .expression_attribute_names("#sk", "SK")
                    .expression_attribute_names("#exp", "expires_at")
                    .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                    .expression_attribute_values(":video", AttributeValue::S("VIDEO#".into()))
                    .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                    .send()
                    .await
                    .map_err(|e| sdk_error("Query", e))?;
                if out.items.unwrap_or_default().len() != 21 {
                    return Err("Query did not return 21 items".into());
                }
            }
            Op::Create { template, user_id } => {
                let id = uuid::Uuid::now_v7().hyphenated().to_string();
                let key = format!("users/{user_id}/videos/{id}/source");
                let mut item = template.clone();
                item.insert("SK".into(), AttributeValue::S(format!("VIDEO#{id}")));
                item.insert("GSI1SK".into(), AttributeValue::S(format!("VIDEO#{id}")));
                item.insert("id".into(), AttributeValue::S(id));
                item.insert("object_key".into(), AttributeValue::S(key.clone()));
                let size = match item.get("size") {
                    Some(AttributeValue::N(n)) => n.parse::<i64>().unwrap_or(1),
                    _ => 1,
                };
                self.ddb
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", "PK")
                    .send()
                    .await
                    .map_err(|e| sdk_error("PutItem", e))?;
                let presign = PresigningConfig::expires_in(Duration::from_secs(3600))
                    .context("presigning config")?;
                self.s3
                    .put_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .content_type("video/mp4")
                    .content_length(size)
                    .presigned(presign)
                    .await
                    .map_err(|e| sdk_error("presign PutObject", e))?;
            }
        }
        Ok(())
    }
}

/// Runs `op` `requests` times from `concurrency` concurrent tasks and times each call.
/// Bounded by the count and by `limit`; any failure stops the run.
pub async fn measure(
    bare: Arc<Bare>,
    op: Arc<Op>,
    requests: u64,
    concurrency: u64,
    limit: Duration,
) -> Result<Sample> {
    let next = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + limit;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (bare, op, next) = (bare.clone(), op.clone(), next.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                if Instant::now() > deadline {
                    return Err::<Vec<Duration>, crate::error::Error>(
                        "bare SDK run exceeded its time limit".into(),
                    );
                }
                let t = Instant::now();
                bare.run(&op).await?;
                latencies.push(t.elapsed());
            }
            Ok(latencies)
        });
    }
    let mut all = Vec::with_capacity(usize::try_from(requests).unwrap_or(0));
    while let Some(joined) = tasks.join_next().await {
        all.extend(joined.context("bare SDK task")??);
    }
    Ok(sample(all, started.elapsed()))
}
