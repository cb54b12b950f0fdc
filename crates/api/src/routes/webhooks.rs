//! `POST /v1/webhooks/tiktok`: TikTok's event callbacks.

use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::Utc;
use postiqo_tiktok::{WebhookEvent, parse_webhook_event, verify_webhook_signature};
use tracing::{info, warn};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::problem::{ApiError, ErrorCode, ProblemDetails};
use crate::services::publishing::TikTokUpdate;
use crate::startup::AppState;

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
/// with the app's client secret, and `t` must be recent; otherwise 401 and nothing changes.
/// `post.publish.*` events move the same state machine as status polling (duplicates are
/// harmless); `authorization.removed` disconnects the user (tokens deleted, sessions ended,
/// no second revoke). Answers 200 `{}` once verified, also for events about unknown users.
#[utoipa::path(
    tag = "publishing",
    operation_id = "webhooks.tiktok",
    request_body(content = TikTokWebhook, description = "TikTok's event JSON, verified byte for byte", content_type = "application/json"),
    params(("TikTok-Signature" = String, Header, description = "t=<unix seconds>,s=<hex HMAC-SHA256(client_secret, t + \".\" + body)>")),
    responses(
        (status = 200, description = "Accepted"),
        (status = 401, description = "Missing, wrong or stale signature", body = ProblemDetails, content_type = "application/problem+json"),
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
    let tolerance = state.settings.publish.webhook_tolerance.as_secs();
    verify_webhook_signature(
        signature,
        &body,
        &state.settings.tiktok.client_secret,
        Utc::now().timestamp(),
        tolerance,
    )
    .map_err(|e| ApiError::new(ErrorCode::InvalidWebhookSignature).source(e))?;
    delivery.verified();
    let hook = match parse_webhook_event(&body) {
        Ok(h) => h,
        Err(e) => {
            // Signed by TikTok but not understood: acknowledge so it is not retried forever.
            delivery.unreadable();
            warn!(error = %e, "unreadable TikTok webhook ignored");
            return Ok(HttpResponse::Ok().json(serde_json::json!({})));
        }
    };
    delivery.event(&hook.event);
    let open_id = hook.user_open_id.as_str().to_owned();
    let Some(user) = state.storage.users.find_by_open_id(&open_id).await? else {
        delivery.unknown_user();
        info!("webhook for an unknown user ignored");
        return Ok(HttpResponse::Ok().json(serde_json::json!({})));
    };
    let publish_update = |publish_id: &postiqo_tiktok::PublishId, update: TikTokUpdate| {
        let state = state.clone();
        let pid = publish_id.as_str().to_owned();
        async move {
            if let Some(video) = state
                .storage
                .publish
                .video_for_publish_id(user.id, &pid)
                .await?
            {
                state
                    .publish
                    .apply_update(user.id, video, &pid, update)
                    .await?;
            }
            Ok::<(), ApiError>(())
        }
    };
    match hook.event {
        WebhookEvent::PublishComplete { publish_id, .. } => {
            publish_update(&publish_id, TikTokUpdate::Complete { post_id: None }).await?
        }
        WebhookEvent::PubliclyAvailable {
            publish_id,
            post_id,
            ..
        } => {
            publish_update(
                &publish_id,
                TikTokUpdate::Complete {
                    post_id: Some(post_id.as_str().to_owned()),
                },
            )
            .await?
        }
        WebhookEvent::PublishFailed {
            publish_id, reason, ..
        } => {
            publish_update(
                &publish_id,
                TikTokUpdate::Failed {
                    reason: reason.as_str().to_owned(),
                },
            )
            .await?
        }
        WebhookEvent::AuthorizationRemoved { .. } => {
            // TikTok already revoked the grant: do what disconnect does, without revoking.
            state.account.disconnect(user.id, false).await?;
            state.sessions.forget_user(user.id);
            info!(user_id = %user.id, "TikTok authorization removed; user disconnected");
        }
        other => info!(event = ?std::mem::discriminant(&other), "TikTok webhook without action"),
    }
    delivery.accepted();
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}
