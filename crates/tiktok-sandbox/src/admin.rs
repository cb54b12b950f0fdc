//! `/_sandbox/*`: JSON control routes for developers and tests (documented in README.md).
//! Not part of TikTok; never rate limited or affected by faults.

use std::{collections::BTreeMap, time::Instant};

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    faults::FaultRule,
    media::{INBOX_SHARE, fail, release_post},
    model::{PublishState, SettingsPatch, TestUser, UserSpec},
    ratelimit::Endpoint,
    state::AppState,
    webhooks::emit,
};

fn not_found(what: &str) -> HttpResponse {
    HttpResponse::NotFound().json(json!({ "error": format!("no such {what}") }))
}

fn bad_request(message: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({ "error": message }))
}

#[get("/_sandbox/users")]
async fn list_users(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(&state.lock().users)
}

/// Creates the user named by `username`, or updates it if it exists.
#[post("/_sandbox/users")]
async fn upsert_user(state: web::Data<AppState>, spec: web::Json<UserSpec>) -> HttpResponse {
    let spec = spec.into_inner();
    let Some(username) = spec.username.clone().filter(|u| !u.trim().is_empty()) else {
        return bad_request("username is required");
    };
    let mut inner = state.lock();
    let cap = inner.settings.daily_post_cap;
    if inner.user(&username).is_none() {
        inner.users.push(TestUser::new(&username, cap));
    }
    let Some(user) = inner.user_mut(&username) else {
        return not_found("user");
    };
    spec.apply(user);
    HttpResponse::Ok().json(user.clone())
}

#[get("/_sandbox/users/{user}")]
async fn get_user(state: web::Data<AppState>, key: web::Path<String>) -> HttpResponse {
    match state.lock().user(&key) {
        Some(u) => HttpResponse::Ok().json(u),
        None => not_found("user"),
    }
}

#[patch("/_sandbox/users/{user}")]
async fn patch_user(
    state: web::Data<AppState>,
    key: web::Path<String>,
    spec: web::Json<UserSpec>,
) -> HttpResponse {
    let mut inner = state.lock();
    match inner.user_mut(&key) {
        Some(u) => {
            spec.into_inner().apply(u);
            HttpResponse::Ok().json(u.clone())
        }
        None => not_found("user"),
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct DisconnectBody {
    /// `authorization.removed` reason; 1 = user disconnected the app (fact sheet §6.3).
    reason: Option<i64>,
}

/// The user removes the app in TikTok: grants die, running publishes fail with
/// `auth_removed`, and `authorization.removed` is sent.
#[post("/_sandbox/users/{user}/disconnect")]
async fn disconnect_user(
    state: web::Data<AppState>,
    key: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let body: DisconnectBody = if body.is_empty() {
        DisconnectBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => return bad_request(&e.to_string()),
        }
    };
    let (open_id, had_grant, running) = {
        let mut inner = state.lock();
        let Some(open_id) = inner.user(&key).map(|u| u.open_id.clone()) else {
            return not_found("user");
        };
        let had_grant = inner.revoke_user(&open_id);
        let running: Vec<String> = inner
            .publishes
            .iter()
            .filter(|p| p.open_id == open_id && p.status == PublishState::ProcessingDownload)
            .map(|p| p.publish_id.clone())
            .collect();
        (open_id, had_grant, running)
    };
    for publish_id in &running {
        fail(&state, publish_id, "auth_removed");
    }
    let reason = body.reason.unwrap_or(1);
    emit(
        &state,
        &open_id,
        "authorization.removed",
        json!({ "reason": reason }),
    );
    HttpResponse::Ok().json(json!({
        "open_id": open_id,
        "revoked": had_grant,
        "failed_publishes": running,
    }))
}

#[get("/_sandbox/stats")]
async fn get_stats(state: web::Data<AppState>) -> HttpResponse {
    let mut inner = state.lock();
    let rate = inner.rate.stats(Instant::now());
    let status_fetches: BTreeMap<&str, Value> = rate
        .iter()
        .filter(|r| r.endpoint == Endpoint::StatusFetch)
        .map(|r| {
            (
                r.token.as_str(),
                json!({"last_minute": r.last_minute, "max_in_any_60s": r.max_in_any_60s}),
            )
        })
        .collect();
    let max_status = rate
        .iter()
        .filter(|r| r.endpoint == Endpoint::StatusFetch)
        .map(|r| r.max_in_any_60s)
        .max()
        .unwrap_or(0);
    let mut webhooks: BTreeMap<&str, u64> = BTreeMap::new();
    for w in &inner.webhooks {
        *webhooks.entry(w.outcome.as_str()).or_default() += 1;
    }
    let body = json!({
        "users": inner.users.len(),
        "active_grants": inner.grants.values().filter(|g| !g.revoked).count(),
        "inits_by_open_id": inner.inits_by_open_id,
        "status_fetches_by_token": status_fetches,
        "max_status_fetches_in_any_60s": max_status,
        "rate_limits": rate,
        "revoked_tokens": inner.revoked_access_tokens(),
        "pkce_matches": inner.pkce_matches,
        "publishes": inner.publishes,
        "webhooks": webhooks,
    });
    HttpResponse::Ok().json(body)
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct PostFromInboxBody {
    /// What the creator chose in the app; a public post gets a post id after moderation.
    privacy_level: Option<String>,
}

/// Plays "the creator posted the draft from the TikTok inbox": the publish becomes
/// `PUBLISH_COMPLETE` and `post.publish.complete` (`INBOX_SHARE`) is sent; a public post
/// then gets its post id and `post.publish.publicly_available`, like a Direct Post.
#[post("/_sandbox/publishes/{publish_id}/post-from-inbox")]
async fn post_from_inbox(
    state: web::Data<AppState>,
    publish_id: web::Path<String>,
    body: Option<web::Json<PostFromInboxBody>>,
) -> HttpResponse {
    let privacy = body
        .and_then(|b| b.into_inner().privacy_level)
        .unwrap_or_else(|| "PUBLIC_TO_EVERYONE".to_owned());
    let open_id = {
        let mut inner = state.lock();
        let Some(p) = inner.publish_mut(&publish_id) else {
            return not_found("publish");
        };
        if !p.inbox || p.status != PublishState::SendToUserInbox {
            return bad_request("only a draft waiting in the creator's inbox can be posted");
        }
        p.status = PublishState::PublishComplete;
        p.privacy_level = privacy.clone();
        p.open_id.clone()
    };
    emit(
        &state,
        &open_id,
        "post.publish.complete",
        json!({"publish_id": publish_id.as_str(), "publish_type": INBOX_SHARE}),
    );
    if privacy == "PUBLIC_TO_EVERYONE" {
        let (state, id) = (state.clone(), publish_id.into_inner());
        tokio::spawn(async move { release_post(state, id, open_id, INBOX_SHARE).await });
    }
    HttpResponse::Ok().json(json!({"posted": true}))
}

#[get("/_sandbox/publishes")]
async fn list_publishes(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(&state.lock().publishes)
}

#[get("/_sandbox/webhooks")]
async fn list_webhooks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(&state.lock().webhooks)
}

#[get("/_sandbox/settings")]
async fn get_settings(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(&state.lock().settings)
}

#[patch("/_sandbox/settings")]
async fn patch_settings(
    state: web::Data<AppState>,
    patch: web::Json<SettingsPatch>,
) -> HttpResponse {
    let mut inner = state.lock();
    patch.into_inner().apply(&mut inner.settings);
    HttpResponse::Ok().json(&inner.settings)
}

#[get("/_sandbox/faults")]
async fn list_faults(state: web::Data<AppState>) -> HttpResponse {
    let inner = state.lock();
    HttpResponse::Ok().json(json!({
        "rules": inner.faults.rules,
        "drop_webhooks": inner.faults.drop_webhooks,
    }))
}

#[post("/_sandbox/faults")]
async fn add_fault(state: web::Data<AppState>, rule: web::Json<FaultRule>) -> HttpResponse {
    let rule = rule.into_inner();
    if rule.count == 0 {
        return bad_request("count must be at least 1");
    }
    state.lock().faults.rules.push(rule.clone());
    HttpResponse::Ok().json(rule)
}

#[delete("/_sandbox/faults")]
async fn clear_faults(state: web::Data<AppState>) -> HttpResponse {
    let mut inner = state.lock();
    inner.faults.rules.clear();
    inner.faults.drop_webhooks = 0;
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DropWebhooks {
    count: u32,
}

#[post("/_sandbox/faults/drop-webhooks")]
async fn drop_webhooks(state: web::Data<AppState>, body: web::Json<DropWebhooks>) -> HttpResponse {
    state.lock().faults.drop_webhooks = body.count;
    HttpResponse::Ok().json(json!({ "drop_webhooks": body.count }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpireTokens {
    access_token: Option<String>,
    /// Username or open_id: expires every access token of the user.
    user: Option<String>,
}

/// Makes access tokens expire now, so clients can be driven into their refresh path.
#[post("/_sandbox/tokens/expire")]
async fn expire_tokens(state: web::Data<AppState>, body: web::Json<ExpireTokens>) -> HttpResponse {
    let now = Instant::now();
    let mut inner = state.lock();
    let open_id = match &body.user {
        Some(key) => match inner.user(key) {
            Some(u) => Some(u.open_id.clone()),
            None => return not_found("user"),
        },
        None => None,
    };
    if body.access_token.is_none() && open_id.is_none() {
        return bad_request("give access_token or user");
    }
    let grants_of_user: Vec<u64> = inner
        .grants
        .iter()
        .filter(|(_, g)| Some(&g.open_id) == open_id.as_ref())
        .map(|(id, _)| *id)
        .collect();
    let mut expired = 0;
    for (token, at) in inner.access.iter_mut() {
        if Some(token) == body.access_token.as_ref() || grants_of_user.contains(&at.grant) {
            at.expires_at = now;
            expired += 1;
        }
    }
    HttpResponse::Ok().json(json!({ "expired": expired }))
}

#[post("/_sandbox/reset")]
async fn reset_all(state: web::Data<AppState>) -> HttpResponse {
    state.reset();
    HttpResponse::NoContent().finish()
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_users)
        .service(upsert_user)
        .service(get_user)
        .service(patch_user)
        .service(disconnect_user)
        .service(get_stats)
        .service(list_publishes)
        .service(post_from_inbox)
        .service(list_webhooks)
        .service(get_settings)
        .service(patch_settings)
        .service(list_faults)
        .service(add_fault)
        .service(clear_faults)
        .service(drop_webhooks)
        .service(expire_tokens)
        .service(reset_all);
}
