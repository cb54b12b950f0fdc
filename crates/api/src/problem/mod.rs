//! Every error leaves the API as an RFC 9457 problem document (`application/problem+json`).
//!
//! [`ErrorCode`] is the one table of codes, statuses and titles; a code's `type` URI never
//! changes once published (clients branch on it). Internal causes are logged, never sent.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::middleware::current_request_id;

mod from_services;

macro_rules! error_codes {
    ($($variant:ident => $status:ident, $code:literal, $title:literal;)*) => {
        /// Stable problem codes. The `type` of a problem is `urn:postiqo:problem:<code>`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $($variant),* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status),* }
            }

            pub fn code(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),* }
            }

            pub fn title(self) -> &'static str {
                match self { $(ErrorCode::$variant => $title),* }
            }
        }
    };
}

error_codes! {
    BadRequest => BAD_REQUEST, "bad_request", "The request could not be understood";
    Forbidden => FORBIDDEN, "forbidden", "This request is not allowed";
    NotFound => NOT_FOUND, "not_found", "No such resource";
    MethodNotAllowed => METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed on this resource";
    MalformedJson => BAD_REQUEST, "malformed_json", "The request body is not valid JSON";
    InvalidBody => UNPROCESSABLE_ENTITY, "invalid_body", "The request body does not match the expected shape";
    ValidationFailed => UNPROCESSABLE_ENTITY, "validation_failed", "One or more fields are invalid";
    InvalidQuery => BAD_REQUEST, "invalid_query", "The query string is invalid";
    InvalidPath => NOT_FOUND, "not_found", "No such resource";
    InvalidCursor => BAD_REQUEST, "invalid_cursor", "The pagination cursor is invalid";
    UnsupportedMediaType => UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Send the body as application/json";
    PayloadTooLarge => PAYLOAD_TOO_LARGE, "payload_too_large", "The request body is too large";
    RequestTimeout => REQUEST_TIMEOUT, "request_timeout", "The request did not arrive in time";
    HeadersTooLarge => REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large", "The request headers are too large";
    Overloaded => SERVICE_UNAVAILABLE, "overloaded", "The server is busy; retry after the given time";
    Unauthenticated => UNAUTHORIZED, "unauthenticated", "Authentication is required";
    InvalidToken => UNAUTHORIZED, "invalid_token", "The access token is invalid or expired";
    SessionEnded => UNAUTHORIZED, "session_ended", "The session has ended; sign in again";
    CsrfFailed => FORBIDDEN, "csrf_failed", "Missing or wrong X-CSRF-Token for a cookie-authenticated request";
    InvalidReturnTo => BAD_REQUEST, "invalid_return_to", "return_to must be a URL on an allowed origin";
    InvalidLoginState => BAD_REQUEST, "invalid_login_state", "The sign-in state is unknown, used or expired; start again";
    InvalidGrant => BAD_REQUEST, "invalid_grant", "The code is unknown, used, expired or does not match the verifier";
    InvalidRefreshToken => UNAUTHORIZED, "invalid_refresh_token", "The refresh token is invalid or expired";
    RefreshTokenReused => UNAUTHORIZED, "refresh_token_reused", "This refresh token was already used; the session has been ended";
    TikTokNotConnected => FORBIDDEN, "tiktok_not_connected", "TikTok is not connected; sign in with TikTok again";
    TikTokReauthRequired => FORBIDDEN, "tiktok_reauth_required", "TikTok no longer accepts our access; sign in with TikTok again";
    TikTokUnavailable => BAD_GATEWAY, "tiktok_unavailable", "TikTok did not answer correctly; retry shortly";
    TikTokScopeMissing => FORBIDDEN, "tiktok_scope_missing", "The user did not grant video.publish; sign in with TikTok again and allow posting";
    TikTokCannotPostNow => FORBIDDEN, "tiktok_cannot_post_now", "TikTok says this creator cannot post right now";
    PrivacyLevelNotAllowed => UNPROCESSABLE_ENTITY, "privacy_level_not_allowed", "privacy_level must be one of the creator's current options";
    BrandedContentPrivate => UNPROCESSABLE_ENTITY, "branded_content_private", "Branded content cannot be private (SELF_ONLY)";
    IdempotencyKeyMissing => BAD_REQUEST, "idempotency_key_missing", "Send an Idempotency-Key header (1-255 visible ASCII characters)";
    IdempotencyKeyReused => UNPROCESSABLE_ENTITY, "idempotency_key_reused", "This Idempotency-Key was used for a different request";
    IdempotencyInProgress => CONFLICT, "idempotency_in_progress", "A request with this Idempotency-Key is still running; retry shortly";
    RateLimited => TOO_MANY_REQUESTS, "rate_limited", "Too many requests; retry after the given time";
    InvalidWebhookSignature => UNAUTHORIZED, "invalid_webhook_signature", "The TikTok-Signature header is missing, wrong or too old";
    WebhookInProgress => CONFLICT, "webhook_in_progress", "This delivery is being processed right now; send it again later";
    MediaNotFound => NOT_FOUND, "media_not_found", "No such media, or the link expired";
    VideoNotFound => NOT_FOUND, "video_not_found", "No such video";
    InvalidState => CONFLICT, "invalid_state", "The video is not in a state that allows this";
    ConcurrentUpdate => CONFLICT, "concurrent_update", "The video changed while this request ran; retry";
    UploadMissing => CONFLICT, "upload_missing", "The uploaded object is not there yet";
    UploadMismatch => UNPROCESSABLE_ENTITY, "upload_mismatch", "The uploaded object does not match what was declared";
    UploadNotAVideo => UNPROCESSABLE_ENTITY, "upload_not_a_video", "The uploaded object is not a video of the declared type";
    UploadPartsInvalid => UNPROCESSABLE_ENTITY, "upload_parts_invalid", "The uploaded parts do not match the multipart upload";
    UploadChanged => CONFLICT, "upload_changed", "The video's stored bytes changed after they were verified";
    StorageUnavailable => SERVICE_UNAVAILABLE, "storage_unavailable", "Storage is unavailable; retry shortly";
    Internal => INTERNAL_SERVER_ERROR, "internal_error", "Internal error";
}

impl ErrorCode {
    /// The generic code for a status set by a framework layer (not by our handlers).
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 => ErrorCode::Unauthenticated,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            408 => ErrorCode::RequestTimeout,
            413 => ErrorCode::PayloadTooLarge,
            415 => ErrorCode::UnsupportedMediaType,
            431 => ErrorCode::HeadersTooLarge,
            503 => ErrorCode::StorageUnavailable,
            400..=499 => ErrorCode::BadRequest,
            _ => ErrorCode::Internal,
        }
    }

    pub fn type_uri(self) -> String {
        format!("urn:postiqo:problem:{}", self.code())
    }
}

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON pointer-ish location, e.g. `title` or `parts[2].etag`.
    pub field: String,
    pub message: String,
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:postiqo:problem:video_not_found",
    "title": "No such video",
    "status": 404,
    "detail": "No video with this id belongs to you.",
    "code": "video_not_found",
    "request_id": "01J9Z8X6Q2M1T3N5P7R9S1U3W5"
}))]
pub struct ProblemDetails {
    /// Stable URI identifying the problem type.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable machine-readable code (the last segment of `type`).
    pub code: String,
    /// The request id, as echoed in the `X-Request-Id` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// For `invalid_state`: the video's current status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_status: Option<String>,
    /// For validation problems: each invalid field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// An error on its way to becoming a problem response. Boxed: handlers return it on every
/// path, and a small `Result` keeps the happy path cheap.
pub struct ApiError(Box<ApiErrorParts>);

/// The parts of an [`ApiError`]. The `source` is for the logs only.
pub struct ApiErrorParts {
    pub code: ErrorCode,
    pub detail: Option<String>,
    pub current_status: Option<String>,
    pub errors: Option<Vec<FieldError>>,
    pub retry_after: Option<u64>,
    pub allow: Option<String>,
    /// Set when the error is turned into a response outside the request's scope.
    pub request_id: Option<String>,
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl std::ops::Deref for ApiError {
    type Target = ApiErrorParts;

    fn deref(&self) -> &ApiErrorParts {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ApiErrorParts {
        &mut self.0
    }
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        Self(Box::new(ApiErrorParts {
            code,
            detail: None,
            current_status: None,
            errors: None,
            retry_after: None,
            allow: None,
            request_id: None,
            source: None,
        }))
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn source(mut self, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub fn field_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = Some(errors);
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn problem(&self) -> ProblemDetails {
        ProblemDetails {
            type_uri: self.code.type_uri(),
            title: self.code.title().to_owned(),
            status: self.code.status().as_u16(),
            detail: self.detail.clone(),
            code: self.code.code().to_owned(),
            request_id: self.request_id.clone().or_else(current_request_id),
            current_status: self.current_status.clone(),
            errors: self.errors.clone(),
        }
    }
}

/// Writes the error and its whole `source()` chain, for logs.
fn chain(e: &dyn std::error::Error, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{e}")?;
    let mut cur = e.source();
    while let Some(c) = cur {
        write!(f, ": {c}")?;
        cur = c.source();
    }
    Ok(())
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code.code())?;
        if let Some(s) = &self.source {
            f.write_str(" caused by ")?;
            chain(s.as_ref(), f)?;
        }
        Ok(())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code.title())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        if self.code.status().is_server_error() {
            tracing::error!(code = self.code.code(), error = ?self, "request failed");
        } else if self.source.is_some() {
            tracing::warn!(code = self.code.code(), error = ?self, "request refused");
        }
        problem_response(self.code.status(), &self.problem(), |res| {
            if let Some(secs) = self.retry_after {
                res.insert_header((header::RETRY_AFTER, secs.to_string()));
            }
            if let Some(allow) = &self.allow
                && let Ok(v) = HeaderValue::from_str(allow)
            {
                res.insert_header((header::ALLOW, v));
            }
            if let Some(id) = &self.request_id
                && let Ok(v) = HeaderValue::from_str(id)
            {
                res.insert_header(("x-request-id", v));
            }
            if self.code.status() == StatusCode::UNAUTHORIZED {
                res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
        })
    }
}

pub fn problem_response(
    status: StatusCode,
    problem: &ProblemDetails,
    extra: impl FnOnce(&mut actix_web::HttpResponseBuilder),
) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CONTENT_TYPE, "application/problem+json"));
    extra(&mut res);
    match serde_json::to_vec(problem) {
        Ok(body) => res.body(body),
        Err(_) => res.finish(),
    }
}

impl From<postiqo_storage::RepoError> for ApiError {
    fn from(e: postiqo_storage::RepoError) -> Self {
        use postiqo_storage::RepoError as R;
        match e {
            R::NotFound => ApiError::new(ErrorCode::VideoNotFound),
            R::Conflict => ApiError::new(ErrorCode::ConcurrentUpdate),
            R::Unavailable(_) => ApiError::new(ErrorCode::StorageUnavailable)
                .retry_after(2)
                .source(e),
            R::Corrupt(_) | R::Backend(_) => ApiError::new(ErrorCode::Internal).source(e),
        }
    }
}

impl From<postiqo_storage::BlobError> for ApiError {
    fn from(e: postiqo_storage::BlobError) -> Self {
        use postiqo_storage::BlobError as B;
        match e {
            B::NotFound => ApiError::new(ErrorCode::UploadMissing),
            B::InvalidParts(_) => ApiError::new(ErrorCode::UploadPartsInvalid).source(e),
            B::Changed => ApiError::new(ErrorCode::UploadChanged),
            B::Unavailable(_) => ApiError::new(ErrorCode::StorageUnavailable)
                .retry_after(2)
                .source(e),
            B::Backend(_) => ApiError::new(ErrorCode::Internal).source(e),
        }
    }
}

impl From<postiqo_domain::TransitionError> for ApiError {
    fn from(e: postiqo_domain::TransitionError) -> Self {
        let mut err = ApiError::new(ErrorCode::InvalidState).detail(e.to_string());
        err.current_status = Some(e.current.to_string());
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_map_to_error_statuses() {
        let mut seen = std::collections::HashMap::new();
        for c in ErrorCode::ALL {
            assert!(c.status().is_client_error() || c.status().is_server_error());
            assert!(
                c.code()
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '_')
            );
            // A code may be shared only by variants that mean the same thing to a client.
            if let Some(prev) = seen.insert(c.code(), c.status()) {
                assert_eq!(prev, c.status(), "code {} has two statuses", c.code());
            }
        }
    }

    #[test]
    fn server_errors_carry_no_internal_detail() {
        let err = ApiError::new(ErrorCode::Internal).source("dynamodb said: secret table layout");
        let body = serde_json::to_string(&err.problem()).expect("serialize");
        assert!(!body.contains("secret table layout"));
        assert!(body.contains("urn:postiqo:problem:internal_error"));
    }
}
