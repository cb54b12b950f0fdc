//! TikTok's webhook deliveries: verified, remembered, then applied once.
//!
//! Replays are recognised by remembering deliveries, not by their age. TikTok retries a
//! failed delivery for up to 72 hours and does not say whether a retry is signed again with a
//! fresh `t` (fact sheet §6.1, §11), so refusing old timestamps would also refuse the retries
//! of an event we never processed (after an outage, say). Instead each delivery's body is
//! remembered in DynamoDB (a conditional put, then a TTL): a body seen before is acknowledged
//! and ignored. What remains of the age check is the bound of that memory: a signed `t`
//! older than `POSTIQO_WEBHOOK_TOLERANCE_SECS` (75 h: TikTok's 72 h plus margin) is refused,
//! and a delivery is remembered until its `t` is that old plus an hour, so no delivery can be
//! accepted again after it was forgotten. Timestamps ahead of our clock are allowed only a
//! few minutes of skew.
//!
//! Applying an event is idempotent anyway (publish events move a state machine that does not
//! go back), with one exception the memory cannot cover alone: `authorization.removed`
//! disconnects. A removal older than the user's current grant (they signed in again since)
//! is about a grant that no longer exists and changes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use postiqo_domain::UserId;
use postiqo_storage::{DeliveryBegin, Storage};
use postiqo_tiktok::{
    PublishId, SecretString, SignatureWindow, Webhook, WebhookEvent, parse_webhook_event,
    verify_webhook_signature,
};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::services::account::AccountError;
use crate::services::publishing::PublishError;
use crate::services::publishing::TikTokUpdate;
use crate::services::{AccountService, PublishService};

/// Clock skew allowed for timestamps ahead of ours.
const MAX_AHEAD: Duration = Duration::from_secs(300);
/// Kept beyond the tolerance, so a delivery is never forgotten while its `t` is still
/// accepted (DynamoDB's TTL deletes late, never early, and reads check the time anyway).
const MEMORY_MARGIN: Duration = Duration::from_secs(3600);
/// A claim's lease: far longer than applying one event takes; a claim whose holder died
/// runs out after it and TikTok's next attempt is processed.
const CLAIM_LEASE: Duration = Duration::from_secs(60);

/// Why a delivery was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the TikTok-Signature header is missing, wrong or too old")]
    BadSignature(#[source] postiqo_tiktok::WebhookError),
    /// The same delivery is being processed right now (TikTok sends it again later).
    #[error("this delivery is being processed right now")]
    InProgress,
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Storage(#[from] postiqo_storage::RepoError),
}

/// What a verified delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Applied (or about no video we know).
    Applied,
    /// The user was disconnected (TikTok removed our access).
    Disconnected(UserId),
    /// Seen before: acknowledged, nothing done.
    Duplicate,
    /// An `authorization.removed` older than the user's current grant.
    StaleRemoval,
    /// Signed, but unreadable or about no user of ours: acknowledged so TikTok stops.
    Ignored,
}

#[derive(Clone)]
pub struct WebhookService {
    storage: Storage,
    publish: PublishService,
    account: AccountService,
    secret: SecretString,
    window: SignatureWindow,
}

fn chrono(d: Duration) -> chrono::Duration {
    // Our durations are constants and a tolerance capped at 30 days by config.
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(30))
}

/// The key a delivery is remembered by: its exact bytes. A retry carries the same body
/// whatever its signature, and two events with the same body are the same event.
pub fn delivery_digest(raw_body: &[u8]) -> String {
    hex::encode(Sha256::digest(raw_body))
}

/// Until when a delivery signed at `signed_at` (unix seconds) must be remembered: as long as
/// that timestamp is accepted, plus a margin. (The signature window guarantees that is after
/// `now`; a timestamp that is not a time is remembered from `now`.)
pub fn remember_until(signed_at: i64, now: DateTime<Utc>, max_age: Duration) -> DateTime<Utc> {
    let signed = DateTime::<Utc>::from_timestamp(signed_at, 0).unwrap_or(now);
    signed
        .checked_add_signed(chrono(max_age) + chrono(MEMORY_MARGIN))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Whether an `authorization.removed` created at `event_time` (unix seconds) concerns the
/// grant stored at `granted_at`. Only a removal from before the grant (the user signed in
/// again since) does not; when either time is unknown it is applied, since disconnecting a
/// grant that is really gone is the safe mistake.
pub fn removal_applies(event_time: Option<i64>, granted_at: Option<DateTime<Utc>>) -> bool {
    match (event_time, granted_at) {
        (Some(event), Some(granted)) => event >= granted.timestamp(),
        _ => true,
    }
}

impl WebhookService {
    pub fn new(
        storage: Storage,
        publish: PublishService,
        account: AccountService,
        secret: SecretString,
        tolerance: Duration,
    ) -> Self {
        Self {
            storage,
            publish,
            account,
            secret,
            window: SignatureWindow {
                max_age_secs: tolerance.as_secs(),
                max_ahead_secs: MAX_AHEAD.as_secs(),
            },
        }
    }

    /// Verifies a delivery (signature over the raw body, timestamp window), then applies it
    /// unless it was received before. A delivery whose processing fails is forgotten again,
    /// so TikTok's next attempt is processed.
    pub async fn receive(
        &self,
        signature: &str,
        raw_body: &[u8],
        now: DateTime<Utc>,
        delivery: &mut crate::metrics::WebhookDelivery,
    ) -> Result<Received, WebhookError> {
        let signed_at = verify_webhook_signature(
            signature,
            raw_body,
            &self.secret,
            now.timestamp(),
            self.window,
        )
        .map_err(WebhookError::BadSignature)?;
        delivery.verified();
        let hook = match parse_webhook_event(raw_body) {
            Ok(h) => h,
            Err(e) => {
                delivery.unreadable();
                // Signed by TikTok but not understood: acknowledge so it is not retried forever.
                warn!(error = %e, "unreadable TikTok webhook ignored");
                return Ok(Received::Ignored);
            }
        };
        delivery.event(&hook.event);
        let digest = delivery_digest(raw_body);
        let until = remember_until(
            signed_at,
            now,
            Duration::from_secs(self.window.max_age_secs),
        );
        match self
            .storage
            .webhook_deliveries
            .begin(&digest, now + chrono(CLAIM_LEASE), until, now)
            .await?
        {
            DeliveryBegin::Done => {
                info!(
                    age_secs = now.timestamp() - signed_at,
                    "TikTok webhook delivery seen before; ignored"
                );
                delivery.duplicate();
                return Ok(Received::Duplicate);
            }
            DeliveryBegin::InProgress => {
                return Err(WebhookError::InProgress);
            }
            DeliveryBegin::Started => {}
        }
        match self.apply(hook, delivery).await {
            Ok(received) => {
                if let Err(e) = self.storage.webhook_deliveries.finish(&digest).await {
                    // Applied all the same; the claim lapses and a retry applies it again,
                    // which changes nothing.
                    warn!(error = ?e, "webhook delivery not marked done");
                }
                Ok(received)
            }
            Err(e) => {
                if let Err(forget) = self.storage.webhook_deliveries.abandon(&digest).await {
                    warn!(error = ?forget, "failed webhook delivery not forgotten; its claim lapses");
                }
                Err(e)
            }
        }
    }

    async fn apply(
        &self,
        hook: Webhook,
        delivery: &mut crate::metrics::WebhookDelivery,
    ) -> Result<Received, WebhookError> {
        let Some(user) = self
            .storage
            .users
            .find_by_open_id(hook.user_open_id.as_str())
            .await?
        else {
            delivery.unknown_user();
            info!("webhook for an unknown user ignored");
            return Ok(Received::Ignored);
        };
        match hook.event {
            WebhookEvent::PublishComplete { publish_id } => {
                self.publish_update(
                    user.id,
                    &publish_id,
                    TikTokUpdate::Complete { post_id: None },
                )
                .await
            }
            WebhookEvent::PubliclyAvailable {
                publish_id,
                post_id,
            } => {
                let update = TikTokUpdate::Complete {
                    post_id: Some(post_id.as_str().to_owned()),
                };
                self.publish_update(user.id, &publish_id, update).await
            }
            WebhookEvent::PublishFailed { publish_id, reason } => {
                let update = TikTokUpdate::Failed {
                    reason: reason.as_str().to_owned(),
                };
                self.publish_update(user.id, &publish_id, update).await
            }
            WebhookEvent::AuthorizationRemoved { .. } => {
                let granted_at = self
                    .storage
                    .tokens
                    .get(user.id)
                    .await?
                    .and_then(|t| t.granted_at);
                if !removal_applies(hook.create_time, granted_at) {
                    info!(user_id = %user.id, event_time = ?hook.create_time, ?granted_at, "authorization.removed older than the current TikTok grant; nothing changed");
                    return Ok(Received::StaleRemoval);
                }
                // TikTok already revoked the grant: do what disconnect does, without revoking.
                self.account.disconnect(user.id, false).await?;
                info!(user_id = %user.id, "TikTok authorization removed; user disconnected");
                Ok(Received::Disconnected(user.id))
            }
            other => {
                info!(event = ?std::mem::discriminant(&other), "TikTok webhook without action");
                Ok(Received::Applied)
            }
        }
    }

    async fn publish_update(
        &self,
        user: UserId,
        publish_id: &PublishId,
        update: TikTokUpdate,
    ) -> Result<Received, WebhookError> {
        if let Some(video) = self
            .storage
            .publish
            .video_for_publish_id(user, publish_id.as_str())
            .await?
        {
            self.publish
                .apply_update(user, video, publish_id.as_str(), update)
                .await?;
        }
        Ok(Received::Applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000 + secs, 0).expect("time")
    }

    #[test]
    fn a_removal_from_before_the_current_grant_changes_nothing() {
        let granted = Some(at(100));
        let t = |secs: i64| Some(at(secs).timestamp());
        assert!(
            !removal_applies(t(40), granted),
            "removed, then signed in again"
        );
        assert!(removal_applies(t(100), granted), "the same second: apply");
        assert!(removal_applies(t(160), granted), "removed after the grant");
        assert!(removal_applies(None, granted), "no event time: apply");
        assert!(
            removal_applies(t(40), None),
            "no grant time (no tokens, or stored before it was kept): apply"
        );
    }

    #[test]
    fn a_delivery_is_remembered_as_long_as_its_timestamp_is_accepted() {
        let max_age = Duration::from_secs(75 * 3600);
        let now = at(10_000);
        // A late retry signed long ago, and one signed a little ahead of our clock.
        for signed in [at(10_000 - 70 * 3600), now, at(10_200)] {
            let until = remember_until(signed.timestamp(), now, max_age);
            let last_accepted = signed + chrono(max_age);
            assert!(until > now);
            assert!(
                until > last_accepted,
                "{signed}: {until} <= {last_accepted}"
            );
            assert!(until - last_accepted <= chrono::Duration::hours(1));
        }
        // A nonsense timestamp (it cannot pass the signature window anyway) is not a panic.
        assert!(remember_until(i64::MAX, now, max_age) > now);
    }

    #[test]
    fn deliveries_are_told_apart_by_their_exact_bytes() {
        let a = delivery_digest(br#"{"event":"authorization.removed","create_time":1}"#);
        let b = delivery_digest(br#"{"event":"authorization.removed","create_time":2}"#);
        assert_ne!(a, b);
        assert_eq!(
            a,
            delivery_digest(br#"{"event":"authorization.removed","create_time":1}"#)
        );
        assert_eq!(a.len(), 64);
    }
}
