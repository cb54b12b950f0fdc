use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::problem::{ApiError, ErrorCode, ProblemDetails};
use crate::startup::AppState;

#[derive(Serialize, ToSchema)]
pub struct HealthResponse {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: the process answers. No I/O.
#[utoipa::path(
    tag = "health",
    operation_id = "health.live",
    responses((status = 200, description = "Alive", body = HealthResponse))
)]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthResponse { status: "ok" })
}

/// Readiness: DynamoDB and S3 answer for our table and bucket.
#[utoipa::path(
    tag = "health",
    operation_id = "health.ready",
    responses(
        (status = 200, description = "Ready", body = HealthResponse),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match tokio::time::timeout(Duration::from_secs(3), state.storage.check_ready()).await {
        Ok(Ok(())) => Ok(HttpResponse::Ok().json(HealthResponse { status: "ready" })),
        Ok(Err(e)) => Err(ApiError::new(ErrorCode::StorageUnavailable)
            .retry_after(2)
            .source(e)),
        Err(_) => Err(ApiError::new(ErrorCode::StorageUnavailable)
            .retry_after(2)
            .source("readiness check timed out")),
    }
}
