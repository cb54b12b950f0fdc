//! `/metrics` on its own listener: scraped and parsed like Prometheus does, before and after
//! known traffic, and every counter moves by what that traffic must have caused.

use std::time::Duration;

use postiqo_e2e::{Scrape, TestApp, TestAppBuilder, TestUser, free_port};
use reqwest::Method;
use serde_json::{Value, json};

const REQUESTS: &str = "postiqo_http_requests_total";
const DURATION: &str = "postiqo_http_request_duration_seconds";
const STORAGE: &str = "postiqo_storage_calls_total";
const TIKTOK: &str = "postiqo_tiktok_calls_total";
const PUBLISHES: &str = "postiqo_publishes_total";
const WEBHOOKS: &str = "postiqo_webhook_deliveries_total";
const REFUSALS: &str = "postiqo_rate_limit_refusals_total";

fn public() -> Value {
    json!({"privacy_level": "PUBLIC_TO_EVERYONE", "disable_comment": false, "disable_duet": false,
           "disable_stitch": false, "brand_content_toggle": false, "brand_organic_toggle": false, "is_aigc": false})
}

/// How much a counter (summed over the series matching `labels`) moved between two scrapes.
fn delta(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.sum(name, labels) - before.sum(name, labels)
}

fn hmac_sha256_hex(key: &str, msg: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(msg.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn send_webhook(app: &TestApp, body: &str, signed: bool) -> u16 {
    let secret = std::env::var("POSTIQO_TIKTOK_CLIENT_SECRET").unwrap();
    let t = chrono::Utc::now().timestamp();
    let mut req = app
        .http
        .post(app.url("/v1/webhooks/tiktok"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if signed {
        let mac = hmac_sha256_hex(&secret, &format!("{t}.{body}"));
        req = req.header("tiktok-signature", format!("t={t},s={mac}"));
    }
    req.send().await.unwrap().status().as_u16()
}

fn event(event: &str, open_id: &str, content: Value) -> String {
    json!({
        "client_key": std::env::var("POSTIQO_TIKTOK_CLIENT_KEY").unwrap(),
        "event": event,
        "create_time": chrono::Utc::now().timestamp(),
        "user_openid": open_id,
        "content": content.to_string(),
    })
    .to_string()
}

async fn publish_id(app: &TestApp, user: &TestUser, video: &str) -> String {
    let v: Value = app.get_video(user, video).await.json().await.unwrap();
    v["tiktok"]["publish_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn metrics_count_the_traffic_on_their_own_port() {
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let app = TestAppBuilder::new()
        .env("POSTIQO_METRICS_BIND", &metrics_addr)
        .env("POSTIQO_RATE_LIMIT_CREATE_PER_MIN", "3")
        // Only the webhooks this test sends, so their counts are exact.
        .env("SANDBOX_WEBHOOK_URL", "")
        .spawn()
        .await;
    let before = app.scrape().await;

    // Sign-in: login, TikTok's consent, callback, token exchange, /v1/me.
    let user = app.new_user().await;
    let open_id = app.get_json("/v1/me", &user.token).await["open_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Creations: three within the limit of 3 a minute, the fourth refused. The first is
    // completed before its bytes are in S3 (409: S3 answered 404).
    let pending = app
        .create_video_ok(&user, "pending", "video/mp4", 4096)
        .await;
    let pending_id = pending["video"]["id"].as_str().unwrap();
    assert_eq!(
        app.complete_upload(&user, pending_id, None).await.status(),
        409
    );
    let published = app.uploaded_video(&user, 4096).await;
    let failing = app.uploaded_video(&user, 4096).await;
    assert_eq!(
        app.create_video(&user, "over", "video/mp4", 4096)
            .await
            .status(),
        429
    );

    // 404s: a video nobody has (a route), a path no route has, and /metrics on the public
    // port, which does not serve it.
    let missing = app
        .get_video(&user, "01a21650-0000-7000-8000-000000000000")
        .await;
    assert_eq!(missing.status(), 404);
    let nowhere = app.http.get(app.url("/no/such/path")).send().await.unwrap();
    assert_eq!(nowhere.status(), 404);
    let public_metrics = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public_metrics.status(), 404);
    assert!(
        !public_metrics
            .text()
            .await
            .unwrap()
            .contains("postiqo_http_requests_total"),
        "the public port never shows metrics"
    );
    // And the metrics port serves nothing but /metrics.
    let other = app
        .http
        .get(format!("http://{metrics_addr}/v1/me"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);

    // A publish that ends PUBLISHED, whose first status poll TikTok answers 503, sent twice
    // with the same key (the replay loses the idempotency record's conditional write).
    app.sandbox(
        Method::POST,
        "/faults",
        Some(json!({"path": "/v2/post/publish/status/fetch/", "kind": "server_error", "status": 503, "count": 1})),
    )
    .await;
    assert_eq!(
        app.publish(&user, &published, "k-ok", public())
            .await
            .status(),
        202
    );
    assert_eq!(
        app.publish(&user, &published, "k-ok", public())
            .await
            .status(),
        202
    );
    app.wait_for_status(&user, &published, "PUBLISHED", 30)
        .await;

    // A publish TikTok refuses: the media URL's prefix is no longer verified.
    app.sandbox(
        Method::PATCH,
        "/settings",
        Some(json!({"verified_url_prefixes": ["https://unverified.example/"]})),
    )
    .await;
    assert_eq!(
        app.publish(&user, &failing, "k-fail", public())
            .await
            .status(),
        202
    );
    let failed = app.wait_for_status(&user, &failing, "FAILED", 15).await;
    assert_eq!(
        failed["tiktok"]["failure"]["code"],
        "url_ownership_unverified"
    );

    // Webhooks: unsigned, signed but unreadable, for an unknown user, and a real event
    // (post.publish.failed for the video already PUBLISHED: accepted, changes nothing).
    let pid = publish_id(&app, &user, &published).await;
    let failed_event = event(
        "post.publish.failed",
        &open_id,
        json!({"publish_id": pid, "reason": "internal", "publish_type": "DIRECT_POST"}),
    );
    assert_eq!(send_webhook(&app, &failed_event, false).await, 401);
    assert_eq!(send_webhook(&app, "not json", true).await, 200);
    let stranger = event(
        "post.publish.complete",
        "no-such-open-id",
        json!({"publish_id": "v_pub_url~nobody", "publish_type": "DIRECT_POST"}),
    );
    assert_eq!(send_webhook(&app, &stranger, true).await, 200);
    assert_eq!(send_webhook(&app, &failed_event, true).await, 200);
    let still: Value = app.get_video(&user, &published).await.json().await.unwrap();
    assert_eq!(still["status"], "PUBLISHED");

    let after = app.scrape().await;

    // HTTP, by route template and status.
    let http = |method: &str, route: &str, status: &str| {
        delta(
            &before,
            &after,
            REQUESTS,
            &[("method", method), ("route", route), ("status", status)],
        )
    };
    assert_eq!(http("POST", "/v1/videos", "201"), 3.0);
    assert_eq!(http("POST", "/v1/videos", "429"), 1.0);
    assert_eq!(http("POST", "/v1/videos/{id}/upload-complete", "409"), 1.0);
    assert_eq!(http("POST", "/v1/videos/{id}/upload-complete", "200"), 2.0);
    assert_eq!(http("GET", "/v1/auth/tiktok/login", "302"), 1.0);
    assert_eq!(http("GET", "/v1/auth/tiktok/callback", "302"), 1.0);
    assert_eq!(http("POST", "/v1/auth/token", "200"), 1.0);
    assert_eq!(http("GET", "/v1/videos/{id}", "404"), 1.0);
    assert_eq!(http("GET", "<unmatched>", "404"), 2.0);
    assert_eq!(http("POST", "/v1/videos/{id}/publish", "202"), 3.0);
    assert_eq!(http("POST", "/v1/webhooks/tiktok", "401"), 1.0);
    assert_eq!(http("POST", "/v1/webhooks/tiktok", "200"), 3.0);
    assert!(
        after
            .samples
            .iter()
            .filter(|s| s.name == REQUESTS)
            .all(|s| !s.labels["route"].contains("01a21650")
                && !s.labels["route"].contains("/no/such")),
        "no raw path or id ever becomes a label"
    );
    // The latency histogram agrees with the counter.
    let created = [
        ("method", "POST"),
        ("route", "/v1/videos"),
        ("status_class", "2xx"),
    ];
    assert_eq!(
        delta(&before, &after, &format!("{DURATION}_count"), &created),
        3.0
    );
    assert!(delta(&before, &after, &format!("{DURATION}_sum"), &created) > 0.0);
    let mut le_inf = created.to_vec();
    le_inf.push(("le", "+Inf"));
    assert_eq!(
        delta(&before, &after, &format!("{DURATION}_bucket"), &le_inf),
        3.0
    );
    assert_eq!(
        after.types.get(DURATION).map(String::as_str),
        Some("histogram")
    );
    assert_eq!(
        after.types.get(REQUESTS).map(String::as_str),
        Some("counter")
    );

    // Nothing is in flight or waiting while the API is idle; the bound (POSTIQO_MAX_IN_FLIGHT,
    // 32 by default) is exported.
    assert_eq!(after.get("postiqo_http_requests_in_flight", &[]), Some(0.0));
    assert_eq!(after.get("postiqo_http_requests_queued", &[]), Some(0.0));
    assert_eq!(after.get("postiqo_http_max_in_flight", &[]), Some(32.0));

    // Our own limits.
    assert_eq!(
        delta(&before, &after, REFUSALS, &[("limit", "create_video")]),
        1.0
    );
    assert_eq!(delta(&before, &after, REFUSALS, &[]), 1.0);

    // Storage, by operation and outcome.
    let storage = |op: &str, outcome: &str| {
        delta(
            &before,
            &after,
            STORAGE,
            &[("operation", op), ("outcome", outcome)],
        )
    };
    assert_eq!(
        storage("s3.HeadObject", "not_found"),
        1.0,
        "the early completion"
    );
    assert!(storage("s3.HeadObject", "ok") >= 2.0, "the two completions");
    assert!(storage("dynamodb.PutItem", "ok") >= 3.0, "three creations");
    assert!(
        storage("dynamodb.PutItem", "conditional_failed") >= 1.0,
        "the idempotent replay"
    );
    assert_eq!(
        delta(&before, &after, STORAGE, &[("outcome", "error")]),
        0.0
    );
    assert!(
        delta(
            &before,
            &after,
            "postiqo_storage_call_duration_seconds_count",
            &[("operation", "dynamodb.GetItem")]
        ) >= 1.0
    );

    // TikTok, by endpoint and outcome.
    let tiktok = |endpoint: &str, outcome: &str| {
        delta(
            &before,
            &after,
            TIKTOK,
            &[("endpoint", endpoint), ("outcome", outcome)],
        )
    };
    assert_eq!(tiktok("oauth.token.exchange", "ok"), 1.0);
    assert!(tiktok("user.info", "ok") >= 1.0);
    assert_eq!(
        tiktok("post.creator_info", "ok"),
        2.0,
        "one per publish, none for the replay"
    );
    assert_eq!(tiktok("post.init", "ok"), 1.0);
    assert_eq!(
        tiktok("post.init", "tiktok_error"),
        1.0,
        "the unverified URL"
    );
    assert_eq!(
        tiktok("post.status", "server_error"),
        1.0,
        "the injected 503"
    );
    assert!(tiktok("post.status", "ok") >= 1.0);

    // Publishes, by outcome and failure code.
    assert_eq!(
        delta(
            &before,
            &after,
            PUBLISHES,
            &[("outcome", "published"), ("code", "none")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            &before,
            &after,
            PUBLISHES,
            &[("outcome", "failed"), ("code", "url_ownership_unverified")]
        ),
        1.0
    );
    assert_eq!(delta(&before, &after, PUBLISHES, &[]), 2.0);

    // Webhooks, by event and verdict.
    let hook = |event: &str, verdict: &str| {
        delta(
            &before,
            &after,
            WEBHOOKS,
            &[("event", event), ("verdict", verdict)],
        )
    };
    assert_eq!(hook("<unread>", "rejected"), 1.0);
    assert_eq!(hook("<unread>", "unreadable"), 1.0);
    assert_eq!(hook("post.publish.complete", "unknown_user"), 1.0);
    assert_eq!(hook("post.publish.failed", "accepted"), 1.0);
    assert_eq!(delta(&before, &after, WEBHOOKS, &[]), 4.0);

    // The worker: it passes (every 200 ms here), and says when and how late.
    assert!(
        delta(
            &before,
            &after,
            "postiqo_worker_passes_total",
            &[("outcome", "ok")]
        ) >= 1.0
    );
    let last_pass = after
        .get("postiqo_worker_last_pass_timestamp_seconds", &[])
        .expect("exported");
    let now = chrono::Utc::now().timestamp() as f64;
    assert!(
        (now - last_pass).abs() < 30.0,
        "last pass {last_pass}, now {now}"
    );
    let due = after
        .get("postiqo_publish_jobs_due", &[])
        .expect("exported");
    assert!((0.0..=25.0).contains(&due));
    let lag = after
        .get("postiqo_publish_job_lag_seconds", &[])
        .expect("exported");
    assert!((0.0..60.0).contains(&lag), "lag {lag}");

    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        after.get("postiqo_build_info", &[("version", version)]),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_traceparent_puts_its_trace_id_on_the_request_log_lines() {
    let app = TestApp::spawn().await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    for (request_id, traceparent) in [
        ("trace-valid", format!("00-{trace}-00f067aa0ba902b7-01")),
        (
            "trace-zero",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01".to_owned(),
        ),
        (
            "trace-upper",
            format!("00-{}-00f067aa0ba902b7-01", trace.to_uppercase()),
        ),
    ] {
        let res = app
            .http
            .get(app.url("/healthz"))
            .header("x-request-id", request_id)
            .header("traceparent", traceparent)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    // The access line is written as the response leaves; give the log a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let access = |id: &str| -> Option<Value> {
        app.process
            .lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["target"] == "access" && v.to_string().contains(id))
    };
    while access("trace-upper").is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let valid = access("trace-valid").expect("access line");
    assert_eq!(valid["span"]["trace_id"], trace, "{valid}");
    for id in ["trace-zero", "trace-upper"] {
        let line = access(id).expect("access line");
        assert!(line["span"].get("trace_id").is_none(), "{line}");
        assert!(!line.to_string().contains("trace_id"), "{line}");
    }
}

/// With `POSTIQO_METRICS_DYNAMODB_CAPACITY=on`, DynamoDB's own report of the units each call
/// consumed reaches `/metrics`, per operation, kind and table/index; off, nothing is recorded.
#[tokio::test]
async fn consumed_capacity_is_recorded_per_operation_and_index() {
    const CAPACITY: &str = "postiqo_dynamodb_consumed_capacity_units_sum";
    const CALLS: &str = "postiqo_dynamodb_consumed_capacity_units_count";
    let app = TestAppBuilder::new()
        .env(
            "POSTIQO_METRICS_BIND",
            &format!("127.0.0.1:{}", free_port()),
        )
        .env("POSTIQO_METRICS_DYNAMODB_CAPACITY", "on")
        .spawn()
        .await;
    let user = app.new_user().await;
    let before = app.scrape().await;
    let created = app
        .create_video_ok(&user, "capacity", "video/mp4", 4096)
        .await;
    let id = created["video"]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get_video(&user, &id).await.status(), 200);
    let after = app.scrape().await;

    // A new video item (under 1 KB, with its GSI1 keys): one write unit on the table and one
    // on GSI1, at least; reading it back consistently is one read unit.
    let put = |index: &str| {
        delta(
            &before,
            &after,
            CAPACITY,
            &[
                ("operation", "dynamodb.PutItem"),
                ("capacity", "write"),
                ("index", index),
            ],
        )
    };
    let seen: Vec<String> = after
        .samples
        .iter()
        .filter(|s| s.name.contains("capacity") || s.name.contains("storage_calls"))
        .map(|s| format!("{} {:?} {}", s.name, s.labels, s.value))
        .collect();
    assert!(put("table") >= 1.0, "table: {} in {seen:#?}", put("table"));
    assert!(put("GSI1") >= 1.0, "GSI1: {}", put("GSI1"));
    let get = delta(
        &before,
        &after,
        CAPACITY,
        &[
            ("operation", "dynamodb.GetItem"),
            ("capacity", "read"),
            ("index", "table"),
        ],
    );
    assert!(get >= 1.0, "GetItem: {get}");
    assert_eq!(
        delta(
            &before,
            &after,
            CAPACITY,
            &[("operation", "dynamodb.GetItem"), ("capacity", "write")]
        ),
        0.0,
        "a read is never billed as a write"
    );
    assert!(delta(&before, &after, CALLS, &[]) >= 2.0);

    // Off (the default): the metric is never exported.
    let plain = TestAppBuilder::new()
        .env(
            "POSTIQO_METRICS_BIND",
            &format!("127.0.0.1:{}", free_port()),
        )
        .spawn()
        .await;
    let someone = plain.new_user().await;
    plain
        .create_video_ok(&someone, "plain", "video/mp4", 4096)
        .await;
    assert_eq!(plain.scrape().await.sum(CAPACITY, &[]), 0.0);
}
