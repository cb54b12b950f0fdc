//! The documents a running API serves, serialized once at start-up.
//!
//! Building the document per worker and keeping it as `utoipa` structures (one for
//! `/openapi.json`, one for Swagger UI, per worker) held several MiB of the process's heap
//! for two rarely read routes, and serialized it again on every read.

use actix_web::http::header::ContentType;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpResponse, web};
use utoipa::openapi::OpenApi;

/// Where Swagger UI fetches its copy.
pub const SWAGGER_DOCUMENT: &str = "/swagger-ui/openapi.json";

pub struct Documents {
    full: Bytes,
    swagger: Bytes,
}

impl Documents {
    /// `doc` as served at `/openapi.json`, and its browser-only copy for Swagger UI.
    pub fn new(doc: OpenApi) -> serde_json::Result<Self> {
        let full = Bytes::from(serde_json::to_vec(&doc)?);
        let swagger = Bytes::from(serde_json::to_vec(&super::for_swagger(doc))?);
        Ok(Self { full, swagger })
    }
}

fn json(body: &Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body.clone())
}

/// `GET /openapi.json`: the whole document (both security schemes) for generators and tools.
pub async fn full(docs: Data<Documents>) -> HttpResponse {
    json(&docs.full)
}

/// `GET /swagger-ui/openapi.json`.
pub async fn swagger(docs: Data<Documents>) -> HttpResponse {
    json(&docs.swagger)
}

/// Registers both routes; call before Swagger UI's catch-all `/swagger-ui/{_:.*}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/openapi.json", web::get().to(full))
        .route(SWAGGER_DOCUMENT, web::get().to(swagger));
}
