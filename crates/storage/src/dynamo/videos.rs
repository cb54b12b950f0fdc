use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use postiqo_domain::{UserId, Video, VideoId};
use tracing::instrument;

use super::item::{Item, is_expired, item_to_video, video_to_item};
use super::keys::{self, EXPIRES_AT, GSI1, GSI1PK, GSI1SK, PK, SK};
use crate::error::{conditional, repo_error};
use crate::{RepoError, VideoPage, VideoQuery, VideoRepository};

/// Videos in the single table: `PK = USER#<owner>`, `SK = VIDEO#<id>`. Keys always start from
/// the caller's id, so one user's request can never address another user's item.
#[derive(Clone)]
pub struct DynamoVideos {
    client: Client,
    table: String,
}

impl DynamoVideos {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    fn key(owner: UserId, id: VideoId) -> HashMap<String, AttributeValue> {
        super::item::key(keys::user_pk(owner), keys::video_sk(id))
    }
}

#[async_trait]
impl VideoRepository for DynamoVideos {
    #[instrument(skip_all, fields(video_id = %video.id))]
    async fn insert(
        &self,
        video: &Video,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), RepoError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(video_to_item(video, expires_at)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await
            .map_err(conditional)?;
        Ok(())
    }

    // Fields by `Display`: `Debug` of the ids and of `now` cost more than the GetItem's own
    // bookkeeping, on every read (docs/benchmarks.md §8).
    #[instrument(skip_all, fields(owner = %owner, video_id = %id))]
    async fn get(
        &self,
        owner: UserId,
        id: VideoId,
        now: DateTime<Utc>,
    ) -> Result<Option<Video>, RepoError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(owner, id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(repo_error)?;
        match out.item {
            Some(item) if !is_expired(&item, now) => item_to_video(item).map(Some),
            _ => Ok(None),
        }
    }

    #[instrument(skip_all, fields(video_id = %video.id, expected_version))]
    async fn update(
        &self,
        video: &Video,
        expected_version: u64,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), RepoError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(video_to_item(video, expires_at)))
            .condition_expression("attribute_exists(#pk) AND #version = :expected")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(
                ":expected",
                AttributeValue::N(expected_version.to_string()),
            )
            .send()
            .await
            .map_err(conditional)?;
        Ok(())
    }

    #[instrument(skip_all, fields(owner = %owner, video_id = %id))]
    async fn delete(
        &self,
        owner: UserId,
        id: VideoId,
        expected_version: u64,
    ) -> Result<(), RepoError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(owner, id)))
            .condition_expression("#version = :expected")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(
                ":expected",
                AttributeValue::N(expected_version.to_string()),
            )
            .send()
            .await
            .map_err(conditional)?;
        Ok(())
    }

    #[instrument(skip_all, fields(owner = %query.owner))]
    async fn list(&self, query: VideoQuery) -> Result<VideoPage, RepoError> {
        let limit = query.limit.clamp(1, 100) as usize;
        let mut start = query.after.map(|after| start_key(&query, after));
        let mut videos = Vec::with_capacity(limit + 1);
        // Read one more than asked so "is there a next page" is known without an empty last
        // page; loop because the TTL filter may drop items from a DynamoDB page.
        loop {
            let mut req = self
                .client
                .query()
                .table_name(&self.table)
                .scan_index_forward(false)
                .limit((limit + 1 - videos.len()) as i32)
                .set_exclusive_start_key(start.take())
                .filter_expression("attribute_not_exists(#exp) OR #exp > :now")
                .expression_attribute_names("#exp", EXPIRES_AT)
                .expression_attribute_values(
                    ":now",
                    AttributeValue::N(query.now.timestamp().to_string()),
                );
            req = match query.status {
                Some(status) => req
                    .index_name(GSI1)
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", GSI1PK)
                    .expression_attribute_values(
                        ":pk",
                        AttributeValue::S(keys::user_status_pk(query.owner, status)),
                    ),
                None => req
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :video)")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_values(
                        ":pk",
                        AttributeValue::S(keys::user_pk(query.owner)),
                    )
                    .expression_attribute_values(
                        ":video",
                        AttributeValue::S(keys::VIDEO_SK_PREFIX.into()),
                    ),
            };
            let out = req.send().await.map_err(repo_error)?;
            for item in out.items.unwrap_or_default() {
                if !is_expired(&item, query.now) {
                    videos.push(item_to_video(item)?);
                }
            }
            start = out.last_evaluated_key;
            if videos.len() > limit || start.is_none() {
                break;
            }
        }
        let next_after = if videos.len() > limit {
            videos.truncate(limit);
            videos.last().map(|v| v.id)
        } else {
            None
        };
        Ok(VideoPage { videos, next_after })
    }

    async fn ping(&self) -> Result<(), RepoError> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(repo_error)?;
        Ok(())
    }
}

/// The exclusive start key for "after this video", built from the caller's id rather than
/// taken from the client, so a cursor cannot point into someone else's partition.
fn start_key(query: &VideoQuery, after: VideoId) -> Item {
    let mut key = HashMap::from([
        (PK.to_owned(), AttributeValue::S(keys::user_pk(query.owner))),
        (SK.to_owned(), AttributeValue::S(keys::video_sk(after))),
    ]);
    if let Some(status) = query.status {
        key.insert(
            GSI1PK.to_owned(),
            AttributeValue::S(keys::user_status_pk(query.owner, status)),
        );
        key.insert(GSI1SK.to_owned(), AttributeValue::S(keys::video_sk(after)));
    }
    key
}
