//! The webhook delivery memory in memory.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::{DeliveryBegin, DeliveryRecord, RepoError, WebhookDeliveries};

#[async_trait]
impl WebhookDeliveries for MemoryStore {
    async fn begin(
        &self,
        digest: &str,
        lease_until: DateTime<Utc>,
        remember_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<DeliveryBegin, RepoError> {
        self.write(|s| {
            let seen = s.deliveries.get(digest).map(|r| r.seen_at(now));
            match seen {
                None | Some(DeliveryBegin::Started) => {
                    s.deliveries.insert(
                        digest.to_owned(),
                        DeliveryRecord {
                            done: false,
                            lease_until,
                            remember_until,
                        },
                    );
                    Ok(DeliveryBegin::Started)
                }
                Some(DeliveryBegin::Done) => {
                    if let Some(r) = s.deliveries.get_mut(digest) {
                        r.remember_until = r.remember_until.max(remember_until);
                    }
                    Ok(DeliveryBegin::Done)
                }
                Some(DeliveryBegin::InProgress) => Ok(DeliveryBegin::InProgress),
            }
        })
    }

    async fn finish(&self, digest: &str) -> Result<(), RepoError> {
        self.write(|s| match s.deliveries.get_mut(digest) {
            Some(r) => {
                r.done = true;
                Ok(())
            }
            None => Err(RepoError::Conflict),
        })
    }

    async fn abandon(&self, digest: &str) -> Result<(), RepoError> {
        self.write(|s| {
            // Only a claim still processing: one done by someone after all stays remembered.
            if s.deliveries.get(digest).is_some_and(|r| !r.done) {
                s.deliveries.remove(digest);
            }
            Ok(())
        })
    }
}
