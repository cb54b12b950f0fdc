//! `POST /v1/videos/{id}/publish` and its cancel.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{DateTime, Utc};
use postiqo_domain::{PublishMode, PublishSettings};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::credentials::AuthenticatedUser;
use crate::extract::field_error;
use crate::limits::{Limit, client_ip};
use crate::problem::{ApiError, ErrorCode, ProblemDetails};
use crate::routes::json::SizedJson;
use crate::routes::videos::dto::VideoResponse;
use crate::routes::videos::dto::VideoView;
use crate::services::publishing::{Once, PublishPlan};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(publish_video)
        .service(cancel_publish)
        .service(super::schedule::move_schedule)
        .service(super::schedule::cancel_schedule);
}

/// The creator's choices, made on the posting screen (TikTok's UX rules: no defaults for the
/// privacy level, toggles off unless chosen). The title is the video's. A draft (`mode:
/// "draft"`) takes none of the choices: the creator makes them in the TikTok app.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// `direct` (default): TikTok publishes it with these choices. `draft`: TikTok puts it in
    /// the creator's TikTok inbox to finish in the app (needs the `video.upload` scope; at most
    /// 5 unposted drafts per creator in 24 h).
    #[serde(default)]
    pub mode: PublishMode,
    /// Publish later: RFC 3339, at least `POSTIQO_SCHEDULE_MIN_LEAD_SECS` (default 60) and at
    /// most 30 days ahead. The video is then `SCHEDULED` until it is due.
    #[schema(example = "2026-12-24T18:00:00Z")]
    pub scheduled_at: Option<DateTime<Utc>>,
    /// Required for `direct`, absent for `draft`: one of the creator's current
    /// `privacy_level_options` from `GET /v1/tiktok/creator-info`.
    #[schema(example = "SELF_ONLY")]
    pub privacy_level: Option<String>,
    #[serde(default)]
    pub disable_comment: bool,
    #[serde(default)]
    pub disable_duet: bool,
    #[serde(default)]
    pub disable_stitch: bool,
    /// Frame to use as the cover, in milliseconds.
    #[serde(default, deserialize_with = "crate::extract::integral::opt_u32")]
    pub video_cover_timestamp_ms: Option<u32>,
    /// Paid partnership (a third-party brand). Cannot be combined with `SELF_ONLY`.
    #[serde(default)]
    pub brand_content_toggle: bool,
    /// Promoting the creator's own business.
    #[serde(default)]
    pub brand_organic_toggle: bool,
    /// Label the post as AI-generated.
    #[serde(default)]
    pub is_aigc: bool,
}

fn idempotency_key(req: &HttpRequest) -> Result<String, ApiError> {
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let ok = (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(key.to_owned())
    } else {
        Err(ApiError::new(ErrorCode::IdempotencyKeyMissing))
    }
}

impl PublishRequest {
    /// What the service is asked to do; a direct publish needs a privacy level, a draft
    /// takes none.
    fn plan(self) -> Result<PublishPlan, ApiError> {
        let settings = match (self.mode, self.privacy_level) {
            (PublishMode::Direct, Some(privacy_level)) => PublishSettings {
                privacy_level,
                disable_comment: self.disable_comment,
                disable_duet: self.disable_duet,
                disable_stitch: self.disable_stitch,
                video_cover_timestamp_ms: self.video_cover_timestamp_ms,
                brand_content_toggle: self.brand_content_toggle,
                brand_organic_toggle: self.brand_organic_toggle,
                is_aigc: self.is_aigc,
            },
            (PublishMode::Direct, None) => {
                return Err(field_error(
                    "privacy_level",
                    "required: choose one of the creator's privacy_level_options",
                ));
            }
            (PublishMode::Draft, Some(_)) => {
                return Err(field_error(
                    "privacy_level",
                    "a draft takes no privacy level: the creator chooses it in the TikTok app",
                ));
            }
            (PublishMode::Draft, None) => PublishSettings::draft(),
        };
        Ok(PublishPlan {
            settings,
            mode: self.mode,
            scheduled_at: self.scheduled_at,
        })
    }
}

/// Publish a video to TikTok (Direct Post or an inbox draft, PULL_FROM_URL), now or later.
///
/// Only from `UPLOADED`, or from `FAILED` as an explicit retry. With `scheduled_at` the answer
/// is 202 with the video `SCHEDULED`: nothing goes to TikTok until it is due, then it starts
/// with fresh creator info (if the chosen privacy level is no longer offered or the creator
/// cannot post then, it ends `FAILED`, retryable, and nothing is posted). With `mode: "draft"`
/// the video goes to the creator's TikTok inbox (`SENT_TO_INBOX`), and becomes `PUBLISHED`
/// when the creator posts it in the app. Either way a video outside TikTok's media limits
/// (see `publish-check`; a draft's duration up to the API's 600 s) is refused with 422
/// before TikTok is called. Requires an `Idempotency-Key`
/// header: the same key with the same body returns the same answer without a second call to
/// TikTok; the same key with another body is 422. Answers 202 with the video in `PUBLISHING`
/// (then follow it with `GET /v1/videos/{id}`), or in `FAILED` with the reason when TikTok
/// refused the publish outright (for example `url_ownership_unverified`). Only the bytes
/// upload-complete verified are ever sent: if the object was overwritten since (its upload
/// URL is still valid for a while), the answer is 409 `upload_changed`.
#[utoipa::path(
    tag = "publishing",
    operation_id = "videos.publish",
    params(
        ("id" = String, Path, description = "Video id"),
        ("Idempotency-Key" = String, Header, description = "Unique per publish intent, 1-255 visible ASCII characters", min_length = 1, max_length = 255, pattern = "^[!-~]+$"),
    ),
    request_body = PublishRequest,
    responses(
        (status = 202, description = "Publishing (or failed at once, with the reason)", body = VideoResponse),
        (status = 400, description = "Missing Idempotency-Key or malformed JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "tiktok_cannot_post_now, tiktok_scope_missing (video.publish; video.upload for drafts), tiktok_not_connected, tiktok_reauth_required, or CSRF", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such video of the caller", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Not UPLOADED/FAILED, a concurrent publish, the same key still running, or upload_changed (the stored bytes were overwritten after upload-complete verified them)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "privacy_level_not_allowed, branded_content_private, schedule_out_of_range, idempotency_key_reused, invalid body, or TikTok's media limits (drafts too): video_too_long, frame_rate_unsupported, resolution_unsupported, codec_unsupported, cover_timestamp_out_of_range", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Over TikTok's per-user limits, or tiktok_inbox_full (5 unposted drafts); see Retry-After", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 502, description = "TikTok unavailable", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[post("/videos/{id}/publish")]
pub async fn publish_video(
    state: web::Data<AppState>,
    view: web::Data<VideoView>,
    user: AuthenticatedUser,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<PublishRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .limits()
        .check(Limit::Publish, client_ip(&req), Some(user.user_id))?;
    let id = super::videos::parse_id(&id)?;
    let key = idempotency_key(&req)?;
    let plan = body.into_inner().plan()?;
    let once = state
        .publish()
        .publish_once(user.user_id, &key, id, plan, |video| {
            serde_json::to_string(&VideoResponse::new(video, &view))
        })
        .await?;
    Ok(match once {
        Once::Ran(body) => HttpResponse::Accepted()
            .content_type("application/json")
            .body(body),
        Once::Replayed { status, body } => {
            HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED))
                .content_type("application/json")
                .insert_header(("Idempotent-Replayed", "true"))
                .body(body)
        }
    })
}

/// Ask TikTok to cancel a publish it is still downloading.
///
/// Best effort (TikTok refuses near the end); when it works the video becomes `FAILED` with
/// `publish_cancelled` shortly after.
#[utoipa::path(
    tag = "publishing",
    operation_id = "videos.cancel_publish",
    params(("id" = String, Path, description = "Video id")),
    responses(
        (status = 202, description = "Cancellation requested", body = VideoResponse),
        (status = 401, description = "Not signed in", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "TikTok access lost, or CSRF", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such video of the caller", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Nothing to cancel", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 502, description = "TikTok refused or is unavailable", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[post("/videos/{id}/publish/cancel")]
pub async fn cancel_publish(
    state: web::Data<AppState>,
    view: web::Data<VideoView>,
    user: AuthenticatedUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = super::videos::parse_id(&id)?;
    let video = state.publish().cancel(user.user_id, id).await?;
    let video = VideoResponse::new(video, &view);
    Ok(HttpResponse::Accepted().json_sized(&video, video.json_size_hint()))
}
