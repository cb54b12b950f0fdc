use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};

use super::dto::CallbackQuery;
use crate::credentials::cookies;
use crate::limits::{Limit, client_ip};
use crate::problem::{ApiError, ErrorCode, ProblemDetails};
use crate::services::signin::{CallbackParams, LoginOutcome, SignInFailure};
use crate::state::AppState;

/// TikTok redirects here after consent.
///
/// Success: the account is created or updated, TikTok's tokens are stored (encrypted), a
/// session starts, and the browser goes back to `return_to` (cookie mode: with the session
/// cookies; code mode: with `?code=`). Failure: back to `return_to` with `?error=` one of
/// `access_denied`, `state_cookie_missing` (the browser did not send the cookie set at login:
/// sign-in started on another host than `POSTIQO_PUBLIC_URL`'s, or cookies blocked),
/// `invalid_state`, `tiktok_error`, `server_error`, and a human `error_description`; when the
/// state is unknown there is no safe place to go, and the answer is a 400 problem.
#[utoipa::path(
    tag = "auth",
    operation_id = "auth.callback",
    params(CallbackQuery),
    responses(
        (status = 302, description = "Back to return_to, signed in or with ?error="),
        (status = 400, description = "Unknown, used or expired state", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Too many sign-ins from this client", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage failed before a safe return_to was known", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/auth/tiktok/callback")]
pub async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    state.limits().check(Limit::SignIn, client_ip(&req), None)?;
    let q = query.into_inner();
    let params = CallbackParams {
        code: q.code,
        scopes: q.scopes,
        state: q.state,
        error: q.error,
        error_description: q.error_description,
    };
    let binding = req.cookie(cookies::OAUTH_BINDING);
    let settings = state.cookies();
    match state
        .signin()
        .complete_login(
            params,
            binding.as_ref().map(|c| c.value()),
            super::user_agent(&req),
        )
        .await
    {
        Ok(done) => {
            let mut url = done.return_to;
            let mut res = HttpResponse::Found();
            match done.outcome {
                LoginOutcome::Cookie(tokens) => {
                    res.cookie(cookies::access(
                        tokens.access_token,
                        tokens.access_expires_in,
                        settings,
                    ));
                    res.cookie(cookies::refresh(tokens.refresh_token, settings));
                }
                LoginOutcome::Code(code) => {
                    url.query_pairs_mut().append_pair("code", &code);
                }
            }
            Ok(res
                .insert_header((header::LOCATION, url.to_string()))
                .finish())
        }
        Err(failure) => match failure.return_to {
            Some(mut url) => {
                url.query_pairs_mut()
                    .append_pair("error", error_code(failure.error))
                    .append_pair(
                        "error_description",
                        &describe(failure.error, state.public_url()),
                    );
                Ok(HttpResponse::Found()
                    .insert_header((header::LOCATION, url.to_string()))
                    .finish())
            }
            None if failure.error == SignInFailure::InvalidState => {
                Err(ApiError::new(ErrorCode::InvalidLoginState))
            }
            None => Err(ApiError::new(ErrorCode::StorageUnavailable).retry_after(2)),
        },
    }
}

/// The `error_description` sent back with a sign-in failure: what happened and what to do.
fn describe(error: SignInFailure, public_url: &url::Url) -> String {
    match error {
        SignInFailure::AccessDenied => "The user did not allow the sign-in on TikTok.".to_owned(),
        SignInFailure::StateCookieMissing => format!(
            "The browser did not send back the cookie set when the sign-in started: start the \
             sign-in on {} (the host of POSTIQO_PUBLIC_URL, where TikTok returns), not another \
             name for it, and allow its cookies.",
            public_url.origin().ascii_serialization()
        ),
        SignInFailure::InvalidState => {
            "The sign-in was started in another browser, or already finished: start again."
                .to_owned()
        }
        SignInFailure::TikTok => "TikTok did not complete the sign-in: try again.".to_owned(),
        SignInFailure::Server => {
            "The sign-in could not be completed: try again shortly.".to_owned()
        }
    }
}

/// The documented `error` value of the redirect back to the SPA (README, "Signing in").
fn error_code(error: SignInFailure) -> &'static str {
    match error {
        SignInFailure::InvalidState => "invalid_state",
        SignInFailure::StateCookieMissing => "state_cookie_missing",
        SignInFailure::AccessDenied => "access_denied",
        SignInFailure::TikTok => "tiktok_error",
        SignInFailure::Server => "server_error",
    }
}
