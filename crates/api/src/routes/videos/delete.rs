use actix_web::{HttpResponse, delete, web};

use super::parse_id;
use crate::credentials::AuthenticatedUser;
use crate::problem::{ApiError, ProblemDetails};
use crate::state::AppState;

/// Delete a video: its record, its object, and any unfinished multipart upload.
///
/// Refused with 409 while the video is `PUBLISHING` (TikTok may still be pulling it).
#[utoipa::path(
    tag = "videos",
    operation_id = "videos.delete",
    params(("id" = String, Path, description = "Video id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid access token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such video of the caller", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Publishing; or changed concurrently", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[delete("/videos/{id}")]
pub async fn delete_video(
    state: web::Data<AppState>,
    user: AuthenticatedUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.videos().delete(user.user_id, parse_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
