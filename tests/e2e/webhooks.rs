//! Webhook replays and late deliveries: deliveries are remembered (not judged by their age),
//! and an `authorization.removed` older than the user's current grant changes nothing.

use std::time::Duration;

use postiqo_e2e::{TestApp, TestAppBuilder, TestUser};
use reqwest::Method;
use serde_json::{Value, json};

fn hmac_sha256_hex(key: &str, msg: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(msg.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A delivery as TikTok sends it: `body` signed at `t` with the app's secret.
async fn deliver(app: &TestApp, t: i64, body: &str) -> reqwest::Response {
    let secret = std::env::var("POSTIQO_TIKTOK_CLIENT_SECRET").unwrap();
    let sig = format!(
        "t={t},s={}",
        hmac_sha256_hex(&secret, &format!("{t}.{body}"))
    );
    app.http
        .post(app.url("/v1/webhooks/tiktok"))
        .header("tiktok-signature", sig)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

fn event(open_id: &str, name: &str, create_time: i64, content: Value) -> String {
    json!({
        "client_key": std::env::var("POSTIQO_TIKTOK_CLIENT_KEY").unwrap(),
        "event": name, "create_time": create_time, "user_openid": open_id,
        "content": content.to_string(),
    })
    .to_string()
}

async fn me(app: &TestApp, user: &TestUser) -> (u16, Value) {
    let res = app
        .http
        .get(app.url("/v1/me"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

async fn open_id(app: &TestApp, user: &TestUser) -> String {
    me(app, user).await.1["open_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// How many log lines contain `needle`, once at least one does (or after 5 s): a line written
/// before the last answer can still be on its way from the child's pipe.
fn log_count(app: &TestApp, needle: &str) -> usize {
    app.process
        .lines_after(needle, 1)
        .iter()
        .filter(|l| l.contains(needle))
        .count()
}

fn public() -> Value {
    json!({"privacy_level": "PUBLIC_TO_EVERYONE", "disable_comment": false, "disable_duet": false,
           "disable_stitch": false, "brand_content_toggle": false, "brand_organic_toggle": false, "is_aigc": false})
}

#[tokio::test]
async fn a_late_retry_is_processed_and_a_replayed_delivery_is_acknowledged_and_ignored() {
    // No webhooks from the sandbox and no polling: only the deliveries below move anything.
    let app = TestAppBuilder::new()
        .env("SANDBOX_WEBHOOK_URL", "")
        .env("POSTIQO_WORKER", "off")
        .spawn()
        .await;
    let (ddb, _) = postiqo_e2e::aws_clients().await;
    let user = app.new_user().await;
    let open_id = open_id(&app, &user).await;
    let id = app.uploaded_video(&user, 4096).await;
    let res = app.publish(&user, &id, "k", public()).await;
    assert_eq!(res.status(), 202);
    let publish_id = res.json::<Value>().await.unwrap()["tiktok"]["publish_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // TikTok's first attempts failed (we were down); its retry comes 70 hours after the
    // event, still signed with the original `t`. It is processed, not refused for its age.
    let failed = event(
        &open_id,
        "post.publish.failed",
        now() - 70 * 3600,
        json!({"publish_id": publish_id, "reason": "internal", "publish_type": "DIRECT_POST"}),
    );
    let res = deliver(&app, now() - 70 * 3600, &failed).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let video: Value = app.get_video(&user, &id).await.json().await.unwrap();
    assert_eq!(video["status"], "FAILED", "{video}");
    assert_eq!(video["tiktok"]["failure"]["code"], "internal");

    // Beyond TikTok's retry window (75 h by default) a timestamp is refused.
    let res = deliver(
        &app,
        now() - 80 * 3600,
        &failed.replace("internal", "spam_risk"),
    )
    .await;
    assert_eq!(res.status(), 401);

    // The delivery is remembered, with a TTL covering its timestamp's whole window.
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(failed.as_bytes()));
    let item = ddb
        .get_item()
        .table_name(&app.table)
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("WEBHOOK#{digest}")),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("DELIVERY".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the delivery is remembered");
    assert_eq!(item["state"].as_s().unwrap(), "done");
    let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    let signed = now() - 70 * 3600;
    assert!(
        expires > signed + 75 * 3600 && expires <= signed + 76 * 3600 + 60,
        "remembered until its t leaves the window, plus a margin: {expires}"
    );

    // An `authorization.removed` stamped a little ahead of our clock (TikTok's clock), then
    // a sign-in: the removal is then not older than the new grant, so only the memory can
    // tell that its replay is the same delivery.
    let removed = event(
        &open_id,
        "authorization.removed",
        now() + 120,
        json!({"reason": 1}),
    );
    let res = deliver(&app, now(), &removed).await;
    assert_eq!(res.status(), 200);
    assert_eq!(me(&app, &user).await.0, 401, "disconnected, sessions ended");
    let again = app.sign_in(&user.username).await;
    assert_eq!(me(&app, &again).await.1["tiktok"], "connected");

    // A captured copy replayed with a fresh signature, and TikTok's own retry with the
    // original one: both acknowledged, nothing changes.
    for t in [now(), now() - 5] {
        let res = deliver(&app, t, &removed).await;
        assert_eq!(res.status(), 200, "acknowledged");
    }
    let (status, profile) = me(&app, &again).await;
    assert_eq!(status, 200, "the replay ended no session");
    assert_eq!(profile["tiktok"], "connected", "{profile}");
    let info = app
        .http
        .get(app.url("/v1/tiktok/creator-info"))
        .bearer_auth(&again.token)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200, "the new grant still works");
    assert_eq!(log_count(&app, "TikTok authorization removed"), 1);
    assert!(log_count(&app, "seen before; ignored") >= 2);
}

#[tokio::test]
async fn an_authorization_removed_older_than_the_current_grant_changes_nothing() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let open_id = open_id(&app, &user).await;

    // The user removes Postiqo in TikTok, but TikTok's delivery does not reach us.
    app.sandbox(
        Method::POST,
        "/faults/drop-webhooks",
        Some(json!({"count": 1})),
    )
    .await;
    app.sandbox(
        Method::POST,
        &format!("/users/{}/disconnect", user.username),
        Some(json!({"reason": 1})),
    )
    .await;
    let log = app.sandbox(Method::GET, "/webhooks", None).await;
    let dropped = log
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["event"] == "authorization.removed" && w["outcome"] == "dropped")
        .unwrap_or_else(|| panic!("{log}"))["body"]
        .as_str()
        .unwrap()
        .to_owned();

    // A second later the user signs in again: a new grant.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = app.sign_in(&user.username).await;
    assert_eq!(me(&app, &again).await.1["tiktok"], "connected");

    // Now TikTok's retry of the removal arrives (signed anew). It is about the old grant.
    let res = deliver(&app, now(), &dropped).await;
    assert_eq!(
        res.status(),
        200,
        "acknowledged: {}",
        res.text().await.unwrap()
    );
    let (status, profile) = me(&app, &again).await;
    assert_eq!(status, 200, "still signed in");
    assert_eq!(profile["tiktok"], "connected", "{profile}");
    let info = app
        .http
        .get(app.url("/v1/tiktok/creator-info"))
        .bearer_auth(&again.token)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200, "and TikTok still answers for the user");
    assert_eq!(log_count(&app, "older than the current TikTok grant"), 1);

    // A removal of the current grant still disconnects.
    let removed = event(
        &open_id,
        "authorization.removed",
        now(),
        json!({"reason": 5}),
    );
    assert_eq!(deliver(&app, now(), &removed).await.status(), 200);
    assert_eq!(me(&app, &again).await.0, 401);
    assert_eq!(log_count(&app, "TikTok authorization removed"), 1);
}

#[tokio::test]
async fn concurrent_copies_of_one_delivery_are_applied_once() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let open_id = open_id(&app, &user).await;
    let removed = event(
        &open_id,
        "authorization.removed",
        now(),
        json!({"reason": 1}),
    );
    let t = now();
    let copies = (0..8).map(|_| deliver(&app, t, &removed));
    let mut statuses = Vec::new();
    for res in futures_util::future::join_all(copies).await {
        statuses.push(res.status().as_u16());
        if res.status() == 409 {
            assert_eq!(
                res.json::<Value>().await.unwrap()["code"],
                "webhook_in_progress"
            );
        }
    }
    // Each copy is either the one applied, one seen as done, or told to come back.
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
    // TikTok sends a 409'd copy again later: by then it is a duplicate.
    assert_eq!(deliver(&app, t, &removed).await.status(), 200);
    assert_eq!(
        log_count(&app, "TikTok authorization removed"),
        1,
        "{statuses:?}"
    );
    assert_eq!(me(&app, &user).await.0, 401);
}
