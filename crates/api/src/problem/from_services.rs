//! The HTTP edge of the services' typed errors: each says what happened in its own words, and
//! this is the one place that turns it into a problem document (code, status, Retry-After).

use postiqo_tiktok::TikTokError;

use super::{ApiError, ErrorCode};
use crate::extract::field_error;
use crate::services::account::AccountError;
use crate::services::health::NotReady;
use crate::services::media::MediaError;
use crate::services::profile::ProfileError;
use crate::services::publishing::PublishError;
use crate::services::sessions::SessionError;
use crate::services::signin::SignInError;
use crate::services::tiktok_access::TikTokAccessError;
use crate::services::videos::VideoError;
use crate::services::webhooks::WebhookError;

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

/// The code of the first problem; the detail names every one, each with its limit.
fn media_problem(problems: &[postiqo_domain::MediaProblem]) -> ApiError {
    let code = match problems.first() {
        Some(p) => problem_code(p),
        None => ErrorCode::Internal,
    };
    let detail: Vec<String> = problems.iter().map(|p| p.detail()).collect();
    ApiError::new(code).detail(detail.join(" "))
}

/// The stable problem code of a media problem.
pub fn problem_code(p: &postiqo_domain::MediaProblem) -> ErrorCode {
    use postiqo_domain::MediaProblem as M;
    match p {
        M::TooLong { .. } | M::DraftTooLong { .. } => ErrorCode::VideoTooLong,
        M::FrameRateUnsupported { .. } => ErrorCode::FrameRateUnsupported,
        M::ResolutionUnsupported { .. } => ErrorCode::ResolutionUnsupported,
        M::CodecUnsupported { .. } => ErrorCode::CodecUnsupported,
        M::CoverTimestampOutOfRange { .. } => ErrorCode::CoverTimestampOutOfRange,
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
            PublishError::Media(problems) => media_problem(&problems),
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

impl From<VideoError> for ApiError {
    fn from(e: VideoError) -> Self {
        match e {
            VideoError::NotFound => ApiError::new(ErrorCode::VideoNotFound)
                .detail("No video with this id belongs to you."),
            VideoError::WrongState(t) => t.into(),
            VideoError::UploadAlreadyComplete => ApiError::new(ErrorCode::InvalidState)
                .detail("The upload of this video is already complete."),
            VideoError::PartOutOfRange { part, count } => field_error(
                "part_numbers",
                format!("part {part} is outside 1..={count}"),
            ),
            VideoError::PartsMissing => field_error(
                "parts",
                "a multipart upload is completed with the list of its parts and their ETags",
            ),
            VideoError::PartCountWrong { expected, got } => {
                field_error("parts", format!("expected {expected} parts, got {got}"))
            }
            VideoError::UploadMissing => ApiError::new(ErrorCode::UploadMissing).detail(
                "Upload the bytes with the presigned request first, then call this again.",
            ),
            VideoError::UploadMismatch {
                declared_size,
                declared_type,
                found_size,
                found_type,
            } => ApiError::new(ErrorCode::UploadMismatch).detail(format!(
                "Declared {declared_size} bytes of {declared_type}, found {found_size} bytes of {}; the object was removed, upload it again.",
                found_type.as_deref().unwrap_or("unknown type"),
            )),
            VideoError::NotAVideo { declared } => ApiError::new(ErrorCode::UploadNotAVideo)
                .detail(format!(
                    "The object is not a {declared} file; it was removed, upload it again."
                )),
            VideoError::UnreadableContainer { declared, why } => {
                ApiError::new(ErrorCode::UploadNotAVideo).detail(format!(
                    "The object is not a readable {declared} video: {why}. It was removed, upload it again."
                ))
            }
            VideoError::UploadChanged => ApiError::new(ErrorCode::UploadChanged).detail(
                "The object was overwritten while it was being checked; call this again.",
            ),
            VideoError::NoEntityTag => {
                ApiError::new(ErrorCode::Internal).detail("The object store gave no entity tag.")
            }
            VideoError::ConcurrentUpdate => ApiError::new(ErrorCode::ConcurrentUpdate),
            VideoError::Storage(e) => e.into(),
            VideoError::Blobs(e) => e.into(),
        }
    }
}

impl From<SignInError> for ApiError {
    fn from(e: SignInError) -> Self {
        match e {
            SignInError::ReturnToNotAllowed { allowed } => ApiError::new(ErrorCode::InvalidReturnTo)
                .detail(format!(
                    "return_to must be an absolute http(s) URL on an allowed origin (POSTIQO_ALLOWED_ORIGINS): {}.",
                    allowed.join(", ")
                )),
            SignInError::InvalidCodeChallenge => field_error(
                "code_challenge",
                "must be the base64url S256 challenge (43 characters) of your code verifier",
            ),
            SignInError::InvalidGrant => ApiError::new(ErrorCode::InvalidGrant),
            SignInError::InvalidRefreshToken => ApiError::new(ErrorCode::InvalidRefreshToken),
            SignInError::RefreshTokenReused => ApiError::new(ErrorCode::RefreshTokenReused),
            SignInError::Sealing(e) => ApiError::new(ErrorCode::Internal).source(e),
            SignInError::Storage(e) => e.into(),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::InvalidToken(Some(e)) => ApiError::new(ErrorCode::InvalidToken).source(e),
            SessionError::InvalidToken(None) => ApiError::new(ErrorCode::InvalidToken),
            SessionError::Ended => ApiError::new(ErrorCode::SessionEnded),
            SessionError::OriginNotAllowed => {
                ApiError::new(ErrorCode::CsrfFailed).detail("The request's Origin is not allowed.")
            }
            SessionError::CsrfMismatch => ApiError::new(ErrorCode::CsrfFailed),
            SessionError::Storage(e) => e.into(),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::AccountGone => ApiError::new(ErrorCode::SessionEnded),
            AccountError::Storage(e) => e.into(),
            AccountError::Blobs(e) => e.into(),
        }
    }
}

impl From<ProfileError> for ApiError {
    fn from(e: ProfileError) -> Self {
        match e {
            ProfileError::AccountGone => ApiError::new(ErrorCode::SessionEnded),
            ProfileError::TikTok(e) => e.into(),
            ProfileError::Storage(e) => e.into(),
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::BadSignature(e) => {
                ApiError::new(ErrorCode::InvalidWebhookSignature).source(e)
            }
            WebhookError::InProgress => ApiError::new(ErrorCode::WebhookInProgress).retry_after(30),
            WebhookError::Account(e) => e.into(),
            WebhookError::Publish(e) => e.into(),
            WebhookError::Storage(e) => e.into(),
        }
    }
}

impl From<MediaError> for ApiError {
    fn from(e: MediaError) -> Self {
        match e {
            MediaError::NotFound => ApiError::new(ErrorCode::MediaNotFound),
            MediaError::Changed => ApiError::new(ErrorCode::UploadChanged),
            MediaError::Url(e) => ApiError::new(ErrorCode::Internal).source(e),
            MediaError::Blobs(e) => e.into(),
        }
    }
}

impl From<NotReady> for ApiError {
    fn from(e: NotReady) -> Self {
        ApiError::new(ErrorCode::StorageUnavailable)
            .retry_after(2)
            .source(e.cause)
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
