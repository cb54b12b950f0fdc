use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};

use super::dto::{LoginModeParam, LoginQuery};
use crate::auth::cookies;
use crate::limits::{Limit, client_ip};
use crate::problem::{ApiError, ProblemDetails};
use crate::services::auth::LoginMode;
use crate::startup::AppState;

/// Start signing in with TikTok.
///
/// Redirects to TikTok's consent page. The `state` is random, single-use, valid for 10
/// minutes and bound to this browser by an HttpOnly cookie.
#[utoipa::path(
    tag = "auth",
    operation_id = "auth.login",
    params(LoginQuery),
    responses(
        (status = 302, description = "Redirect to TikTok's consent page"),
        (status = 400, description = "return_to not on an allowed origin, or bad query", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Too many sign-ins from this client", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "mode=code without a valid code_challenge", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/auth/tiktok/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, ApiError> {
    state.limits.check(Limit::SignIn, client_ip(&req), None)?;
    let query = query.into_inner();
    let mode = match query.mode.unwrap_or(LoginModeParam::Cookie) {
        LoginModeParam::Cookie => LoginMode::Cookie,
        LoginModeParam::Code => LoginMode::Code {
            code_challenge: query.code_challenge.unwrap_or_default(),
        },
    };
    let existing = req.cookie(cookies::OAUTH_BINDING);
    let start = state
        .auth
        .begin_login(&query.return_to, mode, existing.as_ref().map(|c| c.value()))
        .await?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, start.authorize_url.to_string()))
        .cookie(cookies::oauth_binding(
            start.binding,
            &state.settings.sessions,
        ))
        .finish())
}
