//! Content Posting API: creator info, Direct Post and inbox (draft) init (PULL_FROM_URL),
//! status, cancel (fact sheet §3, errors §4.2).

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, post, web};
use serde_json::{Map, Value, json};
use url::Url;

use crate::{
    guard::{Caller, authorize},
    ids,
    media::spawn_pull,
    model::{Publish, PublishState},
    ratelimit::Endpoint,
    respond::{Reject, api_ok, is_json},
    state::AppState,
};

const BAD: StatusCode = StatusCode::BAD_REQUEST;
const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;
const POST_SCOPES: &[&str] = &["video.publish"];
const INBOX_SCOPES: &[&str] = &["video.upload"];
/// At most this many unposted inbox shares per creator in 24 h (§3.4).
const PENDING_SHARES: usize = 5;
const STATUS_SCOPES: &[&str] = &["video.publish", "video.upload"];

/// The posting tables spell it `invalid_param` (singular, §4.2).
fn invalid(message: &str) -> Reject {
    Reject::api(BAD, "invalid_param", message)
}

fn user_gone() -> Reject {
    Reject::api(
        StatusCode::UNAUTHORIZED,
        "access_token_invalid",
        "The user of this token no longer exists.",
    )
}

fn json_body(req: &HttpRequest, body: &[u8]) -> Result<Map<String, Value>, Reject> {
    if !is_json(req) {
        return Err(invalid("Content-Type must be application/json."));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(invalid("The request body is not a JSON object.")),
    }
}

#[post("/v2/post/publish/creator_info/query/")]
async fn creator_info(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Reject> {
    let caller = authorize(&state, &req, Endpoint::CreatorInfo, POST_SCOPES)?;
    let mut inner = state.lock();
    let user = inner
        .user(&caller.grant.open_id)
        .cloned()
        .ok_or_else(user_gone)?;
    // "Cannot post now" is answered with HTTP 200 on purpose (§3.2).
    if !user.can_post {
        return Err(Reject::api(
            StatusCode::OK,
            &user.cannot_post_code,
            "The creator cannot post right now.",
        ));
    }
    let cap = usize::try_from(user.daily_post_cap).unwrap_or(usize::MAX);
    if inner.posts_today(&user.open_id, Instant::now()) >= cap {
        return Err(Reject::api(
            StatusCode::OK,
            "spam_risk_too_many_posts",
            "The creator reached the daily post cap.",
        ));
    }
    Ok(api_ok(json!({
        "creator_avatar_url": user.avatar_url,
        "creator_username": user.username,
        "creator_nickname": user.display_name,
        "privacy_level_options": user.privacy_level_options,
        "comment_disabled": user.comment_disabled,
        "duet_disabled": user.duet_disabled,
        "stitch_disabled": user.stitch_disabled,
        "max_video_post_duration_sec": user.max_video_post_duration_sec,
    })))
}

/// Shape checks of `post_info` that do not depend on the creator.
fn check_post_info(info: &Map<String, Value>) -> Result<(), Reject> {
    if let Some(title) = info.get("title") {
        let Some(title) = title.as_str() else {
            return Err(invalid("title must be a string."));
        };
        if title.encode_utf16().count() > 2200 {
            return Err(invalid("title is longer than 2200 UTF-16 code units."));
        }
    }
    for flag in [
        "disable_duet",
        "disable_comment",
        "disable_stitch",
        "brand_content_toggle",
        "brand_organic_toggle",
        "is_aigc",
    ] {
        if info.get(flag).is_some_and(|v| !v.is_boolean()) {
            return Err(invalid(&format!("{flag} must be a boolean.")));
        }
    }
    if info
        .get("video_cover_timestamp_ms")
        .is_some_and(|v| !v.is_i64())
    {
        return Err(invalid("video_cover_timestamp_ms must be an integer."));
    }
    Ok(())
}

#[post("/v2/post/publish/video/init/")]
async fn video_init(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Reject> {
    let caller = authorize(&state, &req, Endpoint::VideoInit, POST_SCOPES)?;
    let publish_id = init(&state, &req, &body, &caller, Kind::Direct)?;
    spawn_pull(state.clone(), publish_id.clone());
    Ok(api_ok(json!({ "publish_id": publish_id })))
}

/// Inbox upload (§3.4): only `source_info`; the video lands in the creator's inbox as a
/// draft, at most 5 unposted ones per creator in 24 h.
#[post("/v2/post/publish/inbox/video/init/")]
async fn inbox_init(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Reject> {
    let caller = authorize(&state, &req, Endpoint::InboxInit, INBOX_SCOPES)?;
    let publish_id = init(&state, &req, &body, &caller, Kind::Inbox)?;
    spawn_pull(state.clone(), publish_id.clone());
    Ok(api_ok(json!({ "publish_id": publish_id })))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Direct,
    Inbox,
}

fn init(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
    caller: &Caller,
    kind: Kind,
) -> Result<String, Reject> {
    let body = json_body(req, body)?;
    let empty = Map::new();
    let info = match kind {
        Kind::Direct => body
            .get("post_info")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("post_info is required."))?,
        // The creator makes the choices in the app; nothing of post_info is used.
        Kind::Inbox => &empty,
    };
    let source = body
        .get("source_info")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("source_info is required."))?;
    match source.get("source").and_then(Value::as_str) {
        Some("PULL_FROM_URL") => {}
        Some("FILE_UPLOAD") => return Err(invalid("The sandbox supports PULL_FROM_URL only.")),
        _ => {
            return Err(invalid(
                "source_info.source must be PULL_FROM_URL or FILE_UPLOAD.",
            ));
        }
    }
    let video_url = source
        .get("video_url")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| invalid("source_info.video_url is required."))?;
    if kind == Kind::Direct {
        check_post_info(info)?;
    }

    let now = Instant::now();
    let mut inner = state.lock();
    let user = inner
        .user(&caller.grant.open_id)
        .cloned()
        .ok_or_else(user_gone)?;
    if !user.can_post {
        return Err(Reject::api(
            FORBIDDEN,
            &user.cannot_post_code,
            "The creator cannot post right now.",
        ));
    }
    let cap = usize::try_from(user.daily_post_cap).unwrap_or(usize::MAX);
    if inner.posts_today(&user.open_id, now) >= cap {
        return Err(Reject::api(
            FORBIDDEN,
            "spam_risk_too_many_posts",
            "The creator reached the daily post cap.",
        ));
    }
    let privacy = info
        .get("privacy_level")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind == Kind::Inbox && inner.pending_shares(&user.open_id, now) >= PENDING_SHARES {
        return Err(Reject::api(
            FORBIDDEN,
            "spam_risk_too_many_pending_share",
            "The creator has too many pending inbox shares; they must post or wait.",
        ));
    }
    if kind == Kind::Direct && !user.privacy_level_options.iter().any(|o| o == privacy) {
        return Err(Reject::api(
            FORBIDDEN,
            "privacy_level_option_mismatch",
            "privacy_level is missing or not one of the creator's privacy_level_options.",
        ));
    }
    let unverified = || {
        Reject::api(
            FORBIDDEN,
            "url_ownership_unverified",
            "The video_url is not under a verified domain or URL prefix.",
        )
    };
    let url = Url::parse(video_url).map_err(|_| invalid("video_url is not a valid URL."))?;
    // A URL-prefix property always starts with https:// (§5.4); http is a local convenience.
    let scheme_ok =
        url.scheme() == "https" || (url.scheme() == "http" && inner.settings.allow_http_media);
    let verified = inner
        .settings
        .verified_url_prefixes
        .iter()
        .any(|prefix| video_url.starts_with(prefix.as_str()));
    if !scheme_ok || !verified {
        return Err(unverified());
    }

    let publish_id = ids::publish_id();
    inner.publishes.push(Publish {
        publish_id: publish_id.clone(),
        open_id: user.open_id.clone(),
        privacy_level: privacy.to_owned(),
        title: info
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        video_url: video_url.to_owned(),
        created_at: ids::unix_now(),
        status: PublishState::ProcessingDownload,
        fail_reason: None,
        downloaded_bytes: 0,
        post_ids: Vec::new(),
        cancel_requested: false,
        duration_secs: None,
        inbox: kind == Kind::Inbox,
        created: now,
    });
    inner
        .posts
        .entry(user.open_id.clone())
        .or_default()
        .push(now);
    *inner.inits_by_open_id.entry(user.open_id).or_default() += 1;
    Ok(publish_id)
}

/// Finds the caller's publish named in the body; errors per §3.7.
fn owned_publish(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
    caller: &Caller,
) -> Result<Publish, Reject> {
    let body = json_body(req, body)?;
    let id = body
        .get("publish_id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| invalid("publish_id is required."))?;
    let inner = state.lock();
    let publish = inner
        .publishes
        .iter()
        .find(|p| p.publish_id == id)
        .ok_or_else(|| Reject::api(BAD, "invalid_publish_id", "No such publish_id."))?;
    if publish.open_id != caller.grant.open_id {
        return Err(Reject::api(
            BAD,
            "token_not_authorized_for_specified_publish_id",
            "This token may not access this publish_id.",
        ));
    }
    Ok(publish.clone())
}

#[post("/v2/post/publish/status/fetch/")]
async fn status_fetch(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Reject> {
    let caller = authorize(&state, &req, Endpoint::StatusFetch, STATUS_SCOPES)?;
    let p = owned_publish(&state, &req, &body, &caller)?;
    let mut data = json!({
        "status": p.status,
        // Misspelled like TikTok's; numbers above 2^53 like TikTok's.
        "publicaly_available_post_id": p.post_ids,
        "uploaded_bytes": 0,
        "downloaded_bytes": p.downloaded_bytes,
    });
    if let (Some(reason), Some(obj)) = (&p.fail_reason, data.as_object_mut()) {
        obj.insert("fail_reason".to_owned(), json!(reason));
    }
    Ok(api_ok(data))
}

#[post("/v2/post/publish/cancel/")]
async fn cancel(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Reject> {
    let caller = authorize(&state, &req, Endpoint::Cancel, STATUS_SCOPES)?;
    let p = owned_publish(&state, &req, &body, &caller)?;
    let mut inner = state.lock();
    match inner.publish_mut(&p.publish_id) {
        Some(p) if p.status == PublishState::ProcessingDownload && !p.cancel_requested => {
            // Best effort, like TikTok: the pull task notices and fails the publish.
            p.cancel_requested = true;
            Ok(api_ok(json!({})))
        }
        _ => Err(Reject::api(
            BAD,
            "publish_not_cancellable",
            "The publish is no longer downloading.",
        )),
    }
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(creator_info)
        .service(video_init)
        .service(inbox_init)
        .service(status_fetch)
        .service(cancel);
}
