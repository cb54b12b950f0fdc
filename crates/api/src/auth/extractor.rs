use std::future::{Ready, ready};

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use postiqo_domain::UserId;

use crate::problem::{ApiError, ErrorCode};
use crate::startup::AppState;

/// The caller, proven by a valid access token. Handlers that take this are authenticated;
/// there is deliberately no `Option<AuthenticatedUser>`, which would swallow bad tokens.
#[derive(Debug, Clone)]
pub struct AuthenticatedUser {
    pub user_id: UserId,
    pub session_id: String,
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequest for AuthenticatedUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(
                ApiError::new(ErrorCode::Internal).source("AppState missing")
            ));
        };
        let Some(token) = bearer(req) else {
            return ready(Err(ApiError::new(ErrorCode::Unauthenticated)
                .detail("Send an access token as `Authorization: Bearer <token>`.")));
        };
        ready(
            state
                .jwt
                .verify(token)
                .map(|(user_id, claims)| AuthenticatedUser {
                    user_id,
                    session_id: claims.sid,
                })
                .map_err(|e| ApiError::new(ErrorCode::InvalidToken).source(e)),
        )
    }
}
