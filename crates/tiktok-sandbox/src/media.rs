//! The background half of a PULL_FROM_URL publish: TikTok downloads the file itself
//! (fact sheet §3.1 step 4), checks it, publishes, and later makes public posts visible.

use std::time::Duration;

use actix_web::web;
use serde_json::json;

use crate::{
    container::{media_check, sniff},
    ids,
    model::PublishState,
    state::AppState,
    webhooks::emit,
};

const MAX_SIZE: u64 = 4 * 1024 * 1024 * 1024;
/// Kept of each download: its head and its tail, where the container's index sits (a
/// fast-start `moov`, Matroska's `Info` and `Tracks`; or a `moov` after `mdat`).
const HEAD_MAX: usize = 8 * 1024 * 1024;
const TAIL_MAX: usize = 8 * 1024 * 1024;
const POLL: Duration = Duration::from_millis(50);
/// `publish_type` for Direct Post is UNCONFIRMED (§6.3); this is the obvious guess.
const PUBLISH_TYPE: &str = "DIRECT_POST";
/// The one documented `publish_type` (§6.3).
pub(crate) const INBOX_SHARE: &str = "INBOX_SHARE";

enum Step {
    Continue,
    Cancelled,
    /// Someone else (e.g. authorization removal) already finished the publish.
    Gone,
}

fn check(state: &AppState, publish_id: &str) -> Step {
    let inner = state.lock();
    match inner.publishes.iter().find(|p| p.publish_id == publish_id) {
        Some(p) if p.status != PublishState::ProcessingDownload => Step::Gone,
        Some(p) if p.cancel_requested => Step::Cancelled,
        Some(_) => Step::Continue,
        None => Step::Gone,
    }
}

pub(crate) fn spawn_pull(state: web::Data<AppState>, publish_id: String) {
    tokio::spawn(async move { pull(state, publish_id).await });
}

async fn pull(state: web::Data<AppState>, publish_id: String) {
    let (url, delay, open_id) = {
        let inner = state.lock();
        let Some(p) = inner.publishes.iter().find(|p| p.publish_id == publish_id) else {
            return;
        };
        (
            p.video_url.clone(),
            Duration::from_millis(inner.settings.download_delay_ms),
            p.open_id.clone(),
        )
    };
    let mut waited = Duration::ZERO;
    while waited < delay {
        match check(&state, &publish_id) {
            Step::Continue => {}
            Step::Cancelled => return fail(&state, &publish_id, "publish_cancelled"),
            Step::Gone => return,
        }
        tokio::time::sleep(POLL).await;
        waited += POLL;
    }
    let outcome = download(&state, &publish_id, &url).await;
    let pulled = match outcome {
        Ok(pulled) => pulled,
        Err(reason) => return fail(&state, &publish_id, reason),
    };
    let Some(container) = sniff(&pulled.head) else {
        return fail(&state, &publish_id, "file_format_check_failed");
    };
    let max_duration = state
        .lock()
        .user(&open_id)
        .map(|u| u.max_video_post_duration_sec);
    let duration = match media_check(
        container,
        pulled.size,
        &pulled.head,
        &pulled.tail,
        max_duration,
    ) {
        Ok(facts) => facts.map(|f| f.duration_ms as f64 / 1000.0),
        Err(reason) => return fail(&state, &publish_id, reason),
    };
    complete(state, publish_id, duration).await;
}

/// What is kept of a download: its first and last bytes, and its length.
struct Pulled {
    head: Vec<u8>,
    tail: Vec<u8>,
    size: u64,
}

/// Streams the file, keeping only its head and tail; `Err` is a `fail_reason`.
async fn download(state: &AppState, publish_id: &str, url: &str) -> Result<Pulled, &'static str> {
    let mut resp = state
        .http
        .get(url)
        .send()
        .await
        .map_err(|_| "video_pull_failed")?;
    // Redirects are not followed, so a 3xx lands here too (§5.4: no redirects).
    if !resp.status().is_success() {
        return Err("video_pull_failed");
    }
    if resp.content_length().is_some_and(|len| len > MAX_SIZE) {
        return Err("file_format_check_failed");
    }
    let mut head = Vec::new();
    let mut tail: Vec<u8> = Vec::new();
    let mut total: u64 = 0;
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(_) => return Err("video_pull_failed"),
        };
        total += chunk.len() as u64;
        if total > MAX_SIZE {
            return Err("file_format_check_failed");
        }
        let room = HEAD_MAX.saturating_sub(head.len());
        head.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        tail.extend_from_slice(&chunk);
        if tail.len() > 2 * TAIL_MAX {
            tail.drain(..tail.len() - TAIL_MAX);
        }
        if let Some(p) = state.lock().publish_mut(publish_id) {
            p.downloaded_bytes = total;
        }
        match check(state, publish_id) {
            Step::Continue => {}
            Step::Cancelled => return Err("publish_cancelled"),
            Step::Gone => return Err("internal"),
        }
    }
    if tail.len() > TAIL_MAX {
        tail.drain(..tail.len() - TAIL_MAX);
    }
    Ok(Pulled {
        head,
        tail,
        size: total,
    })
}

pub(crate) fn fail(state: &web::Data<AppState>, publish_id: &str, reason: &str) {
    let open_id = {
        let mut inner = state.lock();
        let Some(p) = inner.publish_mut(publish_id) else {
            return;
        };
        if p.status != PublishState::ProcessingDownload {
            return;
        }
        p.status = PublishState::Failed;
        p.fail_reason = Some(reason.to_owned());
        p.open_id.clone()
    };
    tracing::info!(publish_id, reason, "publish failed");
    emit(
        state,
        &open_id,
        "post.publish.failed",
        json!({"publish_id": publish_id, "reason": reason, "publish_type": PUBLISH_TYPE}),
    );
}

async fn complete(state: web::Data<AppState>, publish_id: String, duration: Option<f64>) {
    let (open_id, public, inbox) = {
        let mut inner = state.lock();
        let Some(p) = inner.publish_mut(&publish_id) else {
            return;
        };
        if p.status != PublishState::ProcessingDownload {
            return;
        }
        // An inbox upload waits for the creator to post it in the app (§3.4).
        p.status = if p.inbox {
            PublishState::SendToUserInbox
        } else {
            PublishState::PublishComplete
        };
        p.duration_secs = duration;
        (
            p.open_id.clone(),
            p.privacy_level == "PUBLIC_TO_EVERYONE",
            p.inbox,
        )
    };
    if inbox {
        tracing::info!(publish_id, "draft delivered to the creator's inbox");
        emit(
            &state,
            &open_id,
            "post.publish.inbox_delivered",
            json!({"publish_id": publish_id, "publish_type": INBOX_SHARE}),
        );
        return;
    }
    tracing::info!(publish_id, "publish complete");
    emit(
        &state,
        &open_id,
        "post.publish.complete",
        json!({"publish_id": publish_id, "publish_type": PUBLISH_TYPE}),
    );
    // Only public posts pass moderation and get a post id (§3.6).
    if public {
        release_post(state, publish_id, open_id, PUBLISH_TYPE).await;
    }
}

/// A public post passes moderation and gets its post id (status and webhook).
pub(crate) async fn release_post(
    state: web::Data<AppState>,
    publish_id: String,
    open_id: String,
    publish_type: &'static str,
) {
    let moderation = Duration::from_millis(state.lock().settings.moderation_delay_ms);
    tokio::time::sleep(moderation).await;
    let post_id = ids::post_id();
    {
        let mut inner = state.lock();
        let Some(p) = inner.publish_mut(&publish_id) else {
            return;
        };
        p.post_ids.push(post_id);
    }
    emit(
        &state,
        &open_id,
        "post.publish.publicly_available",
        json!({
            "publish_id": publish_id,
            "post_id": post_id.to_string(),
            "publish_type": publish_type,
        }),
    );
}
