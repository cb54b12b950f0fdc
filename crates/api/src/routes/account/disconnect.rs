use actix_web::{HttpResponse, post, web};

use super::dto::DisconnectResponse;
use crate::credentials::{AuthenticatedUser, cookies};
use crate::problem::{ApiError, ProblemDetails};
use crate::state::AppState;

/// Disconnect TikTok: revoke Postiqo's access and forget the TikTok tokens.
///
/// Revokes the grant at TikTok, deletes the stored TikTok tokens and ends every session of
/// the user (this one too). The account and its videos stay; signing in with TikTok again
/// reconnects. If TikTok cannot be reached the tokens are deleted anyway and `revocation` is
/// `failed`. Calling it again is harmless.
#[utoipa::path(
    tag = "account",
    operation_id = "auth.tiktok.disconnect",
    responses(
        (status = 200, description = "Disconnected; every session ended, session cookies cleared", body = DisconnectResponse),
        (status = 401, description = "Not signed in", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Cookie request without a valid X-CSRF-Token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable; call again", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[post("/auth/tiktok/disconnect")]
pub async fn disconnect(
    state: web::Data<AppState>,
    user: AuthenticatedUser,
) -> Result<HttpResponse, ApiError> {
    let outcome = state.account().disconnect(user.user_id, true).await?;
    let mut res = HttpResponse::Ok();
    for c in cookies::cleared(state.cookies()) {
        res.cookie(c);
    }
    Ok(res.json(DisconnectResponse::from(outcome)))
}
