//! Webhooks (§6): signature check and typed events.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::{
    FailReason, OpenId, PostId, PublishId,
    de::{value_i64, value_id},
};

/// Why a webhook delivery was rejected.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("TikTok-Signature header is malformed")]
    MalformedHeader,
    #[error("webhook signature does not match")]
    SignatureMismatch,
    /// Outside the caller's tolerance, in either direction (replay or clock skew).
    #[error("webhook timestamp is {age_secs} s away from now")]
    TimestampOutOfTolerance { age_secs: i64 },
    #[error("webhook body is not valid JSON")]
    InvalidJson(#[source] serde_json::Error),
    #[error("webhook body has no usable `{0}`")]
    Missing(&'static str),
}

/// How far a delivery's signed timestamp `t` may be from now.
///
/// TikTok sets no tolerance, retries failed deliveries for up to 72 hours and does not say
/// whether a retry is signed again with a fresh `t` (fact sheet §6.1, §11): a short window
/// would refuse the retries of an event whose first delivery failed. Replays are recognised
/// by remembering deliveries instead; this window only bounds how long they must be
/// remembered (and refuses what cannot be a delivery of TikTok's at all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureWindow {
    /// How old `t` may be.
    pub max_age_secs: u64,
    /// How far ahead of our clock `t` may be (clock skew only).
    pub max_ahead_secs: u64,
}

/// Checks `TikTok-Signature: t=<unix>,s=<hex>` (§6.4) against the exact raw body, before
/// any JSON parsing, and returns the signed `t`. The comparison is constant-time
/// (`Mac::verify_slice`).
///
/// `header_value` is the value of the `TikTok-Signature` header (TikTok's own example spells
/// it `Tiktok-Signature`: look the name up case-insensitively). `now_unix` is injected so
/// callers can test deterministically.
pub fn verify_webhook_signature(
    header_value: &str,
    raw_body: &[u8],
    client_secret: &SecretString,
    now_unix: i64,
    window: SignatureWindow,
) -> Result<i64, WebhookError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header_value.split(',') {
        let Some((key, value)) = part.split_once('=') else {
            continue;
        };
        match key.trim() {
            "t" => timestamp = Some(value.trim()),
            "s" => signatures.push(value.trim()),
            _ => {}
        }
    }
    let t_text = timestamp.ok_or(WebhookError::MalformedHeader)?;
    let t: i64 = t_text.parse().map_err(|_| WebhookError::MalformedHeader)?;
    if signatures.is_empty() {
        return Err(WebhookError::MalformedHeader);
    }

    let mut mac = Hmac::<Sha256>::new_from_slice(client_secret.expose_secret().as_bytes())
        .map_err(|_| WebhookError::SignatureMismatch)?;
    // Signed over the timestamp text exactly as sent, not a re-formatted number.
    mac.update(t_text.as_bytes());
    mac.update(b".");
    mac.update(raw_body);
    let matched = signatures
        .iter()
        .any(|sig| hex::decode(sig).is_ok_and(|bytes| mac.clone().verify_slice(&bytes).is_ok()));
    if !matched {
        return Err(WebhookError::SignatureMismatch);
    }

    let age_secs = now_unix.saturating_sub(t);
    let too_old = age_secs > 0 && age_secs.unsigned_abs() > window.max_age_secs;
    let too_new = age_secs < 0 && age_secs.unsigned_abs() > window.max_ahead_secs;
    if too_old || too_new {
        return Err(WebhookError::TimestampOutOfTolerance { age_secs });
    }
    Ok(t)
}

/// `content.reason` of `authorization.removed` (§6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthorizationRemovedReason {
    Unknown,
    UserDisconnected,
    AccountDeleted,
    AgeChanged,
    AccountBanned,
    DeveloperRevoked,
    /// A reason number TikTok added later.
    Other(i64),
}

impl AuthorizationRemovedReason {
    pub fn from_code(code: i64) -> Self {
        match code {
            0 => Self::Unknown,
            1 => Self::UserDisconnected,
            2 => Self::AccountDeleted,
            3 => Self::AgeChanged,
            4 => Self::AccountBanned,
            5 => Self::DeveloperRevoked,
            other => Self::Other(other),
        }
    }
}

/// The event-specific part of a webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookEvent {
    /// The token is already revoked when this arrives; clean up.
    AuthorizationRemoved {
        reason: AuthorizationRemovedReason,
    },
    PublishFailed {
        publish_id: PublishId,
        reason: FailReason,
    },
    PublishComplete {
        publish_id: PublishId,
    },
    InboxDelivered {
        publish_id: PublishId,
    },
    PubliclyAvailable {
        publish_id: PublishId,
        post_id: PostId,
    },
    NoLongerPubliclyAvailable {
        publish_id: PublishId,
        post_id: PostId,
    },
    /// An event this crate does not handle (e.g. legacy `video.*` events).
    Unknown {
        event: String,
    },
}

/// One webhook delivery (§6.2). Deliveries repeat: process idempotently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    pub client_key: String,
    /// Event time, UTC epoch seconds (`None` when missing or not a positive number).
    pub create_time: Option<i64>,
    pub user_open_id: OpenId,
    pub event: WebhookEvent,
}

/// Parses a webhook body; call [`verify_webhook_signature`] on the same bytes first.
pub fn parse_webhook_event(raw_body: &[u8]) -> Result<Webhook, WebhookError> {
    let value: Value = serde_json::from_slice(raw_body).map_err(WebhookError::InvalidJson)?;
    let obj = value.as_object().ok_or(WebhookError::Missing("event"))?;
    let event = obj
        .get("event")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
        .ok_or(WebhookError::Missing("event"))?;
    // `content` is a JSON document inside a string (§6.2); an object is accepted too.
    let content = match obj.get("content") {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            serde_json::from_str::<Value>(s).map_err(WebhookError::InvalidJson)?
        }
        Some(v @ Value::Object(_)) => v.clone(),
        _ => Value::Object(Map::new()),
    };
    let content = content.as_object().cloned().unwrap_or_default();

    let publish_id = || {
        content
            .get("publish_id")
            .and_then(value_id)
            .map(PublishId::new)
            .ok_or(WebhookError::Missing("content.publish_id"))
    };
    let post_id = || {
        content
            .get("post_id")
            .and_then(value_id)
            .map(PostId::new)
            .ok_or(WebhookError::Missing("content.post_id"))
    };
    let event = match event {
        "authorization.removed" => WebhookEvent::AuthorizationRemoved {
            reason: AuthorizationRemovedReason::from_code(
                content.get("reason").and_then(value_i64).unwrap_or(0),
            ),
        },
        "post.publish.failed" => WebhookEvent::PublishFailed {
            publish_id: publish_id()?,
            reason: FailReason::parse(
                content
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
        },
        "post.publish.complete" => WebhookEvent::PublishComplete {
            publish_id: publish_id()?,
        },
        "post.publish.inbox_delivered" => WebhookEvent::InboxDelivered {
            publish_id: publish_id()?,
        },
        "post.publish.publicly_available" => WebhookEvent::PubliclyAvailable {
            publish_id: publish_id()?,
            post_id: post_id()?,
        },
        // The official name is misspelled; the corrected one is accepted as well (§6.3).
        "post.publish.no_longer_publicaly_available"
        | "post.publish.no_longer_publicly_available" => WebhookEvent::NoLongerPubliclyAvailable {
            publish_id: publish_id()?,
            post_id: post_id()?,
        },
        other => WebhookEvent::Unknown {
            event: other.to_owned(),
        },
    };
    Ok(Webhook {
        client_key: obj
            .get("client_key")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        create_time: obj
            .get("create_time")
            .and_then(value_i64)
            .filter(|t| *t > 0),
        user_open_id: OpenId::new(
            obj.get("user_openid")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        ),
        event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "sbx_client_secret";

    fn sign(t: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
        mac.update(t.as_bytes());
        mac.update(b".");
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    fn verify(header: &str, body: &[u8], now: i64) -> Result<i64, WebhookError> {
        let window = SignatureWindow {
            max_age_secs: 300,
            max_ahead_secs: 60,
        };
        verify_webhook_signature(header, body, &SecretString::from(SECRET), now, window)
    }

    #[test]
    fn good_signature() {
        let body = br#"{"event":"post.publish.complete"}"#;
        let header = format!("t=1633174587,s={}", sign("1633174587", body));
        verify(&header, body, 1_633_174_600).expect("valid");
        // Upper-case hex and spaces are tolerated.
        let header = format!(
            " t=1633174587 , s={}",
            sign("1633174587", body).to_uppercase()
        );
        verify(&header, body, 1_633_174_600).expect("valid");
    }

    #[test]
    fn bad_signature_or_body() {
        let body = br#"{"event":"post.publish.complete"}"#;
        let header = format!("t=1633174587,s={}", sign("1633174587", body));
        assert!(matches!(
            verify(&header, b"{}", 1_633_174_600),
            Err(WebhookError::SignatureMismatch)
        ));
        let header = format!("t=1633174588,s={}", sign("1633174587", body));
        assert!(matches!(
            verify(&header, body, 1_633_174_600),
            Err(WebhookError::SignatureMismatch)
        ));
    }

    #[test]
    fn old_or_future_timestamp() {
        let body = b"{}";
        let header = format!("t=1000,s={}", sign("1000", body));
        assert!(matches!(
            verify(&header, body, 1301),
            Err(WebhookError::TimestampOutOfTolerance { age_secs: 301 })
        ));
        // Ahead of our clock only by the (smaller) skew allowance.
        assert!(matches!(
            verify(&header, body, 939),
            Err(WebhookError::TimestampOutOfTolerance { age_secs: -61 })
        ));
        assert_eq!(verify(&header, body, 940).expect("skew"), 1000);
        assert_eq!(verify(&header, body, 1300).expect("within tolerance"), 1000);
    }

    #[test]
    fn garbled_headers() {
        for header in [
            "",
            "garbage",
            "t=abc,s=00",
            "t=1000",
            "s=zz,t=1000",
            "t=1000,s=",
            ",,,",
        ] {
            assert!(verify(header, b"{}", 1000).is_err(), "{header}");
        }
    }

    #[test]
    fn publicly_available_with_string_and_number_post_id() {
        for post_id in [r#"\"7345678901234567891\""#, "7345678901234567891"] {
            let body = format!(
                r#"{{"client_key":"ck","event":"post.publish.publicly_available","create_time":1615338610,
                "user_openid":"o1","content":"{{\"publish_id\":\"v_pub_url~v2.1\",\"post_id\":{post_id},\"publish_type\":\"DIRECT_POST\"}}"}}"#
            );
            let hook = parse_webhook_event(body.as_bytes()).expect("parse");
            assert_eq!(hook.user_open_id.as_str(), "o1");
            assert_eq!(hook.create_time, Some(1_615_338_610));
            assert_eq!(
                hook.event,
                WebhookEvent::PubliclyAvailable {
                    publish_id: PublishId::new("v_pub_url~v2.1"),
                    post_id: PostId::new("7345678901234567891"),
                }
            );
        }
    }

    #[test]
    fn other_events() {
        let parse = |event: &str, content: &str| {
            let body = serde_json::json!({
                "client_key": "ck", "event": event, "create_time": 1, "user_openid": "o",
                "content": content,
            });
            parse_webhook_event(body.to_string().as_bytes()).map(|h| h.event)
        };
        assert_eq!(
            parse("authorization.removed", r#"{"reason":1}"#).expect("ok"),
            WebhookEvent::AuthorizationRemoved {
                reason: AuthorizationRemovedReason::UserDisconnected
            }
        );
        assert_eq!(
            parse(
                "post.publish.failed",
                r#"{"publish_id":"p","reason":"file_format_check_failed"}"#
            )
            .expect("ok"),
            WebhookEvent::PublishFailed {
                publish_id: PublishId::new("p"),
                reason: FailReason::FileFormatCheckFailed
            }
        );
        for spelling in [
            "post.publish.no_longer_publicaly_available",
            "post.publish.no_longer_publicly_available",
        ] {
            assert!(matches!(
                parse(spelling, r#"{"publish_id":"p","post_id":1}"#).expect("ok"),
                WebhookEvent::NoLongerPubliclyAvailable { .. }
            ));
        }
        assert_eq!(
            parse("video.publish.completed", r#"{"share_id":"x"}"#).expect("ok"),
            WebhookEvent::Unknown {
                event: "video.publish.completed".into()
            }
        );
        assert!(matches!(
            parse("post.publish.complete", "{}"),
            Err(WebhookError::Missing("content.publish_id"))
        ));
        assert!(matches!(
            parse("post.publish.complete", "not json"),
            Err(WebhookError::InvalidJson(_))
        ));
        assert!(parse_webhook_event(b"[]").is_err());
        assert!(parse_webhook_event(b"\xff").is_err());
    }
}
