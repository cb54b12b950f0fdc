//! TikTok's two response shapes (fact sheet §8) and request helpers shared by the routes.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode};
use serde_json::{Value, json};

use crate::ids;

/// OAuth endpoints: `{error, error_description, log_id}`.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({
        "error": error,
        "error_description": description,
        "log_id": ids::log_id(),
    }))
}

/// v2 APIs on error: `data` is `{}` (as seen in the wild, §3).
pub(crate) fn api_error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({
        "data": {},
        "error": {"code": code, "message": message, "log_id": ids::log_id()},
    }))
}

pub(crate) fn api_ok(data: Value) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "data": data,
        "error": {"code": "ok", "message": "", "log_id": ids::log_id()},
    }))
}

/// Form or query pairs; the last value of a repeated key wins.
pub(crate) fn pairs(raw: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

pub(crate) fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Content-posting calls must send JSON (§3); a missing or other type is a client bug.
pub(crate) fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        })
}

#[derive(Debug)]
enum Shape {
    Api {
        code: String,
        message: String,
    },
    OAuth {
        error: &'static str,
        description: String,
    },
}

/// A TikTok-shaped error answer. Handlers return it through `?`; the body is built only
/// when actix renders it, which also keeps `Result`s small.
#[derive(Debug)]
pub(crate) struct Reject {
    status: StatusCode,
    shape: Shape,
}

impl Reject {
    pub(crate) fn api(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            shape: Shape::Api {
                code: code.to_owned(),
                message: message.into(),
            },
        }
    }

    pub(crate) fn oauth(
        status: StatusCode,
        error: &'static str,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            shape: Shape::OAuth {
                error,
                description: description.into(),
            },
        }
    }
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.shape {
            Shape::Api { code, message } => write!(f, "{code}: {message}"),
            Shape::OAuth { error, description } => write!(f, "{error}: {description}"),
        }
    }
}

impl actix_web::ResponseError for Reject {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        match &self.shape {
            Shape::Api { code, message } => api_error(self.status, code, message),
            Shape::OAuth { error, description } => oauth_error(self.status, error, description),
        }
    }
}
