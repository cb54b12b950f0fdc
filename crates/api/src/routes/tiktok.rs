//! `GET /v1/tiktok/creator-info`.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::credentials::AuthenticatedUser;
use crate::problem::{ApiError, ProblemDetails};
use crate::services::publishing::CreatorInfo;
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(creator_info);
}

/// What the posting screen must show and offer (TikTok's creator_info, fresh).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatorInfoResponse {
    pub creator_nickname: Option<String>,
    pub creator_username: Option<String>,
    /// Valid for about two hours.
    pub creator_avatar_url: Option<String>,
    /// Offer exactly these, with no default selected.
    #[schema(example = json!(["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]))]
    pub privacy_level_options: Vec<String>,
    /// Grey out the comment toggle when true.
    pub comment_disabled: bool,
    pub duet_disabled: bool,
    pub stitch_disabled: bool,
    /// Longer videos cannot be posted by this creator.
    pub max_video_post_duration_sec: Option<u64>,
}

/// The signed-in creator's TikTok posting options, fresh from TikTok.
///
/// Call it when showing the posting screen. TikTok allows 20 calls a minute per user: over
/// that, 429 with `Retry-After`. When TikTok says the creator cannot post now (daily cap,
/// ban, app cap), the answer is 403 `tiktok_cannot_post_now`.
#[utoipa::path(
    tag = "publishing",
    operation_id = "tiktok.creator_info",
    responses(
        (status = 200, description = "Creator info", body = CreatorInfoResponse),
        (status = 401, description = "Not signed in", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "tiktok_cannot_post_now, tiktok_scope_missing, tiktok_not_connected or tiktok_reauth_required", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over TikTok's 20 calls a minute", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 502, description = "TikTok unavailable", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[get("/tiktok/creator-info")]
pub async fn creator_info(
    state: web::Data<AppState>,
    user: AuthenticatedUser,
) -> Result<HttpResponse, ApiError> {
    let info = state.publish().creator_info(user.user_id).await?;
    Ok(HttpResponse::Ok().json(CreatorInfoResponse::from(info)))
}

impl From<CreatorInfo> for CreatorInfoResponse {
    fn from(info: CreatorInfo) -> Self {
        Self {
            creator_nickname: info.creator_nickname,
            creator_username: info.creator_username,
            creator_avatar_url: info.creator_avatar_url,
            privacy_level_options: info
                .privacy_level_options
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
            comment_disabled: info.comment_disabled,
            duet_disabled: info.duet_disabled,
            stitch_disabled: info.stitch_disabled,
            max_video_post_duration_sec: info.max_video_post_duration_sec,
        }
    }
}
