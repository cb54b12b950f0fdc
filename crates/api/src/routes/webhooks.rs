//! `POST /v1/webhooks/tiktok`: TikTok's event callbacks.

use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::Utc;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::problem::{ApiError, ProblemDetails};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(tiktok_webhook);
}

/// TikTok's webhook envelope, for the document only: the handler verifies the raw bytes before
/// reading anything, and a signed body it cannot read is acknowledged (200) and ignored.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TikTokWebhook {
    pub client_key: String,
    /// e.g. `post.publish.complete`, `post.publish.failed`, `authorization.removed`.
    pub event: String,
    /// Unix seconds.
    pub create_time: i64,
    pub user_openid: String,
    /// The event's details: a JSON document serialized as a string.
    pub content: String,
}

/// Receive a TikTok webhook.
///
/// The `TikTok-Signature` header (`t=<unix>,s=<hex HMAC-SHA256>`) is checked over the raw body
/// with the app's client secret; `t` may be up to `POSTIQO_WEBHOOK_TOLERANCE_SECS` old (TikTok
/// retries for 72 h) and a few minutes ahead; otherwise 401 and nothing changes. Replays are
/// recognised by remembering every delivery: one received before is acknowledged (200) and
/// ignored; one being processed at that moment gets 409 (TikTok sends it again).
/// `post.publish.*` events move the same state machine as status polling;
/// `authorization.removed` disconnects the user (tokens deleted, sessions ended, no second
/// revoke) unless it is older than the user's current grant. Answers 200 `{}` once verified,
/// also for events about unknown users.
#[utoipa::path(
    tag = "publishing",
    operation_id = "webhooks.tiktok",
    request_body(content = TikTokWebhook, description = "TikTok's event JSON, verified byte for byte", content_type = "application/json"),
    params(("TikTok-Signature" = String, Header, description = "t=<unix seconds>,s=<hex HMAC-SHA256(client_secret, t + \".\" + body)>")),
    responses(
        (status = 200, description = "Accepted (also a delivery received before, which changes nothing)"),
        (status = 401, description = "Missing, wrong or stale signature", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The same delivery is being processed right now (TikTok retries)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable (TikTok retries)", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[post("/webhooks/tiktok")]
pub async fn tiktok_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let mut delivery = crate::metrics::WebhookDelivery::start();
    let signature = req
        .headers()
        .get("tiktok-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    state
        .webhooks()
        .receive(signature, &body, Utc::now(), &mut delivery)
        .await?;
    delivery.accepted();
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}
