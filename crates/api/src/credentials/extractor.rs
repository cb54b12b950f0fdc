use std::future::Future;
use std::pin::Pin;

use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use postiqo_domain::{SessionId, UserId};

use super::cookies;
use crate::problem::{ApiError, ErrorCode};
use crate::services::sessions::Caller;
use crate::state::AppState;

/// The caller, proven by a valid access token of a live session. Handlers that take this are
/// authenticated; there is deliberately no `Option<AuthenticatedUser>`, which would swallow
/// bad tokens.
///
/// The token comes from `Authorization: Bearer` (third-party clients) or the HttpOnly access
/// cookie (the SPA). Cookie-authenticated unsafe requests also need `X-CSRF-Token` and, when
/// the browser sends one, an allowed `Origin`: a cookie alone never authorises a change.
#[derive(Debug, Clone)]
pub struct AuthenticatedUser {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub via_cookie: bool,
}

pub const CSRF_HEADER: &str = "x-csrf-token";

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Checks CSRF for a cookie-authenticated unsafe request of session `sid`.
pub fn check_csrf(req: &HttpRequest, state: &AppState, sid: &SessionId) -> Result<(), ApiError> {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    let presented = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    Ok(state.sessions().check_csrf(sid, origin, presented)?)
}

impl FromRequest for AuthenticatedUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
                return Err(ApiError::new(ErrorCode::Internal).source("AppState missing"));
            };
            let (token, via_cookie) = match bearer(&req) {
                Some(t) => (t, false),
                None => match req.cookie(cookies::access_name(state.cookies())) {
                    Some(c) => (c.value().to_owned(), true),
                    None => {
                        return Err(ApiError::new(ErrorCode::Unauthenticated).detail(
                            "Send an access token as `Authorization: Bearer <token>` or sign in.",
                        ));
                    }
                },
            };
            let caller = state.sessions().verify(&token)?;
            // CSRF before the session read: a forged request costs no storage call.
            if via_cookie && !is_safe(req.method()) {
                check_csrf(&req, &state, &caller.session_id)?;
            }
            state.sessions().ensure_live(&caller).await?;
            let Caller {
                user_id,
                session_id,
            } = caller;
            Ok(AuthenticatedUser {
                user_id,
                session_id,
                via_cookie,
            })
        })
    }
}
