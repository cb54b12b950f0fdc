use actix_web::{HttpResponse, post, web};

use super::dto::{CreateVideoRequest, CreateVideoResponse, UploadResponse, VideoResponse};
use crate::credentials::AuthenticatedUser;
use crate::extract::field_error;
use crate::limits::{Limit, client_ip};
use crate::problem::{ApiError, ProblemDetails};
use crate::routes::videos::dto::VideoView;
use crate::services::videos::NewVideo;
use crate::state::AppState;

/// Create a video and get presigned upload instructions.
///
/// The bytes go straight to S3 with the returned request(s); the signature binds the bucket,
/// the key, `Content-Type` and `Content-Length`, so S3 refuses any other type or size. Files
/// above the multipart threshold get one presigned URL per part. Then call `complete_url`.
#[utoipa::path(
    tag = "videos",
    operation_id = "videos.create",
    request_body = CreateVideoRequest,
    responses(
        (status = 201, description = "Video created; upload the bytes next", body = CreateVideoResponse),
        (status = 400, description = "Malformed JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid access token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid title, content type or size", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Too many videos created; see Retry-After", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[post("/videos")]
pub async fn create_video(
    state: web::Data<AppState>,
    view: web::Data<VideoView>,
    user: AuthenticatedUser,
    req: actix_web::HttpRequest,
    body: web::Json<CreateVideoRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .limits()
        .check(Limit::CreateVideo, client_ip(&req), Some(user.user_id))?;
    let body = body.into_inner();
    let new = NewVideo {
        title: postiqo_domain::Title::parse(body.title).map_err(|e| field_error("title", e))?,
        content_type: body.content_type,
        size: postiqo_domain::VideoSize::parse(body.size_bytes, state.videos().max_size())
            .map_err(|e| field_error("size_bytes", e))?,
    };
    let (video, instructions) = state.videos().create(user.user_id, new).await?;
    let id = video.id;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/videos/{id}")))
        .json(CreateVideoResponse {
            video: VideoResponse::new(video, &view),
            upload: UploadResponse::new(id, instructions),
        }))
}
