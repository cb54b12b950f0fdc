//! Publish jobs, publish-id lookups, idempotency records and shared rate windows.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, ReturnValue, TransactWriteItem};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use postiqo_domain::{JobPhase, PublishJob, UserId, Video, VideoId};
use tracing::instrument;

use super::item::{Item, get_n, get_s, n, s, video_to_item};
use super::keys::{self, EXPIRES_AT, GSI2, GSI2PK, GSI2SK, PK, SK};
use crate::error::{repo_error, service_code};
use crate::job_shards::{self, JobShards, Page, Partition};
use crate::{IdempotencyBegin, IdempotencyStore, JobChange, PublishStore, RateWindows, RepoError};

#[derive(Clone)]
pub struct DynamoPublish {
    client: Client,
    table: String,
    shards: JobShards,
    /// This process's own starting point in the shard rotation.
    seed: u64,
    /// Passes over the queue so far (each one starts a shard further).
    rounds: Arc<AtomicU64>,
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn ms(t: DateTime<Utc>) -> AttributeValue {
    n(t.timestamp_millis())
}

fn from_ms(item: &Item, name: &str) -> Result<DateTime<Utc>, RepoError> {
    let v: i64 = get_n(item, name)?;
    Utc.timestamp_millis_opt(v)
        .single()
        .ok_or_else(|| RepoError::Corrupt(format!("attribute {name} is not a time")))
}

/// The job's item, indexed in its shard under `shards` (so a write after a change of the count
/// moves it to its new shard).
fn job_item(job: &PublishJob, shards: JobShards) -> Item {
    let mut item = HashMap::from([
        (PK.to_owned(), s(keys::user_pk(job.owner))),
        (SK.to_owned(), s(keys::job_sk(job.video))),
        (GSI2PK.to_owned(), s(shards.of(job.video).key())),
        (
            GSI2SK.to_owned(),
            s(format!("{}#{}", iso(job.next_run_at), job.video)),
        ),
        ("kind".to_owned(), s("publish_job")),
        ("owner".to_owned(), s(job.owner.to_string())),
        ("video".to_owned(), s(job.video.to_string())),
        ("attempt_id".to_owned(), s(job.attempt_id.clone())),
        ("phase".to_owned(), s(job.phase.as_str())),
        ("next_run_at".to_owned(), ms(job.next_run_at)),
        ("deadline".to_owned(), ms(job.deadline)),
        ("runs".to_owned(), n(job.runs)),
        ("version".to_owned(), n(job.version)),
    ]);
    if let Some(p) = &job.publish_id {
        item.insert("publish_id".into(), s(p.clone()));
    }
    if let Some(o) = &job.lease_owner {
        item.insert("lease_owner".into(), s(o.clone()));
    }
    if let Some(u) = job.lease_until {
        item.insert("lease_until".into(), ms(u));
    }
    item
}

fn item_job(item: &Item) -> Result<PublishJob, RepoError> {
    Ok(PublishJob {
        owner: get_s(item, "owner")?
            .parse()
            .map_err(|_| RepoError::Corrupt("job owner".into()))?,
        video: get_s(item, "video")?
            .parse()
            .map_err(|_| RepoError::Corrupt("job video".into()))?,
        attempt_id: get_s(item, "attempt_id")?.to_owned(),
        phase: JobPhase::parse(get_s(item, "phase")?)
            .ok_or_else(|| RepoError::Corrupt("job phase".into()))?,
        publish_id: item.get("publish_id").and_then(|v| v.as_s().ok()).cloned(),
        next_run_at: from_ms(item, "next_run_at")?,
        deadline: from_ms(item, "deadline")?,
        runs: get_n(item, "runs")?,
        lease_owner: item.get("lease_owner").and_then(|v| v.as_s().ok()).cloned(),
        lease_until: if item.contains_key("lease_until") {
            Some(from_ms(item, "lease_until")?)
        } else {
            None
        },
        version: get_n(item, "version")?,
    })
}

impl DynamoPublish {
    pub fn new(client: Client, table: String) -> Self {
        Self {
            client,
            table,
            shards: JobShards::default(),
            seed: uuid::Uuid::new_v4().as_u64_pair().0,
            rounds: Arc::default(),
        }
    }

    /// Spreads the job queue over `shards` partitions (see [`job_shards`]).
    #[must_use]
    pub fn with_job_shards(mut self, shards: JobShards) -> Self {
        self.shards = shards;
        self
    }

    /// One page of the jobs due in one partition of the job index, oldest first.
    async fn due_in(
        &self,
        partition: Partition,
        now: DateTime<Utc>,
        limit: u32,
        from: Option<Item>,
    ) -> Result<Page<PublishJob, Item>, RepoError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .key_condition_expression("#pk = :pk AND #sk <= :now")
            .expression_attribute_names("#pk", GSI2PK)
            .expression_attribute_names("#sk", GSI2SK)
            .expression_attribute_values(":pk", s(partition.key()))
            // '~' sorts after every id character, so jobs due exactly now are included.
            .expression_attribute_values(":now", s(format!("{}~", iso(now))))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(from)
            .send()
            .await
            .map_err(repo_error)?;
        Ok(Page {
            items: out
                .items
                .unwrap_or_default()
                .iter()
                .map(item_job)
                .collect::<Result<_, _>>()?,
            next: out.last_evaluated_key,
        })
    }

    fn key(pk: String, sk: String) -> HashMap<String, AttributeValue> {
        super::item::key(pk, sk)
    }

    fn put(
        &self,
        item: Item,
        condition: Option<&str>,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<TransactWriteItem, RepoError> {
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some(c) = condition {
            put = put.condition_expression(c);
        }
        for (k, v) in values {
            put = put.expression_attribute_values(k, v);
        }
        let put = put.build().map_err(|e| RepoError::Backend(Box::new(e)))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn get_item(&self, pk: String, sk: String) -> Result<Option<Item>, RepoError> {
        super::item::get_item(&self.client, &self.table, pk, sk).await
    }
}

#[async_trait]
impl PublishStore for DynamoPublish {
    #[instrument(skip_all, fields(video_id = %video.id, expected_version))]
    async fn commit(
        &self,
        video: &Video,
        expected_version: u64,
        job: JobChange<'_>,
        publish_id: Option<&str>,
    ) -> Result<(), RepoError> {
        let mut items = vec![self.put(
            video_to_item(video, None),
            Some("attribute_exists(PK) AND version = :v"),
            vec![(":v", n(expected_version))],
        )?];
        match job {
            JobChange::Keep => {}
            JobChange::Save {
                job,
                expected_version: None,
            } => items.push(self.put(job_item(job, self.shards), None, vec![])?),
            JobChange::Save {
                job,
                expected_version: Some(v),
            } => items.push(self.put(
                job_item(job, self.shards),
                Some("version = :v"),
                vec![(":v", n(v))],
            )?),
            JobChange::Remove { expected_version } => {
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(
                        keys::user_pk(video.owner),
                        keys::job_sk(video.id),
                    )))
                    .condition_expression("attribute_not_exists(PK) OR version = :v")
                    .expression_attribute_values(":v", n(expected_version))
                    .build()
                    .map_err(|e| RepoError::Backend(Box::new(e)))?;
                items.push(TransactWriteItem::builder().delete(delete).build());
            }
        }
        if let Some(pid) = publish_id {
            let lookup = HashMap::from([
                (PK.to_owned(), s(keys::user_pk(video.owner))),
                (SK.to_owned(), s(keys::publish_lookup_sk(pid))),
                ("kind".to_owned(), s("publish_lookup")),
                ("video".to_owned(), s(video.id.to_string())),
            ]);
            items.push(self.put(lookup, None, vec![])?);
        }
        super::item::transact(&self.client, items).await
    }

    async fn job(&self, owner: UserId, video: VideoId) -> Result<Option<PublishJob>, RepoError> {
        self.get_item(keys::user_pk(owner), keys::job_sk(video))
            .await?
            .map(|i| item_job(&i))
            .transpose()
    }

    async fn forget(
        &self,
        owner: UserId,
        video: VideoId,
        publish_id: Option<&str>,
    ) -> Result<(), RepoError> {
        let mut keys_to_delete = vec![Self::key(keys::user_pk(owner), keys::job_sk(video))];
        if let Some(pid) = publish_id {
            keys_to_delete.push(Self::key(
                keys::user_pk(owner),
                keys::publish_lookup_sk(pid),
            ));
        }
        for key in keys_to_delete {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .send()
                .await
                .map_err(repo_error)?;
        }
        Ok(())
    }

    async fn delete_job(
        &self,
        owner: UserId,
        video: VideoId,
        expected_version: u64,
    ) -> Result<(), RepoError> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(keys::user_pk(owner), keys::job_sk(video))))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(expected_version))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if service_code(&e) == Some("ConditionalCheckFailedException") => {
                Err(RepoError::Conflict)
            }
            Err(e) => Err(repo_error(e)),
        }
    }

    async fn due_jobs(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<PublishJob>, RepoError> {
        let round = self.rounds.fetch_add(1, Ordering::Relaxed);
        let visit = self.shards.plan(self.seed, round);
        let mut due =
            job_shards::fill(&visit, limit, |p, l, from| self.due_in(p, now, l, from)).await?;
        due.sort_by_key(|j| j.next_run_at);
        Ok(due)
    }

    #[instrument(skip(self, job), fields(video_id = %job.video))]
    async fn lease(
        &self,
        job: &PublishJob,
        owner: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<PublishJob, RepoError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(
                keys::user_pk(job.owner),
                keys::job_sk(job.video),
            )))
            .update_expression("SET lease_owner = :o, lease_until = :u, version = :next")
            .condition_expression(
                "version = :v AND (attribute_not_exists(lease_until) OR lease_until <= :now)",
            )
            .expression_attribute_values(":o", s(owner))
            .expression_attribute_values(":u", ms(until))
            .expression_attribute_values(":next", n(job.version + 1))
            .expression_attribute_values(":v", n(job.version))
            .expression_attribute_values(":now", ms(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match res {
            Ok(out) => item_job(&out.attributes.unwrap_or_default()),
            Err(e) if service_code(&e) == Some("ConditionalCheckFailedException") => {
                Err(RepoError::Conflict)
            }
            Err(e) => Err(repo_error(e)),
        }
    }

    async fn video_for_publish_id(
        &self,
        owner: UserId,
        publish_id: &str,
    ) -> Result<Option<VideoId>, RepoError> {
        let Some(item) = self
            .get_item(keys::user_pk(owner), keys::publish_lookup_sk(publish_id))
            .await?
        else {
            return Ok(None);
        };
        get_s(&item, "video")?
            .parse()
            .map(Some)
            .map_err(|_| RepoError::Corrupt("publish lookup video".into()))
    }
}

#[async_trait]
impl IdempotencyStore for DynamoPublish {
    #[instrument(skip_all)]
    async fn begin(
        &self,
        owner: UserId,
        key_digest: &str,
        request_hash: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<IdempotencyBegin, RepoError> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(keys::user_pk(owner)))
            .item(SK, s(keys::idempotency_sk(key_digest)))
            .item("kind", s("idempotency"))
            .item("request_hash", s(request_hash))
            .item("state", s("in_progress"))
            .item(EXPIRES_AT, n(expires_at.timestamp()))
            // A record whose TTL passed counts as absent even before DynamoDB removes it.
            .condition_expression("attribute_not_exists(PK) OR #exp <= :now")
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":now", n(now.timestamp()))
            .send()
            .await;
        match res {
            Ok(_) => return Ok(IdempotencyBegin::Started),
            Err(e) if service_code(&e) == Some("ConditionalCheckFailedException") => {}
            Err(e) => return Err(repo_error(e)),
        }
        let item = self
            .get_item(keys::user_pk(owner), keys::idempotency_sk(key_digest))
            .await?
            .ok_or(RepoError::Conflict)?;
        let request_hash = get_s(&item, "request_hash")?.to_owned();
        Ok(match get_s(&item, "state")? {
            "done" => IdempotencyBegin::Done {
                request_hash,
                status: get_n(&item, "status")?,
                body: get_s(&item, "body")?.to_owned(),
            },
            _ => IdempotencyBegin::InProgress { request_hash },
        })
    }

    async fn finish(
        &self,
        owner: UserId,
        key_digest: &str,
        status: u16,
        body: &str,
    ) -> Result<(), RepoError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(
                keys::user_pk(owner),
                keys::idempotency_sk(key_digest),
            )))
            .update_expression("SET #state = :done, #status = :status, body = :body")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":done", s("done"))
            .expression_attribute_values(":status", n(status))
            .expression_attribute_values(":body", s(body))
            .send()
            .await
            .map_err(repo_error)?;
        Ok(())
    }

    async fn abandon(&self, owner: UserId, key_digest: &str) -> Result<(), RepoError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(
                keys::user_pk(owner),
                keys::idempotency_sk(key_digest),
            )))
            .send()
            .await
            .map_err(repo_error)?;
        Ok(())
    }
}

#[async_trait]
impl RateWindows for DynamoPublish {
    async fn try_acquire(
        &self,
        owner: UserId,
        name: &str,
        limit: usize,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<Result<(), Duration>, RepoError> {
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        for _ in 0..20 {
            let now_ms = now.timestamp_millis().max(Utc::now().timestamp_millis());
            let item = self
                .get_item(keys::user_pk(owner), keys::rate_sk(name))
                .await?;
            let (mut stamps, version): (Vec<i64>, Option<u64>) = match &item {
                Some(i) => (
                    match i.get("stamps") {
                        Some(AttributeValue::L(l)) => l
                            .iter()
                            .filter_map(|v| v.as_n().ok()?.parse().ok())
                            .collect(),
                        _ => Vec::new(),
                    },
                    Some(get_n(i, "version")?),
                ),
                None => (Vec::new(), None),
            };
            stamps.retain(|t| *t > now_ms - window_ms);
            if stamps.len() >= limit {
                let oldest = stamps.iter().min().copied().unwrap_or(now_ms);
                let wait = (oldest + window_ms - now_ms).max(1);
                return Ok(Err(Duration::from_millis(u64::try_from(wait).unwrap_or(1))));
            }
            stamps.push(now_ms);
            let mut req = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(PK, s(keys::user_pk(owner)))
                .item(SK, s(keys::rate_sk(name)))
                .item("kind", s("rate_window"))
                .item(
                    "stamps",
                    AttributeValue::L(stamps.iter().map(|t| n(*t)).collect()),
                )
                .item("version", n(version.unwrap_or(0) + 1))
                // The record is only useful for one window; let TTL clean it up afterwards.
                .item(
                    EXPIRES_AT,
                    n(now.timestamp() + i64::try_from(window.as_secs()).unwrap_or(60) + 60),
                );
            req = match version {
                Some(v) => req
                    .condition_expression("version = :v")
                    .expression_attribute_values(":v", n(v)),
                None => req.condition_expression("attribute_not_exists(PK)"),
            };
            match req.send().await {
                Ok(_) => return Ok(Ok(())),
                Err(e) if service_code(&e) == Some("ConditionalCheckFailedException") => continue,
                Err(e) => return Err(repo_error(e)),
            }
        }
        Err(RepoError::Conflict)
    }
}
