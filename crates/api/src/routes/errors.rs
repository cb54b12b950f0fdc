//! The HTTP edge of the services' typed errors: each says what happened in its own words, and
//! this is the one place that turns it into a problem document (code, status, Retry-After).

use postiqo_tiktok::TikTokError;

use crate::problem::{ApiError, ErrorCode};
use crate::services::publishing::PublishError;
use crate::services::tiktok_access::TikTokAccessError;

/// A TikTok failure of a user-facing call.
fn tiktok_problem(e: TikTokError) -> ApiError {
    if e.needs_reauthorization() {
        ApiError::new(ErrorCode::TikTokReauthRequired).source(e)
    } else {
        tiktok_unavailable(Some(e))
    }
}

fn tiktok_unavailable(source: Option<TikTokError>) -> ApiError {
    let err = ApiError::new(ErrorCode::TikTokUnavailable).retry_after(5);
    match source {
        Some(e) => err.source(e),
        None => err,
    }
}

impl From<TikTokAccessError> for ApiError {
    fn from(e: TikTokAccessError) -> Self {
        match e {
            TikTokAccessError::NotConnected => ApiError::new(ErrorCode::TikTokNotConnected),
            TikTokAccessError::ReauthRequired => ApiError::new(ErrorCode::TikTokReauthRequired),
            TikTokAccessError::RefreshBusy => tiktok_unavailable(None),
            TikTokAccessError::TikTok(e) => tiktok_problem(e),
            TikTokAccessError::Crypto(e) => ApiError::new(ErrorCode::Internal).source(e),
            TikTokAccessError::Storage(e) => e.into(),
        }
    }
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        match e {
            PublishError::VideoNotFound => ApiError::new(ErrorCode::VideoNotFound),
            PublishError::AccountGone => ApiError::new(ErrorCode::SessionEnded),
            PublishError::WrongState(t) => t.into(),
            PublishError::NothingToCancel => ApiError::new(ErrorCode::InvalidState)
                .detail("Only a publish TikTok is still processing can be cancelled."),
            PublishError::ConcurrentUpdate => ApiError::new(ErrorCode::ConcurrentUpdate),
            PublishError::ScopeMissing => ApiError::new(ErrorCode::TikTokScopeMissing),
            PublishError::UploadScopeMissing => ApiError::new(ErrorCode::TikTokScopeMissing)
                .detail("Drafts need TikTok's video.upload scope: sign in with TikTok again and allow it."),
            PublishError::ScheduleOutOfRange { min_lead_secs } => {
                ApiError::new(ErrorCode::ScheduleOutOfRange).detail(format!(
                    "scheduled_at must be at least {min_lead_secs} seconds and at most 30 days from now."
                ))
            }
            PublishError::InboxFull { retry_after } => ApiError::new(ErrorCode::TikTokInboxFull)
                .detail("TikTok keeps at most 5 drafts a creator has not posted yet, over 24 hours. Post or delete one in the TikTok app, or wait.")
                .retry_after(retry_after.as_secs().max(1)),
            PublishError::TikTokRateLimited { retry_after } => {
                ApiError::new(ErrorCode::RateLimited)
                    .detail("TikTok allows only a few of these calls per minute for one user.")
                    .retry_after(retry_after.as_secs().max(1))
            }
            PublishError::CannotPostNow { code } => ApiError::new(ErrorCode::TikTokCannotPostNow)
                .detail(format!(
                    "TikTok says this creator cannot post right now ({code}). Try again later."
                )),
            PublishError::Settings(postiqo_domain::SettingsError::PrivacyLevelNotAllowed {
                options,
            }) => ApiError::new(ErrorCode::PrivacyLevelNotAllowed)
                .detail(format!("Choose one of: {}.", options.join(", "))),
            PublishError::Settings(postiqo_domain::SettingsError::BrandedContentPrivate) => {
                ApiError::new(ErrorCode::BrandedContentPrivate)
            }
            PublishError::IdempotencyKeyReused => ApiError::new(ErrorCode::IdempotencyKeyReused),
            PublishError::UploadChanged { gone: false } => ApiError::new(ErrorCode::UploadChanged).detail(
                "The video's stored bytes were overwritten after upload-complete verified them, so they will not be sent to TikTok. Delete this video and upload it again.",
            ),
            PublishError::UploadChanged { gone: true } => ApiError::new(ErrorCode::UploadChanged).detail(
                "The video's bytes are no longer in storage. Delete this video and upload it again.",
            ),
            PublishError::Blobs(e) => e.into(),
            PublishError::IdempotencyInProgress => {
                ApiError::new(ErrorCode::IdempotencyInProgress).retry_after(1)
            }
            PublishError::NotConnected => ApiError::new(ErrorCode::TikTokNotConnected),
            PublishError::ReauthRequired(source) => {
                let err = ApiError::new(ErrorCode::TikTokReauthRequired);
                match source {
                    Some(e) => err.source(e),
                    None => err,
                }
            }
            PublishError::TikTokUnavailable(source) => tiktok_unavailable(source),
            PublishError::Tokens(e) => ApiError::new(ErrorCode::Internal).source(e),
            PublishError::Fingerprint(e) => ApiError::new(ErrorCode::Internal).source(e),
            PublishError::Storage(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn publishing_errors_keep_their_problem_codes() {
        let cases: Vec<(PublishError, ErrorCode, Option<u64>)> = vec![
            (PublishError::VideoNotFound, ErrorCode::VideoNotFound, None),
            (
                PublishError::TikTokRateLimited {
                    retry_after: Duration::from_millis(300),
                },
                ErrorCode::RateLimited,
                Some(1),
            ),
            (
                PublishError::IdempotencyInProgress,
                ErrorCode::IdempotencyInProgress,
                Some(1),
            ),
            (
                PublishError::TikTokUnavailable(None),
                ErrorCode::TikTokUnavailable,
                Some(5),
            ),
            (PublishError::NothingToCancel, ErrorCode::InvalidState, None),
            (
                PublishError::InboxFull {
                    retry_after: Duration::from_secs(3600),
                },
                ErrorCode::TikTokInboxFull,
                Some(3600),
            ),
            (
                PublishError::ScheduleOutOfRange { min_lead_secs: 60 },
                ErrorCode::ScheduleOutOfRange,
                None,
            ),
            (
                PublishError::UploadScopeMissing,
                ErrorCode::TikTokScopeMissing,
                None,
            ),
            (
                PublishError::from(TikTokAccessError::ReauthRequired),
                ErrorCode::TikTokReauthRequired,
                None,
            ),
            (
                PublishError::from(postiqo_storage::RepoError::Conflict),
                ErrorCode::ConcurrentUpdate,
                None,
            ),
        ];
        for (e, code, retry) in cases {
            let api = ApiError::from(e);
            assert_eq!(api.code, code);
            assert_eq!(api.retry_after, retry, "{code:?}");
        }
    }

    #[test]
    fn a_wrong_state_names_the_current_status() {
        let api = ApiError::from(PublishError::WrongState(postiqo_domain::TransitionError {
            current: postiqo_domain::VideoStatus::Pending,
            action: postiqo_domain::VideoAction::StartPublish,
        }));
        assert_eq!(api.code, ErrorCode::InvalidState);
        assert_eq!(api.current_status.as_deref(), Some("PENDING"));
    }
}
