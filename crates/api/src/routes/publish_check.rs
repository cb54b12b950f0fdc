//! `GET /v1/videos/{id}/publish-check`: what a publish would meet, before the button.

use actix_web::{HttpResponse, get, web};
use postiqo_domain::VideoMedia;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::credentials::AuthenticatedUser;
use crate::problem::from_services::problem_code;
use crate::problem::{ApiError, ProblemDetails};
use crate::routes::tiktok::CreatorInfoResponse;
use crate::routes::videos::parse_id;
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(publish_check);
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PublishCheckQuery {
    /// The cover frame the creator picked, if any: checked to fall inside the video.
    #[param(minimum = 0, maximum = 4294967295_u64)]
    pub video_cover_timestamp_ms: Option<u32>,
}

/// One reason TikTok would refuse the publish; `code` is the problem code `publish` answers
/// with for it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublishProblem {
    #[schema(example = "video_too_long")]
    pub code: String,
    #[schema(example = "The video is longer than this creator may post")]
    pub title: String,
    /// What is wrong, with the limit.
    #[schema(example = "The video lasts 700.0 s; this creator may post at most 600 s.")]
    pub detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublishCheckResponse {
    /// True when nothing in `problems` stands in the way (TikTok's own checks still run).
    pub publishable: bool,
    /// Every problem at once, in a fixed order.
    pub problems: Vec<PublishProblem>,
    /// What upload-complete read from the container (absent for videos verified before it
    /// was kept: then only the cover's bound is checked here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<VideoMedia>,
    /// TikTok's creator info, fresh: what the posting screen shows and offers.
    pub creator: CreatorInfoResponse,
}

/// Check a video against TikTok's limits without publishing.
///
/// The same checks `POST /v1/videos/{id}/publish` makes before it calls TikTok (duration
/// against the creator's `max_video_post_duration_sec`, 23-60 frames per second, 360-4096 px
/// on each side, H.264/H.265/VP8/VP9, the cover inside the video), all reported at once, with
/// fresh creator info, so a posting screen can show every problem before the button. Counts
/// against TikTok's 20 creator-info calls a minute.
#[utoipa::path(
    tag = "publishing",
    operation_id = "videos.publish_check",
    params(("id" = String, Path, description = "Video id"), PublishCheckQuery),
    responses(
        (status = 200, description = "The problems a publish would meet (none: publishable)", body = PublishCheckResponse),
        (status = 400, description = "Invalid query", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "tiktok_cannot_post_now, tiktok_scope_missing, tiktok_not_connected or tiktok_reauth_required", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such video of the caller", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The video cannot be published in its state (invalid_state)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over TikTok's 20 creator-info calls a minute", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 502, description = "TikTok unavailable", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[get("/videos/{id}/publish-check")]
pub async fn publish_check(
    state: web::Data<AppState>,
    user: AuthenticatedUser,
    id: web::Path<String>,
    query: web::Query<PublishCheckQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let check = state
        .publish()
        .publish_check(user.user_id, id, query.video_cover_timestamp_ms)
        .await?;
    let problems: Vec<PublishProblem> = check
        .problems
        .iter()
        .map(|p| {
            let code = problem_code(p);
            PublishProblem {
                code: code.code().to_owned(),
                title: code.title().to_owned(),
                detail: p.detail(),
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(PublishCheckResponse {
        publishable: problems.is_empty(),
        problems,
        media: check.video.media,
        creator: check.creator.into(),
    }))
}
