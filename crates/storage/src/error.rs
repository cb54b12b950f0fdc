use std::error::Error as StdError;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

type Source = Box<dyn StdError + Send + Sync + 'static>;

/// What went wrong in a repository call, as the services need to know it.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("record not found")]
    NotFound,
    /// A conditional write lost: the record changed since it was read, or already exists.
    #[error("conditional write failed: the record changed concurrently")]
    Conflict,
    /// The backend could not be reached or is overloaded; retrying later may work.
    #[error("storage unavailable")]
    Unavailable(#[source] Source),
    /// A stored item does not have the shape we write.
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
    #[error("storage request failed")]
    Backend(#[source] Source),
}

/// What went wrong in an object-store call.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("object not found")]
    NotFound,
    /// S3 refused the parts list of a multipart completion (wrong ETag, missing part, too small).
    #[error("the uploaded parts do not match")]
    InvalidParts(#[source] Source),
    /// A read conditioned on an entity tag: the object holds other bytes now.
    #[error("the object changed")]
    Changed,
    #[error("object storage unavailable")]
    Unavailable(#[source] Source),
    #[error("object storage request failed")]
    Backend(#[source] Source),
}

impl From<BlobError> for RepoError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::NotFound => RepoError::NotFound,
            BlobError::Changed => RepoError::Conflict,
            BlobError::Unavailable(s) => RepoError::Unavailable(s),
            BlobError::InvalidParts(s) | BlobError::Backend(s) => RepoError::Backend(s),
        }
    }
}

/// How an SDK failure should be treated, decided once for both services.
pub(crate) enum Class {
    Unavailable,
    Other,
}

/// Transport failures, timeouts, 5xx and throttling mean "try later"; everything else is a
/// request the backend refused. Both SDKs share these smithy types, so one function serves both.
pub(crate) fn classify<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Class {
    match err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            Class::Unavailable
        }
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or_default();
            if status >= 500
                || status == 429
                || matches!(
                    code,
                    "ThrottlingException"
                        | "ProvisionedThroughputExceededException"
                        | "RequestLimitExceeded"
                        | "SlowDown"
                        | "ServiceUnavailable"
                        | "InternalServerError"
                )
            {
                Class::Unavailable
            } else {
                Class::Other
            }
        }
        _ => Class::Other,
    }
}

/// The error code a service returned, if it was a service error.
pub(crate) fn service_code<E: ProvideErrorMetadata>(
    err: &SdkError<E, HttpResponse>,
) -> Option<&str> {
    match err {
        SdkError::ServiceError(se) => se.err().code(),
        _ => None,
    }
}

/// Maps an SDK failure to a repository error, keeping the cause for the logs.
pub(crate) fn repo_error<E>(err: SdkError<E, HttpResponse>) -> RepoError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    match classify(&err) {
        Class::Unavailable => RepoError::Unavailable(Box::new(err)),
        Class::Other => RepoError::Backend(Box::new(err)),
    }
}

/// Maps an SDK failure to an object-store error, keeping the cause for the logs.
pub(crate) fn blob_error<E>(err: SdkError<E, HttpResponse>) -> BlobError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    match classify(&err) {
        Class::Unavailable => BlobError::Unavailable(Box::new(err)),
        Class::Other => BlobError::Backend(Box::new(err)),
    }
}

/// Like [`repo_error`], but a failed condition is [`RepoError::Conflict`]: the record changed
/// (or exists, or is missing) against the write's expectation.
pub(crate) fn conditional<E>(err: SdkError<E, HttpResponse>) -> RepoError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    if service_code(&err) == Some("ConditionalCheckFailedException") {
        RepoError::Conflict
    } else {
        repo_error(err)
    }
}
