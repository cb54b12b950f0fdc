//! Scheduled publishes and drafts in the creator's TikTok inbox, against the real binary,
//! storage and the sandbox: nothing reaches TikTok before the due time, a schedule starts
//! exactly once (across a restart and across instances), and drafts go to the inbox.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use postiqo_e2e::{TestApp, TestAppBuilder, TestUser};
use reqwest::Method;
use serde_json::{Value, json};

/// Short enough for tests; the due time is resolved within twice this.
const WORKER_MS: &str = "200";

fn builder() -> TestAppBuilder {
    TestAppBuilder::new()
        .env("POSTIQO_SCHEDULE_MIN_LEAD_SECS", "1")
        .env("POSTIQO_WORKER_INTERVAL_MS", WORKER_MS)
        .env("POSTIQO_POLL_INITIAL_MS", "300")
        .env("POSTIQO_POLL_MAX_MS", "1000")
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(secs)
}

fn scheduled(level: &str, when: DateTime<Utc>) -> Value {
    json!({"privacy_level": level, "scheduled_at": when.to_rfc3339()})
}

async fn open_id(app: &TestApp, user: &TestUser) -> String {
    let me: Value = app.get_json("/v1/me", &user.token).await;
    me["open_id"].as_str().unwrap().to_owned()
}

/// Every init (Direct Post and inbox) the sandbox accepted for the user.
async fn inits(app: &TestApp, open_id: &str) -> u64 {
    let stats = app.sandbox(Method::GET, "/stats", None).await;
    stats["inits_by_open_id"][open_id].as_u64().unwrap_or(0)
}

/// Creator-info calls the sandbox saw from the user's tokens.
async fn creator_info_calls(app: &TestApp) -> u64 {
    let stats = app.sandbox(Method::GET, "/stats", None).await;
    stats["rate_limits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["endpoint"] == "creator_info")
        .map(|r| r["total"].as_u64().unwrap_or(0))
        .sum()
}

async fn schedule(app: &TestApp, user: &TestUser, id: &str, body: Value) -> Value {
    let res = app.publish(user, id, &format!("k-{id}"), body).await;
    assert_eq!(res.status(), 202);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "SCHEDULED", "{v}");
    v
}

/// When the video entered `status` (its last time).
fn entered(video: &Value, status: &str) -> DateTime<Utc> {
    let at = video["history"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|h| h["status"] == status)
        .unwrap_or_else(|| panic!("never {status}: {video}"))["at"]
        .as_str()
        .unwrap()
        .to_owned();
    at.parse().unwrap()
}

async fn send(
    app: &TestApp,
    user: &TestUser,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app
        .http
        .request(method, app.url(path))
        .bearer_auth(&user.token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_schedule_calls_tiktok_only_when_due_then_inits_once_and_publishes() {
    let app = builder().spawn().await;
    let user = app.new_user().await;
    let oid = open_id(&app, &user).await;
    let id = app.uploaded_video(&user, 4096).await;
    let before = creator_info_calls(&app).await;
    let due = at(10);
    let v = schedule(&app, &user, &id, scheduled("SELF_ONLY", due)).await;
    let echoed: DateTime<Utc> = v["scheduled_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(echoed.timestamp(), due.timestamp());

    let listed: Value = app
        .get_json("/v1/videos?status=SCHEDULED", &user.token)
        .await;
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()]);

    // Until just before the due time: not one call to TikTok for it.
    while Utc::now() < due - chrono::Duration::milliseconds(500) {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(inits(&app, &oid).await, 0);
    assert_eq!(
        creator_info_calls(&app).await,
        before,
        "no creator info either"
    );
    let v: Value = app.get_video(&user, &id).await.json().await.unwrap();
    assert_eq!(v["status"], "SCHEDULED");

    let done = app.wait_for_status(&user, &id, "PUBLISHED", 40).await;
    let started = entered(&done, "PUBLISHING");
    assert!(started >= due, "not before its time: {started} < {due}");
    // Twice the worker interval, plus room for a busy machine.
    assert!(
        started - due < chrono::Duration::seconds(5),
        "started {} ms late",
        (started - due).num_milliseconds()
    );
    assert_eq!(inits(&app, &oid).await, 1, "exactly one init");
    assert_eq!(
        creator_info_calls(&app).await,
        before + 1,
        "fresh creator info when due"
    );
    let statuses: Vec<_> = done["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "PENDING",
            "UPLOADED",
            "SCHEDULED",
            "PUBLISHING",
            "PUBLISHED"
        ]
    );
    println!(
        "schedule started {} ms after its time (worker interval {WORKER_MS} ms)",
        (started - due).num_milliseconds()
    );
}

#[tokio::test]
async fn a_cancelled_schedule_never_calls_tiktok_and_a_moved_one_fires_at_the_new_time_only() {
    let app = builder().spawn().await;
    let user = app.new_user().await;
    let oid = open_id(&app, &user).await;
    let cancelled = app.uploaded_video(&user, 4096).await;
    let moved = app.uploaded_video(&user, 4096).await;
    schedule(&app, &user, &cancelled, scheduled("SELF_ONLY", at(3))).await;
    schedule(&app, &user, &moved, scheduled("SELF_ONLY", at(3))).await;

    let res = send(
        &app,
        &user,
        Method::DELETE,
        &format!("/v1/videos/{cancelled}/schedule"),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "UPLOADED");
    assert!(v.get("scheduled_at").is_none());
    let new_due = at(9);
    let res = send(
        &app,
        &user,
        Method::PATCH,
        &format!("/v1/videos/{moved}/schedule"),
        Some(json!({"scheduled_at": new_due.to_rfc3339()})),
    )
    .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    let echoed: DateTime<Utc> = v["scheduled_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(echoed.timestamp(), new_due.timestamp());
    // Too soon is refused.
    let res = send(
        &app,
        &user,
        Method::PATCH,
        &format!("/v1/videos/{moved}/schedule"),
        Some(json!({"scheduled_at": at(-60).to_rfc3339()})),
    )
    .await;
    assert_eq!(res.status(), 422);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["code"], "schedule_out_of_range");

    // Past the old time by several worker intervals: nothing.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(inits(&app, &oid).await, 0);
    let v: Value = app.get_video(&user, &moved).await.json().await.unwrap();
    assert_eq!(v["status"], "SCHEDULED");

    let done = app.wait_for_status(&user, &moved, "PUBLISHED", 40).await;
    assert!(entered(&done, "PUBLISHING") >= new_due);
    assert_eq!(inits(&app, &oid).await, 1);
    let v: Value = app.get_video(&user, &cancelled).await.json().await.unwrap();
    assert_eq!(v["status"], "UPLOADED");
    // Cancelling what already started is refused.
    let res = send(
        &app,
        &user,
        Method::DELETE,
        &format!("/v1/videos/{moved}/schedule"),
        None,
    )
    .await;
    assert_eq!(res.status(), 409);
}

#[tokio::test]
async fn an_api_killed_while_a_schedule_is_pending_fires_it_once_after_restart() {
    let mut app = builder().spawn().await;
    let user = app.new_user().await;
    let oid = open_id(&app, &user).await;
    let id = app.uploaded_video(&user, 4096).await;
    let due = at(3);
    schedule(&app, &user, &id, scheduled("SELF_ONLY", due)).await;
    app.process.kill();
    // Every instance is down at the due time.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(inits(&app, &oid).await, 0);
    let restarted = Utc::now();
    assert!(restarted > due);
    app.restart_api().await;
    let done = app.wait_for_status(&user, &id, "PUBLISHED", 40).await;
    assert!(
        entered(&done, "PUBLISHING") >= restarted,
        "started by the restarted instance"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(inits(&app, &oid).await, 1);
}

#[tokio::test]
async fn an_api_restarted_past_the_grace_ends_schedule_missed_without_posting() {
    let mut app = builder()
        .env("POSTIQO_SCHEDULE_GRACE_SECS", "2")
        .spawn()
        .await;
    let user = app.new_user().await;
    let oid = open_id(&app, &user).await;
    let id = app.uploaded_video(&user, 4096).await;
    schedule(&app, &user, &id, scheduled("SELF_ONLY", at(2))).await;
    app.process.kill();
    tokio::time::sleep(Duration::from_secs(6)).await;
    app.restart_api().await;
    let failed = app.wait_for_status(&user, &id, "FAILED", 30).await;
    assert_eq!(failed["tiktok"]["failure"]["code"], "schedule_missed");
    assert_eq!(failed["tiktok"]["failure"]["retryable"], true);
    assert_eq!(
        inits(&app, &oid).await,
        0,
        "nothing posted at a time nobody chose"
    );
}

#[tokio::test]
async fn two_instances_fire_each_schedule_once() {
    let app = builder().spawn().await;
    let (_peer, _peer_url) = app.spawn_peer();
    let user = app.new_user().await;
    let oid = open_id(&app, &user).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.uploaded_video(&user, 4096).await);
    }
    let due = at(4);
    for id in &ids {
        schedule(&app, &user, id, scheduled("SELF_ONLY", due)).await;
    }
    for id in &ids {
        app.wait_for_status(&user, id, "PUBLISHED", 40).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(inits(&app, &oid).await, 3, "one init per schedule");
}

#[tokio::test]
async fn a_schedule_whose_privacy_level_is_no_longer_offered_fails_without_a_post() {
    let app = builder().spawn().await;
    let user = app.new_user().await;
    let oid = open_id(&app, &user).await;
    let id = app.uploaded_video(&user, 4096).await;
    schedule(&app, &user, &id, scheduled("PUBLIC_TO_EVERYONE", at(3))).await;
    // The creator made the account private meanwhile.
    app.sandbox(
        Method::PATCH,
        &format!("/users/{}", user.username),
        Some(json!({"privacy_level_options": ["SELF_ONLY"]})),
    )
    .await;
    let failed = app.wait_for_status(&user, &id, "FAILED", 30).await;
    assert_eq!(
        failed["tiktok"]["failure"]["code"],
        "privacy_level_not_allowed"
    );
    assert_eq!(failed["tiktok"]["failure"]["retryable"], true);
    assert_eq!(inits(&app, &oid).await, 0);
}

/// The sandbox's publish id of the video.
fn publish_id(video: &Value) -> String {
    video["tiktok"]["publish_id"].as_str().unwrap().to_owned()
}

async fn draft(app: &TestApp, user: &TestUser, id: &str) -> reqwest::Response {
    app.publish(user, id, &format!("d-{id}"), json!({"mode": "draft"}))
        .await
}

#[tokio::test]
async fn a_draft_reaches_the_inbox_by_polling_and_is_published_when_the_creator_posts_it() {
    let app = builder().env("SANDBOX_WEBHOOK_URL", "").spawn().await;
    let user = app.new_user().await;
    let id = app.uploaded_video(&user, 4096).await;
    let res = draft(&app, &user, &id).await;
    assert_eq!(res.status(), 202);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "PUBLISHING");
    assert_eq!(v["tiktok"]["mode"], "draft");
    let inbox = app.wait_for_status(&user, &id, "SENT_TO_INBOX", 30).await;
    assert_eq!(inbox["tiktok"]["tiktok_status"], "SEND_TO_USER_INBOX");
    let pid = publish_id(&inbox);
    let publishes = app.sandbox(Method::GET, "/publishes", None).await;
    let ours = publishes
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["publish_id"] == pid.as_str())
        .unwrap()
        .clone();
    assert_eq!(ours["inbox"], true, "sent through the inbox endpoint");
    app.sandbox(
        Method::POST,
        &format!("/publishes/{pid}/post-from-inbox"),
        Some(json!({"privacy_level": "SELF_ONLY"})),
    )
    .await;
    let done = app.wait_for_status(&user, &id, "PUBLISHED", 30).await;
    let statuses: Vec<_> = done["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "PENDING",
            "UPLOADED",
            "PUBLISHING",
            "SENT_TO_INBOX",
            "PUBLISHED"
        ]
    );
}

#[tokio::test]
async fn a_draft_moves_by_webhooks_alone_and_gets_the_post_id() {
    let app = builder().env("POSTIQO_WORKER", "off").spawn().await;
    let user = app.new_user().await;
    let id = app.uploaded_video(&user, 4096).await;
    assert_eq!(draft(&app, &user, &id).await.status(), 202);
    let inbox = app.wait_for_status(&user, &id, "SENT_TO_INBOX", 30).await;
    let pid = publish_id(&inbox);
    app.sandbox(
        Method::POST,
        &format!("/publishes/{pid}/post-from-inbox"),
        None,
    )
    .await;
    let mut video = app.wait_for_status(&user, &id, "PUBLISHED", 30).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while video["tiktok"]["post_id"].is_null() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        video = app.get_video(&user, &id).await.json().await.unwrap();
    }
    assert_eq!(
        video["tiktok"]["post_id"].as_str().map(str::len),
        Some(19),
        "{video}"
    );
}

#[tokio::test]
async fn the_sixth_pending_draft_is_refused_without_calling_tiktok() {
    let app = builder().spawn().await;
    let user = app.new_user().await;
    let oid = open_id(&app, &user).await;
    for _ in 0..5 {
        let id = app.uploaded_video(&user, 4096).await;
        assert_eq!(draft(&app, &user, &id).await.status(), 202);
    }
    let sixth = app.uploaded_video(&user, 4096).await;
    let res = draft(&app, &user, &sixth).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 23 * 3600 && retry <= 24 * 3600, "{retry}");
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["code"], "tiktok_inbox_full");
    assert_eq!(inits(&app, &oid).await, 5, "TikTok was not asked");
    let v: Value = app.get_video(&user, &sixth).await.json().await.unwrap();
    assert_eq!(v["status"], "UPLOADED", "nothing changed");
    // A schedule of a draft is accepted; the cap is checked when it is due.
    let res = app
        .publish(
            &user,
            &sixth,
            "later",
            json!({"mode": "draft", "scheduled_at": at(3600).to_rfc3339()}),
        )
        .await;
    assert_eq!(res.status(), 202);
}

#[tokio::test]
async fn the_export_lists_schedules_and_drafts_and_disconnecting_cancels_schedules() {
    let app = builder().spawn().await;
    let user = app.new_user().await;
    let oid = open_id(&app, &user).await;
    let later = app.uploaded_video(&user, 4096).await;
    let drafted = app.uploaded_video(&user, 4096).await;
    let due = at(3600);
    schedule(&app, &user, &later, scheduled("SELF_ONLY", due)).await;
    assert_eq!(draft(&app, &user, &drafted).await.status(), 202);

    let export: Value = app.get_json("/v1/me/export", &user.token).await;
    let videos = export["videos"].as_array().unwrap();
    let find = |id: &str| videos.iter().find(|v| v["id"] == id).unwrap().clone();
    let s = find(&later);
    assert_eq!(s["status"], "SCHEDULED");
    let at: DateTime<Utc> = s["scheduled_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(at.timestamp(), due.timestamp());
    assert_eq!(find(&drafted)["tiktok"]["mode"], "draft");

    let res = app
        .http
        .post(app.url("/v1/auth/tiktok/disconnect"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let again = app.sign_in(&user.username).await;
    let v: Value = app.get_video(&again, &later).await.json().await.unwrap();
    assert_eq!(v["status"], "UPLOADED", "the schedule was cancelled: {v}");
    assert_eq!(inits(&app, &oid).await, 1, "only the draft went to TikTok");
}
