//! `PATCH` and `DELETE /v1/videos/{id}/schedule`: move or cancel a scheduled publish.

use actix_web::{HttpResponse, delete, patch, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::credentials::AuthenticatedUser;
use crate::problem::{ApiError, ProblemDetails};
use crate::routes::json::SizedJson;
use crate::routes::videos::dto::{VideoResponse, VideoView};
use crate::state::AppState;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// The new time, RFC 3339: at least `POSTIQO_SCHEDULE_MIN_LEAD_SECS` (default 60) and at
    /// most 30 days ahead.
    #[schema(example = "2026-12-24T19:30:00Z")]
    pub scheduled_at: DateTime<Utc>,
}

/// Move a scheduled publish to another time.
///
/// Only while the video is `SCHEDULED`; it then starts at the new time only.
#[utoipa::path(
    tag = "publishing",
    operation_id = "videos.reschedule",
    params(("id" = String, Path, description = "Video id")),
    request_body = ScheduleRequest,
    responses(
        (status = 200, description = "The video, SCHEDULED at the new time", body = VideoResponse),
        (status = 400, description = "Malformed JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "CSRF", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such video of the caller", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Not SCHEDULED (already started, cancelled), or changed concurrently", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "schedule_out_of_range or invalid body", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[patch("/videos/{id}/schedule")]
pub async fn move_schedule(
    state: web::Data<AppState>,
    view: web::Data<VideoView>,
    user: AuthenticatedUser,
    id: web::Path<String>,
    body: web::Json<ScheduleRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = super::videos::parse_id(&id)?;
    let video = state
        .publish()
        .reschedule(user.user_id, id, body.into_inner().scheduled_at)
        .await?;
    let video = VideoResponse::new(video, &view);
    Ok(HttpResponse::Ok().json_sized(&video, video.json_size_hint()))
}

/// Cancel a scheduled publish: the video goes back to `UPLOADED` and nothing is sent to
/// TikTok.
#[utoipa::path(
    tag = "publishing",
    operation_id = "videos.cancel_schedule",
    params(("id" = String, Path, description = "Video id")),
    responses(
        (status = 200, description = "The video, UPLOADED again", body = VideoResponse),
        (status = 401, description = "Not signed in", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "CSRF", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such video of the caller", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Not SCHEDULED (already started), or changed concurrently", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[delete("/videos/{id}/schedule")]
pub async fn cancel_schedule(
    state: web::Data<AppState>,
    view: web::Data<VideoView>,
    user: AuthenticatedUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = super::videos::parse_id(&id)?;
    let video = state.publish().cancel_schedule(user.user_id, id).await?;
    let video = VideoResponse::new(video, &view);
    Ok(HttpResponse::Ok().json_sized(&video, video.json_size_hint()))
}
