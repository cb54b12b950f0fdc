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
