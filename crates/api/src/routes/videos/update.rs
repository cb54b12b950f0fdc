use actix_web::{HttpResponse, patch, web};

use super::dto::{UpdateVideoRequest, VideoResponse};
use super::parse_id;
use crate::credentials::AuthenticatedUser;
use crate::extract::field_error;
use crate::problem::{ApiError, ProblemDetails};
use crate::routes::json::SizedJson;
use crate::routes::videos::dto::VideoView;
use crate::state::AppState;

/// Change a video's title (until it is being published).
#[utoipa::path(
    tag = "videos",
    operation_id = "videos.update",
    params(("id" = String, Path, description = "Video id")),
    request_body = UpdateVideoRequest,
    responses(
        (status = 200, description = "The updated video", body = VideoResponse),
        (status = 400, description = "Malformed JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid access token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such video of the caller", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Publishing or published; or changed concurrently", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid title", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[patch("/videos/{id}")]
pub async fn update_video(
    state: web::Data<AppState>,
    view: web::Data<VideoView>,
    user: AuthenticatedUser,
    id: web::Path<String>,
    body: web::Json<UpdateVideoRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let title = postiqo_domain::Title::parse(body.into_inner().title)
        .map_err(|e| field_error("title", e))?;
    let video = state.videos().edit_title(user.user_id, id, title).await?;
    let video = VideoResponse::new(video, &view);
    Ok(HttpResponse::Ok().json_sized(&video, video.json_size_hint()))
}
