//! Users, TikTok identities and tokens, sessions and one-time records in the single table.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use chrono::{DateTime, TimeZone, Utc};
use postiqo_domain::{RetiredRefresh, Session, SessionId, TikTokLink, User, UserId};
use tracing::instrument;

use super::item::{Item, get_n, get_s, n, parse_time, s};
use super::keys::{self, DELETION_REQUESTED_AT, EXPIRES_AT, PK, SK};
use crate::error::{conditional, repo_error, service_code};
use crate::{OneTimeStore, RepoError, SessionRepository, StoredTokens, TokenVault, UserRepository};

/// A profile exists and its account is not being deleted. Whole-profile writes use it, so a
/// write racing with a deletion request cannot erase the mark.
const PROFILE_LIVE: &str = "attribute_exists(PK) AND attribute_not_exists(deletion_requested_at)";

#[derive(Clone)]
pub struct DynamoIdentity {
    client: Client,
    table: String,
}

impl DynamoIdentity {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    fn key(pk: String, sk: &str) -> HashMap<String, AttributeValue> {
        super::item::key(pk, sk)
    }

    async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, RepoError> {
        super::item::get_item(&self.client, &self.table, pk, sk).await
    }

    fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, RepoError> {
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some(c) = condition {
            put = put.condition_expression(c);
        }
        let put = put.build().map_err(|e| RepoError::Backend(Box::new(e)))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), RepoError> {
        super::item::transact(&self.client, items).await
    }
}

fn epoch(t: DateTime<Utc>) -> AttributeValue {
    n(t.timestamp())
}

fn from_epoch(item: &Item, name: &str) -> Result<DateTime<Utc>, RepoError> {
    let secs: i64 = get_n(item, name)?;
    Utc.timestamp_opt(secs, 0)
        .single()
        .ok_or_else(|| RepoError::Corrupt(format!("attribute {name} is not a time")))
}

fn opt_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

fn list_s(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().map(|v| s(v.clone())).collect())
}

fn get_list_s(item: &Item, name: &str) -> Vec<String> {
    match item.get(name) {
        Some(AttributeValue::L(values)) => values
            .iter()
            .filter_map(|v| v.as_s().ok().cloned())
            .collect(),
        _ => Vec::new(),
    }
}

fn user_item(user: &User) -> Item {
    let mut item = Item::new();
    item.insert(PK.into(), s(keys::user_pk(user.id)));
    item.insert(SK.into(), s(keys::PROFILE_SK));
    item.insert("kind".into(), s("user"));
    item.insert("id".into(), s(user.id.to_string()));
    item.insert("open_id".into(), s(user.open_id.clone()));
    for (name, value) in [
        ("username", &user.username),
        ("display_name", &user.display_name),
        ("avatar_url", &user.avatar_url),
    ] {
        if let Some(v) = value {
            item.insert(name.into(), s(v.clone()));
        }
    }
    item.insert("scopes".into(), list_s(&user.scopes));
    item.insert("tiktok_link".into(), s(user.tiktok.as_str()));
    item.insert("created_at".into(), s(user.created_at.to_rfc3339()));
    item.insert("updated_at".into(), s(user.updated_at.to_rfc3339()));
    if let Some(at) = user.deletion_requested_at {
        item.insert(DELETION_REQUESTED_AT.into(), s(at.to_rfc3339()));
    }
    item
}

pub(super) fn item_user(item: &Item) -> Result<User, RepoError> {
    Ok(User {
        id: get_s(item, "id")?
            .parse()
            .map_err(|_| RepoError::Corrupt("user id".into()))?,
        open_id: get_s(item, "open_id")?.to_owned(),
        username: opt_s(item, "username"),
        display_name: opt_s(item, "display_name"),
        avatar_url: opt_s(item, "avatar_url"),
        scopes: get_list_s(item, "scopes"),
        tiktok: TikTokLink::parse(get_s(item, "tiktok_link")?)
            .ok_or_else(|| RepoError::Corrupt("tiktok_link".into()))?,
        created_at: parse_time(get_s(item, "created_at")?, "created_at")?,
        updated_at: parse_time(get_s(item, "updated_at")?, "updated_at")?,
        deletion_requested_at: match opt_s(item, DELETION_REQUESTED_AT) {
            Some(at) => Some(parse_time(&at, DELETION_REQUESTED_AT)?),
            None => None,
        },
    })
}

fn identity_item(user: &User) -> Item {
    HashMap::from([
        (PK.to_owned(), s(keys::identity_pk(&user.open_id))),
        (SK.to_owned(), s(keys::IDENTITY_SK)),
        ("kind".to_owned(), s("identity")),
        ("user_id".to_owned(), s(user.id.to_string())),
    ])
}

fn tokens_item(user: UserId, t: &StoredTokens) -> Item {
    let mut item = HashMap::from([
        (PK.to_owned(), s(keys::user_pk(user))),
        (SK.to_owned(), s(keys::TOKENS_SK)),
        ("kind".to_owned(), s("tiktok_tokens")),
        ("key_id".to_owned(), s(t.key_id.clone())),
        ("access_ct".to_owned(), s(t.access_ciphertext.clone())),
        ("refresh_ct".to_owned(), s(t.refresh_ciphertext.clone())),
        ("access_expires_at".to_owned(), epoch(t.access_expires_at)),
        ("refresh_expires_at".to_owned(), epoch(t.refresh_expires_at)),
        ("scopes".to_owned(), list_s(&t.scopes)),
        ("version".to_owned(), n(t.version)),
    ]);
    if let Some(lease) = t.lease_until {
        item.insert("lease_until".into(), epoch(lease));
    }
    if let Some(granted) = t.granted_at {
        item.insert("granted_at".into(), s(granted.to_rfc3339()));
    }
    item
}

pub(super) fn item_tokens(item: &Item) -> Result<StoredTokens, RepoError> {
    Ok(StoredTokens {
        key_id: get_s(item, "key_id")?.to_owned(),
        access_ciphertext: get_s(item, "access_ct")?.to_owned(),
        refresh_ciphertext: get_s(item, "refresh_ct")?.to_owned(),
        access_expires_at: from_epoch(item, "access_expires_at")?,
        refresh_expires_at: from_epoch(item, "refresh_expires_at")?,
        scopes: get_list_s(item, "scopes"),
        granted_at: match opt_s(item, "granted_at") {
            Some(at) => Some(parse_time(&at, "granted_at")?),
            None => None,
        },
        version: get_n(item, "version")?,
        lease_until: if item.contains_key("lease_until") {
            Some(from_epoch(item, "lease_until")?)
        } else {
            None
        },
    })
}

fn session_item(sess: &Session) -> Item {
    let mut item = HashMap::from([
        (PK.to_owned(), s(keys::user_pk(sess.user))),
        (SK.to_owned(), s(keys::session_sk(&sess.id))),
        ("kind".to_owned(), s("session")),
        ("session_id".to_owned(), s(sess.id.as_str())),
        ("user_id".to_owned(), s(sess.user.to_string())),
        ("created_at".to_owned(), s(sess.created_at.to_rfc3339())),
        ("last_used_at".to_owned(), s(sess.last_used_at.to_rfc3339())),
        (EXPIRES_AT.to_owned(), epoch(sess.expires_at)),
        ("refresh_hash".to_owned(), s(sess.refresh_hash.clone())),
        ("used_hashes".to_owned(), list_s(&sess.used_hashes)),
    ]);
    if let Some(ua) = &sess.user_agent {
        item.insert("user_agent".into(), s(ua.clone()));
    }
    if let Some(prev) = &sess.previous {
        item.insert("previous_hash".into(), s(prev.hash.clone()));
        item.insert("rotated_at".into(), s(prev.rotated_at.to_rfc3339()));
    }
    item
}

pub(super) fn item_session(item: &Item) -> Result<Session, RepoError> {
    Ok(Session {
        id: SessionId::parse(get_s(item, "session_id")?)
            .ok_or_else(|| RepoError::Corrupt("session_id".into()))?,
        user: get_s(item, "user_id")?
            .parse()
            .map_err(|_| RepoError::Corrupt("user_id".into()))?,
        created_at: parse_time(get_s(item, "created_at")?, "created_at")?,
        last_used_at: parse_time(get_s(item, "last_used_at")?, "last_used_at")?,
        user_agent: opt_s(item, "user_agent"),
        expires_at: from_epoch(item, EXPIRES_AT)?,
        refresh_hash: get_s(item, "refresh_hash")?.to_owned(),
        used_hashes: get_list_s(item, "used_hashes"),
        previous: match (opt_s(item, "previous_hash"), opt_s(item, "rotated_at")) {
            (Some(hash), Some(at)) => Some(RetiredRefresh {
                hash,
                rotated_at: parse_time(&at, "rotated_at")?,
            }),
            _ => None,
        },
    })
}

#[async_trait]
impl UserRepository for DynamoIdentity {
    #[instrument(skip(self))]
    async fn get(&self, id: UserId) -> Result<Option<User>, RepoError> {
        self.get_item(keys::user_pk(id), keys::PROFILE_SK)
            .await?
            .map(|i| item_user(&i))
            .transpose()
    }

    #[instrument(skip(self))]
    async fn find_by_open_id(&self, open_id: &str) -> Result<Option<User>, RepoError> {
        let Some(identity) = self
            .get_item(keys::identity_pk(open_id), keys::IDENTITY_SK)
            .await?
        else {
            return Ok(None);
        };
        let id: UserId = get_s(&identity, "user_id")?
            .parse()
            .map_err(|_| RepoError::Corrupt("identity user_id".into()))?;
        UserRepository::get(self, id).await
    }

    #[instrument(skip_all, fields(user = %user.id))]
    async fn create_with_tokens(
        &self,
        user: &User,
        tokens: &StoredTokens,
    ) -> Result<(), RepoError> {
        self.transact(vec![
            self.put(identity_item(user), Some("attribute_not_exists(PK)"))?,
            self.put(user_item(user), Some("attribute_not_exists(PK)"))?,
            self.put(tokens_item(user.id, tokens), None)?,
        ])
        .await
    }

    #[instrument(skip_all, fields(user = %user.id))]
    async fn update_with_tokens(
        &self,
        user: &User,
        tokens: &StoredTokens,
    ) -> Result<(), RepoError> {
        // Never over an account being deleted: that would revive it with its old data.
        self.transact(vec![
            self.put(user_item(user), Some(PROFILE_LIVE))?,
            self.put(tokens_item(user.id, tokens), None)?,
        ])
        .await
    }

    #[instrument(skip(self))]
    async fn set_tiktok_link(
        &self,
        id: UserId,
        link: TikTokLink,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(keys::user_pk(id), keys::PROFILE_SK)))
            .update_expression("SET tiktok_link = :link, updated_at = :now")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":link", s(link.as_str()))
            .expression_attribute_values(":now", s(now.to_rfc3339()))
            .send()
            .await
            .map_err(conditional)?;
        Ok(())
    }

    #[instrument(skip_all, fields(user = %user.id))]
    async fn update_profile(&self, user: &User) -> Result<(), RepoError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(user_item(user)))
            .condition_expression(PROFILE_LIVE)
            .send()
            .await
            .map_err(conditional)?;
        Ok(())
    }
}

#[async_trait]
impl TokenVault for DynamoIdentity {
    #[instrument(skip(self))]
    async fn get(&self, user: UserId) -> Result<Option<StoredTokens>, RepoError> {
        self.get_item(keys::user_pk(user), keys::TOKENS_SK)
            .await?
            .map(|i| item_tokens(&i))
            .transpose()
    }

    #[instrument(skip(self))]
    async fn acquire_lease(
        &self,
        user: UserId,
        version: u64,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(keys::user_pk(user), keys::TOKENS_SK)))
            .update_expression("SET lease_until = :until, version = :next")
            .condition_expression(
                "version = :v AND (attribute_not_exists(lease_until) OR lease_until <= :now)",
            )
            .expression_attribute_values(":until", epoch(until))
            .expression_attribute_values(":next", n(version + 1))
            .expression_attribute_values(":v", n(version))
            .expression_attribute_values(":now", epoch(now))
            .send()
            .await
            .map_err(conditional)?;
        Ok(version + 1)
    }

    #[instrument(skip(self, tokens))]
    async fn replace(
        &self,
        user: UserId,
        tokens: &StoredTokens,
        expected_version: u64,
    ) -> Result<(), RepoError> {
        let mut next = tokens.clone();
        next.version = expected_version + 1;
        next.lease_until = None;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(tokens_item(user, &next)))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(expected_version))
            .send()
            .await
            .map_err(conditional)?;
        Ok(())
    }

    #[instrument(skip(self))]
    async fn release_lease(&self, user: UserId, version: u64) -> Result<(), RepoError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(keys::user_pk(user), keys::TOKENS_SK)))
            .update_expression("REMOVE lease_until SET version = :next")
            .condition_expression("version = :v")
            .expression_attribute_values(":next", n(version + 1))
            .expression_attribute_values(":v", n(version))
            .send()
            .await
            .map_err(conditional)?;
        Ok(())
    }

    #[instrument(skip(self))]
    async fn delete(&self, user: UserId) -> Result<(), RepoError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(keys::user_pk(user), keys::TOKENS_SK)))
            .send()
            .await
            .map_err(repo_error)?;
        Ok(())
    }
}

#[async_trait]
impl SessionRepository for DynamoIdentity {
    #[instrument(skip_all, fields(user = %session.user))]
    async fn create(&self, session: &Session) -> Result<(), RepoError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(session_item(session)))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(conditional)?;
        Ok(())
    }

    #[instrument(skip(self))]
    async fn get(
        &self,
        user: UserId,
        id: &SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, RepoError> {
        match self
            .get_item(keys::user_pk(user), &keys::session_sk(id))
            .await?
        {
            Some(item) => {
                let session = item_session(&item)?;
                Ok((session.expires_at > now).then_some(session))
            }
            None => Ok(None),
        }
    }

    #[instrument(skip_all, fields(user = %session.user))]
    async fn replace(&self, session: &Session, expected_hash: &str) -> Result<(), RepoError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(session_item(session)))
            .condition_expression("refresh_hash = :expected")
            .expression_attribute_values(":expected", s(expected_hash))
            .send()
            .await
            .map_err(conditional)?;
        Ok(())
    }

    #[instrument(skip(self))]
    async fn delete(&self, user: UserId, id: &SessionId) -> Result<(), RepoError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(keys::user_pk(user), &keys::session_sk(id))))
            .send()
            .await
            .map_err(repo_error)?;
        Ok(())
    }

    #[instrument(skip(self))]
    async fn delete_all(&self, user: UserId) -> Result<usize, RepoError> {
        let sessions = self.list(user, DateTime::<Utc>::MIN_UTC).await?;
        for s in &sessions {
            SessionRepository::delete(self, user, &s.id).await?;
        }
        Ok(sessions.len())
    }

    #[instrument(skip(self))]
    async fn list(&self, user: UserId, now: DateTime<Utc>) -> Result<Vec<Session>, RepoError> {
        let mut sessions = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":pk", s(keys::user_pk(user)))
                .expression_attribute_values(":prefix", s(keys::SESSION_SK_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(repo_error)?;
            for item in out.items.unwrap_or_default() {
                let session = item_session(&item)?;
                if session.expires_at > now {
                    sessions.push(session);
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        Ok(sessions)
    }
}

#[async_trait]
impl OneTimeStore for DynamoIdentity {
    #[instrument(skip(self, payload, digest))]
    async fn put(
        &self,
        kind: &str,
        digest: &str,
        payload: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(keys::one_time_pk(kind, digest)))
            .item(SK, s(keys::ONE_TIME_SK))
            .item("kind", s(format!("once:{kind}")))
            .item("payload", s(payload))
            .item(EXPIRES_AT, epoch(expires_at))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(conditional)?;
        Ok(())
    }

    #[instrument(skip(self, digest))]
    async fn take(
        &self,
        kind: &str,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, RepoError> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(
                keys::one_time_pk(kind, digest),
                keys::ONE_TIME_SK,
            )))
            .condition_expression("attribute_exists(PK)")
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let item = match res {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(e) if service_code(&e) == Some("ConditionalCheckFailedException") => {
                return Ok(None);
            }
            Err(e) => return Err(repo_error(e)),
        };
        if from_epoch(&item, EXPIRES_AT)? <= now {
            return Ok(None);
        }
        Ok(Some(get_s(&item, "payload")?.to_owned()))
    }
}
