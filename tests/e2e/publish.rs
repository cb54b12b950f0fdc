//! Publishing to TikTok (the sandbox) and tracking every publish to its end.

use postiqo_e2e::{TestApp, TestAppBuilder, TestUser};
use reqwest::Method;
use serde_json::{Value, json};

fn public() -> Value {
    json!({"privacy_level": "PUBLIC_TO_EVERYONE", "disable_comment": false, "disable_duet": false,
           "disable_stitch": false, "brand_content_toggle": false, "brand_organic_toggle": false, "is_aigc": false})
}

async fn open_id(app: &TestApp, user: &TestUser) -> String {
    let me: Value = app.get_json("/v1/me", &user.token).await;
    me["open_id"].as_str().unwrap().to_owned()
}

async fn inits(app: &TestApp, open_id: &str) -> u64 {
    let stats = app.sandbox(Method::GET, "/stats", None).await;
    stats["inits_by_open_id"][open_id].as_u64().unwrap_or(0)
}

fn assert_published_with_post_id(video: &Value) {
    let post_id = video["tiktok"]["post_id"]
        .as_str()
        .expect("post id is a string");
    assert_eq!(
        post_id.len(),
        19,
        "TikTok post ids are 19 digits: {post_id}"
    );
    assert!(
        post_id.parse::<u64>().unwrap() > (1u64 << 53),
        "bigger than a JS number holds"
    );
    assert!(
        video["tiktok"]["post_url"]
            .as_str()
            .unwrap()
            .ends_with(post_id)
    );
}

#[tokio::test]
async fn publishes_by_polling_when_webhooks_are_off() {
    let app = TestAppBuilder::new()
        .env("SANDBOX_WEBHOOK_URL", "")
        .spawn()
        .await;
    let user = app.new_user().await;
    let id = app.uploaded_video(&user, 4096).await;

    let info: Value = app.get_json("/v1/tiktok/creator-info", &user.token).await;
    let options: Vec<&str> = info["privacy_level_options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(options.contains(&"PUBLIC_TO_EVERYONE"), "{info}");

    let res = app.publish(&user, &id, "key-1", public()).await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "PUBLISHING");
    assert!(
        body["tiktok"]["publish_id"]
            .as_str()
            .unwrap()
            .starts_with("v_pub_url~")
    );

    let done = app.wait_for_status(&user, &id, "PUBLISHED", 30).await;
    // The post id of a public post arrives after moderation; tracking waits for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut video = done;
    while video["tiktok"]["post_id"].is_null() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        video = app.get_video(&user, &id).await.json().await.unwrap();
    }
    assert_published_with_post_id(&video);
    let statuses: Vec<_> = video["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["PENDING", "UPLOADED", "PUBLISHING", "PUBLISHED"]);
    assert_eq!(inits(&app, &open_id(&app, &user).await).await, 1);
    let webhooks = app.sandbox(Method::GET, "/stats", None).await["webhooks"].clone();
    assert!(
        webhooks.get("delivered").is_none(),
        "no webhook was delivered: {webhooks}"
    );

    // Deleting the published video removes its publish records too.
    let res = app
        .http
        .delete(app.url(&format!("/v1/videos/{id}")))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let ddb = postiqo_e2e::ddb_client().await;
    let items = ddb
        .query()
        .table_name(&app.table)
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{}", user.id)),
        )
        .send()
        .await
        .unwrap();
    let left: Vec<String> = items
        .items()
        .iter()
        .filter_map(|i| i.get("SK").and_then(|v| v.as_s().ok()).cloned())
        .filter(|sk| {
            sk.starts_with("PUBLISH#") || sk.starts_with("PUBJOB#") || sk.starts_with("VIDEO#")
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn publishes_by_webhooks_alone() {
    // No worker: only TikTok's signed webhooks can move the video.
    let app = TestAppBuilder::new()
        .env("POSTIQO_WORKER", "off")
        .spawn()
        .await;
    let user = app.new_user().await;
    let id = app.uploaded_video(&user, 4096).await;
    assert_eq!(app.publish(&user, &id, "k", public()).await.status(), 202);
    let mut video = app.wait_for_status(&user, &id, "PUBLISHED", 30).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while video["tiktok"]["post_id"].is_null() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        video = app.get_video(&user, &id).await.json().await.unwrap();
    }
    assert_published_with_post_id(&video);
    // The sandbox counts a delivery once it has read our answer, which can be a moment after
    // we acted on it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut stats = app.sandbox(Method::GET, "/stats", None).await;
    while stats["webhooks"]["delivered"].as_u64().unwrap_or(0) < 2
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        stats = app.sandbox(Method::GET, "/stats", None).await;
    }
    assert!(
        stats["webhooks"]["delivered"].as_u64().unwrap_or(0) >= 2,
        "{}",
        stats["webhooks"]
    );
    assert_eq!(stats["max_status_fetches_in_any_60s"], 0, "nobody polled");
}

#[tokio::test]
async fn unverified_media_url_fails_with_tiktoks_code() {
    let app = TestAppBuilder::new()
        .env("POSTIQO_MEDIA_MODE", "presigned")
        .spawn()
        .await;
    let user = app.new_user().await;
    let id = app.uploaded_video(&user, 4096).await;
    let res = app.publish(&user, &id, "k", public()).await;
    assert_eq!(res.status(), 202);
    let video = app.wait_for_status(&user, &id, "FAILED", 10).await;
    assert_eq!(
        video["tiktok"]["failure"]["code"],
        "url_ownership_unverified"
    );
    assert_eq!(video["tiktok"]["failure"]["retryable"], false);
}

#[tokio::test]
async fn concurrent_publishes_make_exactly_one_init() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let open_id = open_id(&app, &user).await;

    // Ten clicks with ten different keys: one publish wins, the rest are told it is taken.
    let id = app.uploaded_video(&user, 4096).await;
    let keys: Vec<String> = (0..10).map(|i| format!("key-{i}")).collect();
    let calls = keys.iter().map(|k| app.publish(&user, &id, k, public()));
    let mut statuses: Vec<u16> = Vec::new();
    for r in futures_util::future::join_all(calls).await {
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert!(status == 202 || status == 409, "{status} {body}");
        statuses.push(status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 202 || *s == 409),
        "{statuses:?}"
    );

    // Ten retries with one key: the same answer, one init.
    let id2 = app.uploaded_video(&user, 4096).await;
    let calls = (0..10).map(|_| app.publish(&user, &id2, "same-key", public()));
    let mut bodies = Vec::new();
    for r in futures_util::future::join_all(calls).await {
        assert_eq!(r.status(), 202);
        bodies.push(r.json::<Value>().await.unwrap());
    }
    for b in &bodies {
        assert_eq!(b["tiktok"]["attempt_id"], bodies[0]["tiktok"]["attempt_id"]);
    }
    app.wait_for_status(&user, &id, "PUBLISHED", 30).await;
    app.wait_for_status(&user, &id2, "PUBLISHED", 30).await;
    assert_eq!(inits(&app, &open_id).await, 2, "one init per video");

    // The same key later, with another body, is refused; with the same body it replays.
    let mut other = public();
    other["privacy_level"] = json!("SELF_ONLY");
    let res = app.publish(&user, &id2, "same-key", other).await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "idempotency_key_reused"
    );
    let res = app.publish(&user, &id2, "same-key", public()).await;
    assert_eq!(res.status(), 202);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(inits(&app, &open_id).await, 2);
}

#[tokio::test]
async fn publish_requests_are_checked_against_tiktoks_rules() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let pending = app.create_video_ok(&user, "x", "video/mp4", 10).await;
    let pending_id = pending["video"]["id"].as_str().unwrap();
    let res = app.publish(&user, pending_id, "k1", public()).await;
    assert_eq!(res.status(), 409);
    assert_eq!(
        res.json::<Value>().await.unwrap()["current_status"],
        "PENDING"
    );

    let id = app.uploaded_video(&user, 4096).await;
    let res = app
        .http
        .post(app.url(&format!("/v1/videos/{id}/publish")))
        .bearer_auth(&user.token)
        .json(&public())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "Idempotency-Key is required");

    let mut body = public();
    body["privacy_level"] = json!("FOLLOWER_OF_CREATOR");
    let res = app.publish(&user, &id, "k2", body).await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "privacy_level_not_allowed"
    );

    let mut body = public();
    body["privacy_level"] = json!("SELF_ONLY");
    body["brand_content_toggle"] = json!(true);
    let res = app.publish(&user, &id, "k3", body).await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "branded_content_private"
    );

    let mut body = public();
    body.as_object_mut().unwrap().remove("privacy_level");
    let res = app.publish(&user, &id, "k4", body).await;
    assert_eq!(res.status(), 422, "no default privacy level");

    // A creator TikTok will not let post right now.
    app.sandbox(
        Method::PATCH,
        &format!("/users/{}", user.username),
        Some(json!({"can_post": false})),
    )
    .await;
    let res = app
        .http
        .get(app.url("/v1/tiktok/creator-info"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "tiktok_cannot_post_now"
    );
    let video: Value = app.get_video(&user, &id).await.json().await.unwrap();
    assert_eq!(video["status"], "UPLOADED", "nothing changed");
}

#[tokio::test]
async fn creator_info_stays_within_tiktoks_limit() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let mut limited = None;
    for _ in 0..22 {
        let res = app
            .http
            .get(app.url("/v1/tiktok/creator-info"))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap();
        if res.status() == 429 {
            limited = Some(res);
            break;
        }
        assert_eq!(res.status(), 200);
    }
    let res = limited.expect("over the limit we answer 429 ourselves");
    assert!(
        res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "rate_limited");
    let stats = app.sandbox(Method::GET, "/stats", None).await;
    let rejected: u64 = stats["rate_limits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rejected"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        rejected, 0,
        "TikTok never had to refuse us: {}",
        stats["rate_limits"]
    );
}

#[tokio::test]
async fn a_killed_api_resumes_tracking_without_a_second_init() {
    let mut app = TestAppBuilder::new()
        .env("SANDBOX_DOWNLOAD_DELAY_MS", "3000")
        .env("SANDBOX_WEBHOOK_URL", "")
        .spawn()
        .await;
    let user = app.new_user().await;
    let id = app.uploaded_video(&user, 4096).await;
    let res = app.publish(&user, &id, "k", public()).await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert!(body["tiktok"]["publish_id"].is_string());

    app.restart_api().await;
    let video = app.wait_for_status(&user, &id, "PUBLISHED", 40).await;
    assert_eq!(video["tiktok"]["publish_id"], body["tiktok"]["publish_id"]);
    assert_eq!(inits(&app, &open_id(&app, &user).await).await, 1);
}

#[tokio::test]
async fn two_instances_share_the_work_and_survive_one_dying() {
    // Media straight from S3 so either instance's death leaves the bytes reachable.
    let s3 = std::env::var("AWS_ENDPOINT_URL_S3")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .unwrap();
    let builder = TestAppBuilder::new()
        .env("POSTIQO_MEDIA_MODE", "presigned")
        .env("POSTIQO_JWT_ISSUER", "https://postiqo.test")
        .env("SANDBOX_WEBHOOK_URL", "")
        .env("SANDBOX_DOWNLOAD_DELAY_MS", "1500");
    let mut app = builder.spawn().await;
    app.sandbox(
        Method::PATCH,
        "/settings",
        Some(json!({"verified_url_prefixes": [format!("{s3}/")]})),
    )
    .await;
    let (_peer, _peer_url) = app.spawn_peer();
    let user = app.new_user().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.uploaded_video(&user, 4096).await);
    }
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            app.publish(&user, id, &format!("k{i}"), public())
                .await
                .status(),
            202
        );
    }
    // The instance that started them dies; the peer (same table) finishes them.
    app.process.kill();
    let peer_user = TestUser { ..user.clone() };
    let peer_http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    for id in &ids {
        loop {
            let v: Value = peer_http
                .get(format!("{_peer_url}/v1/videos/{id}"))
                .bearer_auth(&peer_user.token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if v["status"] == "PUBLISHED" {
                break;
            }
            assert_ne!(v["status"], "FAILED", "{v}");
            assert!(std::time::Instant::now() < deadline, "{v}");
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    }
    let stats = app.sandbox(Method::GET, "/stats", None).await;
    let total: u64 = stats["inits_by_open_id"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 3, "each init made once");
}

#[tokio::test]
async fn faults_at_tiktok_are_ridden_out_within_the_rate_limits() {
    let app = TestAppBuilder::new()
        .env("SANDBOX_WEBHOOK_URL", "")
        .spawn()
        .await;
    let user = app.new_user().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.uploaded_video(&user, 4096).await);
    }
    let status_path = "/v2/post/publish/status/fetch/";
    app.sandbox(
        Method::POST,
        "/faults",
        Some(json!({"path": status_path, "kind": "server_error", "count": 4, "status": 503})),
    )
    .await;
    app.sandbox(
        Method::POST,
        "/faults",
        Some(json!({"path": status_path, "kind": "rate_limit", "count": 3})),
    )
    .await;
    app.sandbox(Method::POST, "/faults", Some(json!({"path": "/v2/post/publish/video/init/", "kind": "server_error", "count": 1, "status": 503})))
        .await;
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            app.publish(&user, id, &format!("k{i}"), public())
                .await
                .status(),
            202
        );
    }
    for id in &ids {
        app.wait_for_status(&user, id, "PUBLISHED", 60).await;
    }
    let stats = app.sandbox(Method::GET, "/stats", None).await;
    assert!(
        stats["max_status_fetches_in_any_60s"].as_u64().unwrap() <= 30,
        "{}",
        stats["status_fetches_by_token"]
    );
    assert_eq!(inits(&app, &open_id(&app, &user).await).await, 3);
}

#[tokio::test]
async fn webhooks_with_bad_or_stale_signatures_change_nothing() {
    let app = TestAppBuilder::new()
        .env("POSTIQO_WORKER", "off")
        .env("SANDBOX_WEBHOOK_URL", "")
        .spawn()
        .await;
    let user = app.new_user().await;
    let id = app.uploaded_video(&user, 4096).await;
    let res = app.publish(&user, &id, "k", public()).await;
    let publish_id = res.json::<Value>().await.unwrap()["tiktok"]["publish_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({
        "client_key": std::env::var("POSTIQO_TIKTOK_CLIENT_KEY").unwrap(),
        "event": "post.publish.failed",
        "create_time": chrono::Utc::now().timestamp(),
        "user_openid": open_id(&app, &user).await,
        "content": json!({"publish_id": publish_id, "reason": "internal", "publish_type": "DIRECT_POST"}).to_string(),
    })
    .to_string();
    let sign = |t: i64, secret: &str| {
        format!(
            "t={t},s={}",
            hmac_sha256_hex(secret, &format!("{t}.{body}"))
        )
    };
    let secret = std::env::var("POSTIQO_TIKTOK_CLIENT_SECRET").unwrap();
    let now = chrono::Utc::now().timestamp();
    for (name, header) in [
        ("wrong key", sign(now, "not-the-secret")),
        // Older than TikTok's 72 h of retries (plus margin): not a delivery of TikTok's.
        ("stale", sign(now - 80 * 3600, &secret)),
        ("garbled", "t=abc,s=zz".to_owned()),
    ] {
        let res = app
            .http
            .post(app.url("/v1/webhooks/tiktok"))
            .header("tiktok-signature", header)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{name}");
    }
    let res = app
        .http
        .post(app.url("/v1/webhooks/tiktok"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "unsigned");
    assert_eq!(
        app.get_video(&user, &id)
            .await
            .json::<Value>()
            .await
            .unwrap()["status"],
        "PUBLISHING"
    );

    // The same event, correctly signed, is applied — and applying it twice is harmless.
    for _ in 0..2 {
        let res = app
            .http
            .post(app.url("/v1/webhooks/tiktok"))
            .header(
                "tiktok-signature",
                sign(chrono::Utc::now().timestamp(), &secret),
            )
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let video: Value = app.get_video(&user, &id).await.json().await.unwrap();
    assert_eq!(video["status"], "FAILED");
    assert_eq!(video["tiktok"]["failure"]["code"], "internal");
    assert_eq!(video["tiktok"]["failure"]["retryable"], true);
}

fn hmac_sha256_hex(key: &str, msg: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(msg.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn the_verification_file_is_served_where_tiktok_looks() {
    let app = TestApp::spawn().await;
    let dir = std::env::temp_dir().join(format!("postiqo-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tiktokAbC123xyz.txt");
    std::fs::write(&file, "tiktok-developers-site-verification=abc123").unwrap();
    let out = std::process::Command::new(postiqo_e2e::bin_path("postiqo-api"))
        .arg("tiktok-verification-file")
        .arg(&file)
        .env("POSTIQO_TABLE", &app.table)
        .env("POSTIQO_BUCKET", &app.bucket)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let res = app
        .http
        .get(app.url("/v1/media/tiktokAbC123xyz.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(
        res.text().await.unwrap(),
        "tiktok-developers-site-verification=abc123"
    );
    // Other names under the prefix are tokens, and forged ones are refused.
    let res = app
        .http
        .get(app.url("/v1/media/tiktokOther.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = app
        .http
        .get(app.url("/v1/media/eyJ1IjoieCJ9.forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let bad = dir.join("evil.txt");
    std::fs::write(&bad, "x").unwrap();
    let out = std::process::Command::new(postiqo_e2e::bin_path("postiqo-api"))
        .arg("tiktok-verification-file")
        .arg(&bad)
        .env("POSTIQO_TABLE", &app.table)
        .env("POSTIQO_BUCKET", &app.bucket)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "only TikTok-shaped names are published"
    );
}

/// A client polls while the video is PUBLISHING or `tiktok.post_id_expected` is true, and can
/// stop exactly then: a private post is done at PUBLISHED without a post id, a public one once
/// its id arrived.
#[tokio::test]
async fn post_id_expected_tells_a_client_when_to_stop_polling() {
    let app = TestAppBuilder::new()
        .env("SANDBOX_MODERATION_DELAY_MS", "3000")
        .spawn()
        .await;
    let user = app.new_user().await;
    let poll_until_settled = |id: String| {
        let (app, user) = (&app, &user);
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            let mut seen_expected = false;
            loop {
                let v: Value = app.get_video(user, &id).await.json().await.unwrap();
                let expected = v["tiktok"]["post_id_expected"].as_bool().unwrap();
                seen_expected |= expected && v["status"] == "PUBLISHED";
                if v["status"] != "PUBLISHING" && !expected {
                    return (v, seen_expected);
                }
                assert!(std::time::Instant::now() < deadline, "never settled: {v}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };

    let private = app.uploaded_video(&user, 4096).await;
    let mut body = public();
    body["privacy_level"] = json!("SELF_ONLY");
    let res = app.publish(&user, &private, "private-1", body).await;
    assert_eq!(res.status(), 202);
    let started: Value = res.json().await.unwrap();
    assert_eq!(
        started["tiktok"]["post_id_expected"], false,
        "never for SELF_ONLY"
    );
    let (done, _) = poll_until_settled(private).await;
    assert_eq!(done["status"], "PUBLISHED");
    assert!(done["tiktok"]["post_id"].is_null() && done["tiktok"]["post_url"].is_null());

    let public_id = app.uploaded_video(&user, 4096).await;
    let res = app.publish(&user, &public_id, "public-1", public()).await;
    let started: Value = res.json().await.unwrap();
    assert_eq!(started["tiktok"]["post_id_expected"], true);
    let (done, seen_expected) = poll_until_settled(public_id).await;
    assert_eq!(done["status"], "PUBLISHED");
    assert!(
        seen_expected,
        "PUBLISHED while moderation keeps the id back"
    );
    assert_published_with_post_id(&done);
}
