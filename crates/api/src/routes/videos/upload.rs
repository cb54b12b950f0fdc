use crate::routes::json::SizedJson;
use crate::services::videos::CompletedPart;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};
use validator::Validate;

use super::dto::{CompleteUploadRequest, PartUrlsRequest, UploadResponse, VideoResponse};
use super::parse_id;
use crate::credentials::AuthenticatedUser;
use crate::extract::{serde_error, validation_error};
use crate::problem::{ApiError, ErrorCode, ProblemDetails};
use crate::routes::videos::dto::VideoView;
use crate::state::AppState;

/// The body is optional for single uploads, so it is read as bytes: an empty body means `{}`,
/// anything else must be JSON.
fn parse_complete_body(req: &HttpRequest, body: &[u8]) -> Result<CompleteUploadRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(CompleteUploadRequest::default());
    }
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.type_() == "application" && m.subtype() == "json");
    if !is_json {
        return Err(ApiError::new(ErrorCode::UnsupportedMediaType));
    }
    // `null` is the document's "no body" as much as an empty one is.
    let parsed = serde_json::from_slice::<Option<CompleteUploadRequest>>(body)
        .map_err(|e| serde_error(&e))?
        .unwrap_or_default();
    parsed.validate().map_err(|e| validation_error(&e))?;
    Ok(parsed)
}

/// Tell the API the bytes are in S3.
///
/// The API checks the object (exists, declared size and type, container signature) and moves
/// the video to `UPLOADED`. Not there yet: 409 `upload_missing`, the video stays `PENDING`.
/// Wrong size, type or not a video: 422, the object is deleted, the video stays `PENDING` and
/// the client uploads again. Calling it again on an `UPLOADED` video returns the video.
#[utoipa::path(
    tag = "videos",
    operation_id = "videos.complete_upload",
    params(("id" = String, Path, description = "Video id")),
    request_body(content = Option<CompleteUploadRequest>, description = "`{}` or nothing for single uploads; the parts with their ETags for multipart uploads"),
    responses(
        (status = 200, description = "Verified; the video is UPLOADED", body = VideoResponse),
        (status = 400, description = "Malformed JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid access token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such video of the caller", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "upload_missing, upload_changed (the object was overwritten while it was checked: call again), or the video is past uploading", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "upload_mismatch, upload_not_a_video, upload_parts_invalid or invalid body", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[post("/videos/{id}/upload-complete")]
pub async fn complete_upload(
    state: web::Data<AppState>,
    view: web::Data<VideoView>,
    user: AuthenticatedUser,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let parts = parse_complete_body(&req, &body)?.parts.map(|parts| {
        parts
            .into_iter()
            .map(|p| CompletedPart {
                part_number: p.part_number,
                etag: p.etag,
            })
            .collect()
    });
    let video = state
        .videos()
        .complete_upload(user.user_id, id, parts)
        .await?;
    let video = VideoResponse::new(video, &view);
    Ok(HttpResponse::Ok().json_sized(&video, video.json_size_hint()))
}

/// Presign some parts of a multipart upload again (a URL expired or was lost).
#[utoipa::path(
    tag = "videos",
    operation_id = "videos.part_urls",
    params(("id" = String, Path, description = "Video id")),
    request_body = PartUrlsRequest,
    responses(
        (status = 200, description = "Fresh part URLs", body = UploadResponse),
        (status = 400, description = "Malformed JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid access token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such video of the caller", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Not a pending multipart upload", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid part numbers", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[post("/videos/{id}/upload-parts")]
pub async fn part_urls(
    state: web::Data<AppState>,
    user: AuthenticatedUser,
    id: web::Path<String>,
    body: web::Json<PartUrlsRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    body.validate().map_err(|e| validation_error(&e))?;
    let instructions = state
        .videos()
        .part_urls(user.user_id, id, &body.part_numbers)
        .await?;
    Ok(HttpResponse::Ok().json(UploadResponse::new(id, instructions)))
}

/// Presign the upload of a pending video again (the first URL expired or was lost).
#[utoipa::path(
    tag = "videos",
    operation_id = "videos.upload_url",
    params(("id" = String, Path, description = "Video id")),
    responses(
        (status = 200, description = "Fresh upload instructions (all parts for multipart uploads)", body = UploadResponse),
        (status = 401, description = "Missing or invalid access token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such video of the caller", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The video is past uploading", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[post("/videos/{id}/upload-url")]
pub async fn upload_url(
    state: web::Data<AppState>,
    user: AuthenticatedUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let instructions = state.videos().upload_url(user.user_id, id).await?;
    Ok(HttpResponse::Ok().json(UploadResponse::new(id, instructions)))
}
