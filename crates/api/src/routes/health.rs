use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::admission::Admission;
use crate::problem::{ApiError, ErrorCode, ProblemDetails};
use crate::state::AppState;

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

/// Readiness: storage answers and the instance is not saturated.
///
/// DynamoDB and S3 must answer for our table and bucket.
/// 503 `overloaded` while every in-flight permit is taken and requests are waiting long or
/// being refused (a load balancer should send traffic elsewhere); 503 `storage_unavailable`
/// when storage does not answer. The storage check is reused for up to 2 s (1 s after a
/// failure), so probing this often costs no AWS calls.
#[utoipa::path(
    tag = "health",
    operation_id = "health.ready",
    responses(
        (status = 200, description = "Ready", body = HealthResponse),
        (status = 503, description = "Storage unavailable, or the instance is saturated", body = ProblemDetails, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
#[get("/readyz")]
pub async fn readyz(
    state: web::Data<AppState>,
    admission: web::Data<Admission>,
) -> Result<HttpResponse, ApiError> {
    if admission.saturated() {
        return Err(ApiError::new(ErrorCode::Overloaded)
            .detail("Every in-flight permit is taken and requests are queuing.")
            .retry_after(admission.retry_after_secs()));
    }
    state.health().storage_ready().await?;
    Ok(HttpResponse::Ok().json(HealthResponse { status: "ready" }))
}
