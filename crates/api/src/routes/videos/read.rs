use actix_web::{HttpResponse, get, web};

use super::dto::{ListVideosQuery, VideoListResponse, VideoResponse};
use super::{cursor, parse_id};
use crate::credentials::AuthenticatedUser;
use crate::problem::{ApiError, ProblemDetails};
use crate::routes::json::SizedJson;
use crate::routes::videos::dto::VideoView;
use crate::state::AppState;

/// List the caller's videos, newest first.
///
/// Pages are stable under concurrent inserts: a cursor continues after the last video seen,
/// and newer videos appear only on a fresh first page.
#[utoipa::path(
    tag = "videos",
    operation_id = "videos.list",
    params(ListVideosQuery),
    responses(
        (status = 200, description = "One page of videos", body = VideoListResponse),
        (status = 400, description = "Invalid query or cursor", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid access token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[get("/videos")]
pub async fn list_videos(
    state: web::Data<AppState>,
    view: web::Data<VideoView>,
    user: AuthenticatedUser,
    query: web::Query<ListVideosQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::new(crate::problem::ErrorCode::InvalidQuery)
            .detail("limit must be between 1 and 100"));
    }
    let after = query.cursor.as_deref().map(cursor::decode).transpose()?;
    let page = state
        .videos()
        .list(user.user_id, query.status, limit, after)
        .await?;
    let page = VideoListResponse {
        items: page
            .videos
            .into_iter()
            .map(|v| VideoResponse::new(v, &view))
            .collect(),
        next_cursor: page.next_after.map(cursor::encode),
    };
    Ok(HttpResponse::Ok().json_sized(&page, page.json_size_hint()))
}

/// One of the caller's videos.
#[utoipa::path(
    tag = "videos",
    operation_id = "videos.get",
    params(("id" = String, Path, description = "Video id")),
    responses(
        (status = 200, description = "The video", body = VideoResponse),
        (status = 401, description = "Missing or invalid access token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such video of the caller", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[get("/videos/{id}")]
pub async fn get_video(
    state: web::Data<AppState>,
    view: web::Data<VideoView>,
    user: AuthenticatedUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let video = state.videos().get(user.user_id, parse_id(&id)?).await?;
    let video = VideoResponse::new(video, &view);
    Ok(HttpResponse::Ok().json_sized(&video, video.json_size_hint()))
}
