//! What can go wrong in publishing, in its own words. `routes::errors` maps each case to a
//! problem document, once, at the HTTP edge.

use std::time::Duration;

use postiqo_domain::{SettingsError, TransitionError};
use postiqo_storage::RepoError;
use postiqo_tiktok::TikTokError;

use crate::crypto::CryptoError;
use crate::services::ports::TikTokCallError;
use crate::services::tiktok_access::TikTokAccessError;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("no such video of the caller")]
    VideoNotFound,
    /// The caller's profile is gone (account deleted while the session lived).
    #[error("the caller's account no longer exists")]
    AccountGone,
    /// The video is not in a state this allows (e.g. publishing a PENDING video).
    #[error(transparent)]
    WrongState(#[from] TransitionError),
    #[error("only a publish TikTok is still processing can be cancelled")]
    NothingToCancel,
    /// Another publish of the video, or another change, won the race.
    #[error("the video changed concurrently")]
    ConcurrentUpdate,
    #[error("the user did not grant video.publish")]
    ScopeMissing,
    /// A draft needs `video.upload`, which the user did not grant.
    #[error("the user did not grant video.upload")]
    UploadScopeMissing,
    /// `scheduled_at` is too soon or too far ahead.
    #[error("scheduled_at must be between {min_lead_secs} s and 30 days ahead")]
    ScheduleOutOfRange { min_lead_secs: u64 },
    /// The creator's TikTok inbox holds TikTok's maximum of unposted drafts.
    #[error("the creator's TikTok inbox is full")]
    InboxFull { retry_after: Duration },
    /// TikTok's per-user limit for this call would be exceeded (we refuse before TikTok does).
    #[error("TikTok's per-user rate limit is reached")]
    TikTokRateLimited { retry_after: Duration },
    /// TikTok says the creator cannot post right now (daily cap, ban, app cap).
    #[error("TikTok says this creator cannot post now ({code})")]
    CannotPostNow { code: String },
    /// The creator's choices break TikTok's posting rules.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("this idempotency key was used for a different request")]
    IdempotencyKeyReused,
    #[error("a request with this idempotency key is still running")]
    IdempotencyInProgress,
    #[error("TikTok is not connected")]
    NotConnected,
    /// TikTok no longer accepts our access (refresh token or scope refused).
    #[error("TikTok no longer accepts our access")]
    ReauthRequired(#[source] Option<TikTokError>),
    /// TikTok failed, did not answer, or a token refresh is still running elsewhere.
    #[error("TikTok is unavailable")]
    TikTokUnavailable(#[source] Option<TikTokError>),
    #[error("TikTok tokens could not be opened")]
    Tokens(#[source] CryptoError),
    #[error("the request could not be fingerprinted")]
    Fingerprint(#[source] serde_json::Error),
    /// The stored bytes are not the ones upload-complete verified (overwritten, or gone):
    /// nothing is sent to TikTok.
    #[error("the video's stored bytes changed after they were verified")]
    UploadChanged { gone: bool },
    /// TikTok would refuse this video (or this cover) for what its container says: nothing
    /// was sent. Never empty.
    #[error("TikTok would refuse this video ({})", .0.iter().map(|p| p.code()).collect::<Vec<_>>().join(", "))]
    Media(Vec<postiqo_domain::MediaProblem>),
    #[error(transparent)]
    Storage(RepoError),
    #[error(transparent)]
    Blobs(postiqo_storage::BlobError),
}

impl From<RepoError> for PublishError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::Conflict => PublishError::ConcurrentUpdate,
            other => PublishError::Storage(other),
        }
    }
}

impl From<TikTokError> for PublishError {
    fn from(e: TikTokError) -> Self {
        if e.needs_reauthorization() {
            PublishError::ReauthRequired(Some(e))
        } else {
            PublishError::TikTokUnavailable(Some(e))
        }
    }
}

impl From<TikTokAccessError> for PublishError {
    fn from(e: TikTokAccessError) -> Self {
        match e {
            TikTokAccessError::NotConnected => PublishError::NotConnected,
            TikTokAccessError::ReauthRequired => PublishError::ReauthRequired(None),
            TikTokAccessError::RefreshBusy => PublishError::TikTokUnavailable(None),
            TikTokAccessError::TikTok(e) => e.into(),
            TikTokAccessError::Crypto(e) => PublishError::Tokens(e),
            TikTokAccessError::Storage(e) => PublishError::Storage(e),
        }
    }
}

impl From<TikTokCallError> for PublishError {
    fn from(e: TikTokCallError) -> Self {
        match e {
            TikTokCallError::Access(e) => e.into(),
            TikTokCallError::TikTok(e) => e.into(),
        }
    }
}
