//! `/v1/me`: the signed-in user.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use postiqo_domain::{TikTokLink, User, UserId};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::credentials::AuthenticatedUser;
use crate::limits::{Limit, client_ip};
use crate::problem::{ApiError, ProblemDetails};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_me).service(sync_me);
}

/// The signed-in user. Never carries a token.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub id: UserId,
    /// TikTok's id of the user for this app.
    pub open_id: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    /// Scopes the user granted to Postiqo on TikTok.
    pub scopes: Vec<String>,
    /// Whether the user granted `video.publish`.
    pub can_publish: bool,
    pub tiktok: TikTokLink,
    pub created_at: DateTime<Utc>,
}

impl From<User> for MeResponse {
    fn from(u: User) -> Self {
        Self {
            can_publish: u.has_scope("video.publish"),
            id: u.id,
            open_id: u.open_id,
            username: u.username,
            display_name: u.display_name,
            avatar_url: u.avatar_url,
            scopes: u.scopes,
            tiktok: u.tiktok,
            created_at: u.created_at,
        }
    }
}

/// The signed-in user's profile.
#[utoipa::path(
    tag = "me",
    operation_id = "me.get",
    responses(
        (status = 200, description = "The user", body = MeResponse),
        (status = 401, description = "Not signed in", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[get("/me")]
pub async fn get_me(
    state: web::Data<AppState>,
    user: AuthenticatedUser,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(MeResponse::from(state.profile().get(user.user_id).await?)))
}

/// Re-read the profile from TikTok (display name and avatar change; avatar URLs expire).
#[utoipa::path(
    tag = "me",
    operation_id = "me.sync",
    responses(
        (status = 200, description = "The updated user", body = MeResponse),
        (status = 401, description = "Not signed in", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "CSRF, or TikTok not connected / needs a new sign-in", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Too many syncs by this user", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 502, description = "TikTok unavailable", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[post("/me/sync")]
pub async fn sync_me(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthenticatedUser,
) -> Result<HttpResponse, ApiError> {
    state
        .limits()
        .check(Limit::Sync, client_ip(&req), Some(user.user_id))?;
    let updated = state.profile().sync(user.user_id).await?;
    Ok(HttpResponse::Ok().json(MeResponse::from(updated)))
}
