//! The webhook delivery memory: one item per delivery body, `PK = WEBHOOK#<sha256 of the
//! body>`, `SK = DELIVERY`, gone by TTL.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, TimeZone, Utc};
use tracing::instrument;

use super::item::{get_item, get_n, get_s, key, n, s};
use super::keys::{self, EXPIRES_AT, PK, SK};
use crate::error::conditional;
use crate::{DeliveryBegin, DeliveryRecord, RepoError, WebhookDeliveries};

const PROCESSING: &str = "processing";
const DONE: &str = "done";

#[derive(Clone)]
pub struct DynamoWebhooks {
    client: Client,
    table: String,
}

impl DynamoWebhooks {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    async fn record(&self, digest: &str) -> Result<Option<DeliveryRecord>, RepoError> {
        let Some(item) = get_item(
            &self.client,
            &self.table,
            keys::webhook_delivery_pk(digest),
            keys::WEBHOOK_DELIVERY_SK,
        )
        .await?
        else {
            return Ok(None);
        };
        let time = |name: &str| {
            let secs: i64 = get_n(&item, name)?;
            Utc.timestamp_opt(secs, 0)
                .single()
                .ok_or_else(|| RepoError::Corrupt(format!("attribute {name} is not a time")))
        };
        Ok(Some(DeliveryRecord {
            done: get_s(&item, "state")? == DONE,
            lease_until: time("lease_until")?,
            remember_until: time(EXPIRES_AT)?,
        }))
    }

    /// Makes a delivery already done be remembered until `until` at least.
    async fn remember(&self, digest: &str, until: DateTime<Utc>) -> Result<(), RepoError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::webhook_delivery_pk(digest),
                keys::WEBHOOK_DELIVERY_SK,
            )))
            .update_expression("SET #exp = :until")
            .condition_expression("attribute_exists(#pk) AND #exp < :until")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":until", n(until.timestamp()))
            .send()
            .await
            .map_err(conditional);
        match res {
            // Remembered that long already, or gone meanwhile (nothing to extend).
            Ok(_) | Err(RepoError::Conflict) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl WebhookDeliveries for DynamoWebhooks {
    #[instrument(skip(self))]
    async fn begin(
        &self,
        digest: &str,
        lease_until: DateTime<Utc>,
        remember_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<DeliveryBegin, RepoError> {
        // The same rule as `DeliveryRecord::seen_at`: claim unless remembered and either
        // done or claimed by someone whose lease still runs.
        let claim = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(keys::webhook_delivery_pk(digest)))
            .item(SK, s(keys::WEBHOOK_DELIVERY_SK))
            .item("kind", s("webhook_delivery"))
            .item("state", s(PROCESSING))
            .item("lease_until", n(lease_until.timestamp()))
            .item("first_seen_at", s(now.to_rfc3339()))
            .item(EXPIRES_AT, n(remember_until.timestamp()))
            .condition_expression(
                "attribute_not_exists(#pk) OR #exp <= :now \
                 OR (#state = :processing AND lease_until <= :now)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":processing", s(PROCESSING))
            .send()
            .await
            .map_err(conditional);
        match claim {
            Ok(_) => Ok(DeliveryBegin::Started),
            Err(RepoError::Conflict) => match self.record(digest).await? {
                Some(record) => match record.seen_at(now) {
                    DeliveryBegin::Done => {
                        self.remember(digest, remember_until).await?;
                        Ok(DeliveryBegin::Done)
                    }
                    // Lost a race with a claim that has just ended: let TikTok come again.
                    DeliveryBegin::InProgress | DeliveryBegin::Started => {
                        Ok(DeliveryBegin::InProgress)
                    }
                },
                None => Ok(DeliveryBegin::InProgress),
            },
            Err(e) => Err(e),
        }
    }

    #[instrument(skip(self))]
    async fn finish(&self, digest: &str) -> Result<(), RepoError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::webhook_delivery_pk(digest),
                keys::WEBHOOK_DELIVERY_SK,
            )))
            .update_expression("SET #state = :done")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":done", s(DONE))
            .send()
            .await
            .map_err(conditional)?;
        Ok(())
    }

    #[instrument(skip(self))]
    async fn abandon(&self, digest: &str) -> Result<(), RepoError> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::webhook_delivery_pk(digest),
                keys::WEBHOOK_DELIVERY_SK,
            )))
            .condition_expression("#state = :processing")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":processing", s(PROCESSING))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) => match conditional(e) {
                // Done by someone after all, or gone: nothing to drop.
                RepoError::Conflict => Ok(()),
                other => Err(other),
            },
        }
    }
}
