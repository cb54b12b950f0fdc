//! A TikTok connection that dies under a request (the sandbox's `close_connection` fault:
//! it reads the request and closes without answering, as a server closing an idle
//! keep-alive connection does when a request arrives at that moment).

use postiqo_e2e::TestApp;
use reqwest::Method;
use serde_json::{Value, json};

async fn close_next(app: &TestApp, path: &str, count: u32) {
    app.sandbox(
        Method::POST,
        "/faults",
        Some(json!({"path": path, "kind": "close_connection", "count": count})),
    )
    .await;
}

async fn armed(app: &TestApp) -> u64 {
    let faults = app.sandbox(Method::GET, "/faults", None).await;
    faults["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .sum()
}

#[tokio::test]
async fn a_dead_connection_is_retried_once_for_reads_and_never_for_a_publish() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let creator_info = || {
        app.http
            .get(app.url("/v1/tiktok/creator-info"))
            .bearer_auth(&user.token)
            .send()
    };

    // The race the fuzzer hit, made deterministic: the user sees TikTok's answer, not a 502.
    close_next(&app, "/v2/post/publish/creator_info/query/", 1).await;
    let res = creator_info().await.unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(armed(&app).await, 0);

    // Once, not twice: two dead connections in a row are TikTok trouble.
    close_next(&app, "/v2/post/publish/creator_info/query/", 3).await;
    let res = creator_info().await.unwrap();
    assert_eq!(res.status(), 502);
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "tiktok_unavailable"
    );
    assert_eq!(armed(&app).await, 1, "exactly two requests reached TikTok");
    app.sandbox(Method::DELETE, "/faults", None).await;

    // A publish init whose connection dies is never sent again: the outcome is unknown.
    let id = app.uploaded_video(&user, 4096).await;
    close_next(&app, "/v2/post/publish/video/init/", 2).await;
    let res = app
        .publish(
            &user,
            &id,
            "k",
            json!({"privacy_level": "SELF_ONLY", "disable_comment": false, "disable_duet": false,
                   "disable_stitch": false, "brand_content_toggle": false,
                   "brand_organic_toggle": false, "is_aigc": false}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let video: Value = res.json().await.unwrap();
    assert_eq!(video["status"], "FAILED", "{video}");
    assert_eq!(
        video["tiktok"]["failure"]["code"],
        "publish_outcome_unknown"
    );
    assert_eq!(armed(&app).await, 1, "one init request, not two");
    let publishes = app.sandbox(Method::GET, "/publishes", None).await;
    assert_eq!(publishes.as_array().unwrap().len(), 0, "{publishes}");
}
