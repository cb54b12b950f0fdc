//! Key spellings, in one place so the item mapping, queries and docs agree.

use postiqo_domain::{UserId, VideoId, VideoStatus};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const GSI2: &str = "GSI2";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";
/// The TTL attribute (epoch seconds). DynamoDB deletes late, so reads also check it.
pub const EXPIRES_AT: &str = "expires_at";

pub const VIDEO_SK_PREFIX: &str = "VIDEO#";

pub fn user_pk(user: UserId) -> String {
    format!("USER#{user}")
}

pub fn video_sk(video: VideoId) -> String {
    format!("{VIDEO_SK_PREFIX}{video}")
}

/// Partition of one user's videos in one status (GSI1), for `?status=` listings.
pub fn user_status_pk(user: UserId, status: VideoStatus) -> String {
    format!("USER#{user}#STATUS#{status}")
}

pub const PROFILE_SK: &str = "PROFILE";
pub const TOKENS_SK: &str = "TIKTOK_TOKENS";
pub const SESSION_SK_PREFIX: &str = "SESSION#";

pub fn identity_pk(open_id: &str) -> String {
    format!("TIKTOK#{open_id}")
}

pub const IDENTITY_SK: &str = "IDENTITY";

pub fn session_sk(id: &postiqo_domain::SessionId) -> String {
    format!("{SESSION_SK_PREFIX}{id}")
}

pub fn one_time_pk(kind: &str, digest: &str) -> String {
    format!("ONCE#{kind}#{digest}")
}

pub const ONE_TIME_SK: &str = "ONCE";

pub fn job_sk(video: VideoId) -> String {
    format!("PUBJOB#{video}")
}

pub fn publish_lookup_sk(publish_id: &str) -> String {
    format!("PUBLISH#{publish_id}")
}

pub fn idempotency_sk(key_digest: &str) -> String {
    format!("IDEMP#{key_digest}")
}

pub fn rate_sk(name: &str) -> String {
    format!("RATE#{name}")
}

/// A webhook delivery remembered by a digest of its body. Outside every user's partition: a
/// delivery is checked before it is known whose it is, and it goes by TTL only.
pub fn webhook_delivery_pk(digest: &str) -> String {
    format!("WEBHOOK#{digest}")
}

pub const WEBHOOK_DELIVERY_SK: &str = "DELIVERY";

/// Profile attribute set when the account's deletion starts (RFC 3339).
pub const DELETION_REQUESTED_AT: &str = "deletion_requested_at";
