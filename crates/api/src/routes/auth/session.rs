use actix_web::{HttpRequest, HttpResponse, get, post, web};

use super::dto::{
    CookieKind, CookieSessionResponse, CsrfResponse, GrantType, RefreshRequest, RefreshResponse,
    TokenRequest, TokenResponse,
};
use crate::credentials::{AuthenticatedUser, check_csrf, cookies};
use crate::extract::serde_error;
use crate::limits::{Limit, client_ip};
use crate::problem::{ApiError, ErrorCode, ProblemDetails};
use crate::services::SignInService;
use crate::state::AppState;

/// Exchange a one-time sign-in code (third-party clients).
///
/// After `GET /v1/auth/tiktok/login?mode=code&code_challenge=..`, the browser comes back to
/// `return_to?code=..`; the client trades that code and its PKCE `code_verifier` for tokens.
/// Codes are single-use and live 60 seconds.
#[utoipa::path(
    tag = "auth",
    operation_id = "auth.token",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Tokens", body = TokenResponse),
        (status = 400, description = "invalid_grant or malformed JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Too many sign-ins from this client", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[post("/auth/token")]
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    state.limits().check(Limit::SignIn, client_ip(&req), None)?;
    let TokenRequest {
        grant_type: GrantType::AuthorizationCode,
        code,
        code_verifier,
    } = body.into_inner();
    let tokens = state
        .signin()
        .exchange_login_code(&code, &code_verifier, super::user_agent(&req))
        .await?;
    Ok(HttpResponse::Ok().json(TokenResponse::bearer(
        tokens.access_token,
        tokens.access_expires_in,
        tokens.refresh_token,
    )))
}

/// Rotate the refresh token and get a new access token.
///
/// Bearer clients send `{"refresh_token": ".."}` and get new tokens in the body
/// (`kind: "bearer"`). The SPA sends no body (or `{}`) with its refresh cookie and
/// `X-CSRF-Token`, and gets new cookies (`kind: "cookie"`).
///
/// A refresh token works once. The token a rotation retired, presented again within
/// `POSTIQO_REFRESH_REUSE_INTERVAL_SECS` (default 10 s; two tabs refreshing at once, a retried
/// request), gets the same successor again; presented later, it ends the whole session
/// (`refresh_token_reused`).
#[utoipa::path(
    tag = "auth",
    operation_id = "auth.refresh",
    request_body(content = Option<RefreshRequest>, description = "Optional: bearer clients send their refresh token"),
    responses(
        (status = 200, description = "Bearer clients: new tokens (`kind: bearer`). Cookie clients: new cookies, and `kind: cookie` with the CSRF token in the body", body = RefreshResponse),
        (status = 400, description = "Malformed JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "invalid_refresh_token, or refresh_token_reused (a retired token after the reuse interval: the session is ended)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Cookie refresh without a valid X-CSRF-Token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Too many refreshes of this session (or from this client)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[post("/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // Its own budgets, not the sign-in one: sign-ins from a busy address never cost a session
    // its refresh, and one session refreshing in a loop never costs another.
    state
        .limits()
        .check(Limit::Refresh, client_ip(&req), None)?;
    let parsed: RefreshRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RefreshRequest::default()
    } else {
        // `null` is the document's "no body" as much as an empty one is.
        serde_json::from_slice::<Option<RefreshRequest>>(&body)
            .map_err(|e| serde_error(&e))?
            .unwrap_or_default()
    };
    if let Some(presented) = parsed.refresh_token {
        if let Some((_, sid, _)) = SignInService::parse_refresh_token(&presented) {
            state.limits().check_refresh_session(&sid)?;
        }
        let tokens = state.signin().refresh(&presented).await?;
        return Ok(
            HttpResponse::Ok().json(RefreshResponse::Bearer(TokenResponse::bearer(
                tokens.access_token,
                tokens.access_expires_in,
                tokens.refresh_token,
            ))),
        );
    }
    let cookie = req
        .cookie(cookies::refresh_name(state.cookies()))
        .ok_or_else(|| {
            ApiError::new(ErrorCode::InvalidRefreshToken).detail("No refresh token sent.")
        })?;
    let (_, sid, _) = SignInService::parse_refresh_token(cookie.value())
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidRefreshToken))?;
    // After CSRF: a forged cross-site request must not spend the session's budget.
    check_csrf(&req, &state, &sid)?;
    state.limits().check_refresh_session(&sid)?;
    let tokens = state.signin().refresh(cookie.value()).await?;
    let settings = state.cookies();
    Ok(HttpResponse::Ok()
        .cookie(cookies::access(
            tokens.access_token,
            tokens.access_expires_in,
            settings,
        ))
        .cookie(cookies::refresh(tokens.refresh_token, settings))
        .json(RefreshResponse::Cookie(CookieSessionResponse {
            kind: CookieKind::Cookie,
            expires_in: tokens.access_expires_in,
            csrf_token: tokens.csrf_token,
        })))
}

/// End this session (its access and refresh tokens stop working at once).
#[utoipa::path(
    tag = "auth",
    operation_id = "auth.logout",
    responses(
        (status = 204, description = "Signed out; session cookies cleared"),
        (status = 401, description = "Not signed in", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Cookie request without a valid X-CSRF-Token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[post("/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    user: AuthenticatedUser,
) -> Result<HttpResponse, ApiError> {
    state
        .signin()
        .logout(user.user_id, &user.session_id)
        .await?;
    let mut res = HttpResponse::NoContent();
    for c in cookies::cleared(state.cookies()) {
        res.cookie(c);
    }
    Ok(res.finish())
}

/// The CSRF token of the current session, for the SPA (send it as `X-CSRF-Token`).
#[utoipa::path(
    tag = "auth",
    operation_id = "auth.csrf",
    responses(
        (status = 200, description = "The session's CSRF token", body = CsrfResponse),
        (status = 401, description = "Not signed in", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[get("/auth/csrf")]
pub async fn csrf(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    // A tab whose access cookie expired still holds the refresh cookie (sent to /v1/auth):
    // it must be able to get the CSRF token it needs to refresh.
    let session = match req.cookie(cookies::refresh_name(state.cookies())) {
        Some(c) => state.signin().session_of_refresh_token(c.value()).await?,
        None => None,
    };
    let session = match session {
        Some(s) => s,
        None => {
            use actix_web::FromRequest;
            AuthenticatedUser::extract(&req).await?.session_id
        }
    };
    Ok(HttpResponse::Ok().json(CsrfResponse {
        csrf_token: state.sessions().csrf_token(&session),
    }))
}
