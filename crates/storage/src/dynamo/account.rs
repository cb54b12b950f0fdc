//! Whole-account operations on the single table: read everything of one user (export) and
//! delete it (account deletion).
//!
//! Every record of a user lives in the partition `PK = USER#<id>`, plus one item outside it:
//! the identity `PK = TIKTOK#<open_id>, SK = IDENTITY`. Reads and deletions go over the whole
//! partition, whatever its sort keys, so record kinds added later are exported (as counts)
//! and deleted without this file changing.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, ReturnValue, TransactWriteItem, WriteRequest,
};
use chrono::{DateTime, Utc};
use postiqo_domain::{SessionId, User, UserId, VideoId};
use tracing::{instrument, warn};

use super::identity::{item_session, item_user};
use super::item::{Item, get_item, get_s, is_expired, item_to_video, key, s};
use super::keys::{self, DELETION_REQUESTED_AT, PK, SK};
use crate::error::{repo_error, service_code};
use crate::{AccountStore, RepoError, SessionPage, VideoPage};

/// BatchWriteItem takes at most 25 requests.
const BATCH: usize = 25;
/// How often unprocessed batch items (throttling) are sent again before giving up.
const BATCH_RETRIES: u32 = 8;
/// How often the final transaction is tried while the identity still names this user.
const ROOT_ATTEMPTS: u32 = 4;

/// Partition of the job index holding accounts being deleted.
const DELETING_INDEX_PK: &str = "DELETING";

#[derive(Clone)]
pub struct DynamoAccounts {
    client: Client,
    table: String,
}

type Key = HashMap<String, AttributeValue>;

/// What a partition walk reads of each item.
#[derive(Clone, Copy)]
enum Projection {
    Keys,
    /// Keys, `kind` and the TTL.
    KindOnly,
}

fn sort_key(item: &Item) -> Result<&str, RepoError> {
    get_s(item, SK)
}

/// A readable name for a record kind this module does not map: its `kind` attribute, or the
/// sort-key prefix when it has none.
fn kind_of(item: &Item, sk: &str) -> String {
    match item.get("kind") {
        Some(AttributeValue::S(k)) if !k.is_empty() => k.clone(),
        _ => sk
            .split('#')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase(),
    }
}

impl DynamoAccounts {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// Every item of the user's partition, page by page, read consistently (a deletion must
    /// see what was written just before it), with only the attributes `projection` names.
    async fn for_each_page<F>(
        &self,
        user: UserId,
        projection: Projection,
        mut each: F,
    ) -> Result<(), RepoError>
    where
        F: FnMut(Vec<Item>) -> Result<(), RepoError>,
    {
        let mut start = None;
        loop {
            let mut req = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", s(keys::user_pk(user)))
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            match projection {
                Projection::Keys => {
                    req = req
                        .projection_expression("#pk, #sk")
                        .expression_attribute_names("#sk", SK);
                }
                Projection::KindOnly => {
                    req = req
                        .projection_expression("#pk, #sk, #kind, #exp")
                        .expression_attribute_names("#sk", SK)
                        .expression_attribute_names("#kind", "kind")
                        .expression_attribute_names("#exp", keys::EXPIRES_AT);
                }
            }
            let out = req.send().await.map_err(repo_error)?;
            each(out.items.unwrap_or_default())?;
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(());
            }
        }
    }

    /// Up to `limit` unexpired items whose sort key starts with `prefix`, after the sort key
    /// `after`, in sort-key order, read consistently; and whether more follow.
    async fn prefix_page(
        &self,
        user: UserId,
        prefix: &str,
        after: Option<String>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<(Vec<Item>, bool), RepoError> {
        let limit = limit.clamp(1, 100) as usize;
        let mut start = after.map(|sk| key(keys::user_pk(user), sk));
        let mut items = Vec::with_capacity(limit + 1);
        // One more than asked tells whether a next page exists; loop because expired items
        // are dropped after reading.
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(keys::user_pk(user)))
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(true)
                .limit(i32::try_from(limit + 1 - items.len()).unwrap_or(1))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(repo_error)?;
            items.extend(
                out.items
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|i| !is_expired(i, now)),
            );
            start = out.last_evaluated_key;
            if items.len() > limit || start.is_none() {
                break;
            }
        }
        let more = items.len() > limit;
        items.truncate(limit);
        Ok((items, more))
    }

    /// Deletes the given keys with BatchWriteItem, sending throttled leftovers again with a
    /// growing pause. Unconditional on purpose: everything of the account goes, whatever
    /// version it is at.
    async fn delete_keys(&self, keys: Vec<Key>) -> Result<(), RepoError> {
        for chunk in keys.chunks(BATCH) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|k| {
                    DeleteRequest::builder()
                        .set_key(Some(k.clone()))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(|e| RepoError::Backend(Box::new(e)))
                })
                .collect::<Result<_, _>>()?;
            let mut attempt = 0;
            while !pending.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(repo_error)?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                attempt += 1;
                if attempt > BATCH_RETRIES {
                    return Err(RepoError::Unavailable(
                        "DynamoDB kept deletions unprocessed (throttled)".into(),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50 << attempt.min(6))).await;
            }
        }
        Ok(())
    }

    fn delete_item(&self, pk: String, sk: &str) -> Result<TransactWriteItem, RepoError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .build()
            .map_err(|e| RepoError::Backend(Box::new(e)))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Whether the identity of `open_id` still names `user`.
    async fn identity_is(&self, open_id: &str, user: UserId) -> Result<bool, RepoError> {
        let identity = get_item(
            &self.client,
            &self.table,
            keys::identity_pk(open_id),
            keys::IDENTITY_SK,
        )
        .await?;
        Ok(identity
            .as_ref()
            .and_then(|i| get_s(i, "user_id").ok())
            .is_some_and(|id| id == user.to_string()))
    }
}

#[async_trait]
impl AccountStore for DynamoAccounts {
    #[instrument(skip(self))]
    async fn videos_page(
        &self,
        user: UserId,
        after: Option<VideoId>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<VideoPage, RepoError> {
        let (items, more) = self
            .prefix_page(
                user,
                keys::VIDEO_SK_PREFIX,
                after.map(keys::video_sk),
                limit,
                now,
            )
            .await?;
        let videos = items
            .into_iter()
            .map(item_to_video)
            .collect::<Result<Vec<_>, _>>()?;
        let next_after = if more {
            videos.last().map(|v| v.id)
        } else {
            None
        };
        Ok(VideoPage { videos, next_after })
    }

    #[instrument(skip(self))]
    async fn sessions_page(
        &self,
        user: UserId,
        after: Option<&SessionId>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<SessionPage, RepoError> {
        let (items, more) = self
            .prefix_page(
                user,
                keys::SESSION_SK_PREFIX,
                after.map(keys::session_sk),
                limit,
                now,
            )
            .await?;
        let sessions = items
            .iter()
            .map(item_session)
            .collect::<Result<Vec<_>, _>>()?;
        let next_after = if more {
            sessions.last().map(|s| s.id.clone())
        } else {
            None
        };
        Ok(SessionPage {
            sessions,
            next_after,
        })
    }

    #[instrument(skip(self))]
    async fn other_counts(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<String, usize>, RepoError> {
        let mut other: BTreeMap<String, usize> = BTreeMap::new();
        // Keys, kind and TTL only: the count needs nothing else, whatever the records hold.
        self.for_each_page(user, Projection::KindOnly, |items| {
            for item in items {
                let sk = sort_key(&item)?;
                let mapped = sk == keys::PROFILE_SK
                    || sk == keys::TOKENS_SK
                    || sk.starts_with(keys::SESSION_SK_PREFIX)
                    || sk.starts_with(keys::VIDEO_SK_PREFIX);
                if !mapped && !is_expired(&item, now) {
                    *other.entry(kind_of(&item, sk)).or_default() += 1;
                }
            }
            Ok(())
        })
        .await?;
        Ok(other)
    }

    #[instrument(skip(self))]
    async fn abandoned_deletions(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<UserId>, RepoError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI2)
            .key_condition_expression("#pk = :pk AND #sk < :before")
            .expression_attribute_names("#pk", keys::GSI2PK)
            .expression_attribute_names("#sk", keys::GSI2SK)
            .expression_attribute_values(":pk", s(DELETING_INDEX_PK))
            .expression_attribute_values(
                ":before",
                s(before.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            )
            .limit(i32::try_from(limit).unwrap_or(10))
            .send()
            .await
            .map_err(repo_error)?;
        Ok(out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|i| i.get("id").and_then(|v| v.as_s().ok()))
            .filter_map(|id| id.parse().ok())
            .collect())
    }

    async fn mark_deleting(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, RepoError> {
        // `if_not_exists` keeps the first request's time when a deletion is resumed.
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(user), keys::PROFILE_SK)))
            // The sparse index entry lets the worker find and finish an abandoned deletion.
            .update_expression(
                "SET #del = if_not_exists(#del, :now), updated_at = :now, \
                 #g2pk = :deleting, #g2sk = if_not_exists(#g2sk, :since)",
            )
            .expression_attribute_names("#g2pk", keys::GSI2PK)
            .expression_attribute_names("#g2sk", keys::GSI2SK)
            .expression_attribute_values(":deleting", s(DELETING_INDEX_PK))
            .expression_attribute_values(
                ":since",
                s(format!(
                    "{}#{user}",
                    now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                )),
            )
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#del", DELETION_REQUESTED_AT)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":now", s(now.to_rfc3339()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match res {
            Ok(out) => out.attributes.map(|item| item_user(&item)).transpose(),
            // No profile: the account is already deleted (or never existed).
            Err(e) if service_code(&e) == Some("ConditionalCheckFailedException") => Ok(None),
            Err(e) => Err(repo_error(e)),
        }
    }

    #[instrument(skip(self))]
    async fn delete_records(
        &self,
        user: UserId,
        keep_session: Option<&SessionId>,
    ) -> Result<usize, RepoError> {
        let kept = keep_session.map(keys::session_sk);
        let mut doomed: Vec<Key> = Vec::new();
        self.for_each_page(user, Projection::Keys, |items| {
            for item in items {
                let sk = sort_key(&item)?;
                if sk == keys::PROFILE_SK || kept.as_deref() == Some(sk) {
                    continue;
                }
                doomed.push(key(keys::user_pk(user), sk));
            }
            Ok(())
        })
        .await?;
        let count = doomed.len();
        self.delete_keys(doomed).await?;
        Ok(count)
    }

    #[instrument(skip(self))]
    async fn delete_root(
        &self,
        user: UserId,
        open_id: Option<&str>,
        keep_session: Option<&SessionId>,
    ) -> Result<(), RepoError> {
        let mut items = vec![self.delete_item(keys::user_pk(user), keys::PROFILE_SK)?];
        if let Some(sid) = keep_session {
            items.push(self.delete_item(keys::user_pk(user), &keys::session_sk(sid))?);
        }
        let Some(open_id) = open_id else {
            return self.transact(items).await;
        };
        // The identity goes with the profile, in one transaction: a profile without its
        // identity could not be signed in to (nor finished by a sign-in), and an identity
        // without its profile would block the next sign-in of this TikTok user. The condition
        // protects an identity that already names a new account of the same TikTok user.
        let identity = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::identity_pk(open_id), keys::IDENTITY_SK)))
            .condition_expression("attribute_not_exists(#pk) OR user_id = :me")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":me", s(user.to_string()))
            .build()
            .map_err(|e| RepoError::Backend(Box::new(e)))?;
        let mut with_identity = items.clone();
        with_identity.push(TransactWriteItem::builder().delete(identity).build());
        for _ in 0..ROOT_ATTEMPTS {
            match self.transact(with_identity.clone()).await {
                Ok(()) => return Ok(()),
                Err(RepoError::Conflict) => {
                    if !self.identity_is(open_id, user).await? {
                        // The identity is gone or names another account: only ours is left.
                        return self.transact(items).await;
                    }
                    // A concurrent write on one of the items cancelled the transaction.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        }
        warn!(user_id = %user, "account root still contended; the caller retries");
        Err(RepoError::Conflict)
    }
}

impl DynamoAccounts {
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), RepoError> {
        super::item::transact(&self.client, items).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kinds_are_named_by_attribute_or_prefix() {
        let mut item = Item::new();
        assert_eq!(kind_of(&item, "IDEMP#abc"), "idemp");
        item.insert("kind".into(), s("publish_job"));
        assert_eq!(kind_of(&item, "PUBJOB#x"), "publish_job");
    }
}
