//! The memory of webhook deliveries.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::RepoError;

/// What the delivery memory held for a webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryBegin {
    /// Never seen (or forgotten): the caller processes it, then calls `finish`.
    Started,
    /// Another request is processing the same delivery right now.
    InProgress,
    /// Processed before: acknowledge and ignore.
    Done,
}

/// A delivery as remembered: whether it was processed, and until when it is remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub done: bool,
    /// A claim while processing; a claim whose holder died runs out here.
    pub lease_until: DateTime<Utc>,
    pub remember_until: DateTime<Utc>,
}

impl DeliveryRecord {
    /// What a delivery arriving at `now` finds. Adapters write the same rule as a condition
    /// (claim unless remembered and either done or claimed by someone alive).
    pub fn seen_at(&self, now: DateTime<Utc>) -> DeliveryBegin {
        if self.remember_until <= now {
            DeliveryBegin::Started
        } else if self.done {
            DeliveryBegin::Done
        } else if self.lease_until > now {
            DeliveryBegin::InProgress
        } else {
            DeliveryBegin::Started
        }
    }
}

/// Webhook deliveries already received, keyed by a digest of their body and forgotten by TTL:
/// the replay defence for signed deliveries (TikTok retries for days, and whether a retry is
/// signed again is not documented, so a delivery's age alone cannot tell a retry from a replay).
#[async_trait]
pub trait WebhookDeliveries: Send + Sync + 'static {
    /// Claims the delivery for processing until `lease_until`, remembered until
    /// `remember_until` (conditional write: of two concurrent claims one wins). A delivery
    /// already done is remembered at least until `remember_until` from now on.
    async fn begin(
        &self,
        digest: &str,
        lease_until: DateTime<Utc>,
        remember_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<DeliveryBegin, RepoError>;

    /// Marks a claimed delivery processed.
    async fn finish(&self, digest: &str) -> Result<(), RepoError>;

    /// Drops a claim whose processing failed, so that TikTok's next attempt is processed.
    async fn abandon(&self, digest: &str) -> Result<(), RepoError>;
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn a_remembered_delivery_is_done_in_progress_or_free_to_claim() {
        let claimed = DeliveryRecord {
            done: false,
            lease_until: at(60),
            remember_until: at(1000),
        };
        assert_eq!(claimed.seen_at(at(10)), DeliveryBegin::InProgress);
        assert_eq!(
            claimed.seen_at(at(60)),
            DeliveryBegin::Started,
            "the claim of a holder that died runs out"
        );
        let done = DeliveryRecord {
            done: true,
            ..claimed
        };
        assert_eq!(done.seen_at(at(10)), DeliveryBegin::Done);
        assert_eq!(done.seen_at(at(999)), DeliveryBegin::Done);
        assert_eq!(
            done.seen_at(at(1000)),
            DeliveryBegin::Started,
            "forgotten once its memory ends, even before DynamoDB deletes it"
        );
    }
}
