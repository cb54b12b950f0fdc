use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{code_of, spawn, spawn_with};

fn state_is(s: &'static str) -> impl Fn(&Value) -> bool {
    move |p| p["status"] == s
}

#[tokio::test]
async fn creator_info_and_its_http_200_cannot_post_shape() {
    let t = spawn().await;
    let tokens = t.login("alice").await;
    let (status, body, _) = t.creator_info(&tokens.access).await;
    assert_eq!(status, StatusCode::OK);
    let d = &body["data"];
    assert_eq!(d["creator_username"], "alice");
    assert_eq!(
        d["privacy_level_options"],
        json!(["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"])
    );
    assert_eq!(d["max_video_post_duration_sec"], 600);

    t.admin(
        Method::PATCH,
        "/users/alice",
        Some(json!({"can_post": false})),
    )
    .await;
    let (status, body, _) = t.creator_info(&tokens.access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(code_of(&body), "spam_risk_too_many_posts");
    assert_eq!(body["data"], json!({}));
    let (status, body) = t
        .init(&tokens.access, "SELF_ONLY", &t.media.url("ok.mp4"))
        .await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::FORBIDDEN, "spam_risk_too_many_posts")
    );
    t.stop().await;
}

#[tokio::test]
async fn posting_needs_video_publish_scope() {
    let t = spawn().await;
    let tokens = t.login_with("alice", "user.info.basic").await;
    let (status, body, _) = t.creator_info(&tokens.access).await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::UNAUTHORIZED, "scope_not_authorized")
    );
    let (status, body) = t
        .init(&tokens.access, "SELF_ONLY", &t.media.url("ok.mp4"))
        .await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::UNAUTHORIZED, "scope_not_authorized")
    );
    t.stop().await;
}

#[tokio::test]
async fn init_checks_privacy_prefix_scheme_and_body() {
    let t = spawn().await;
    let tokens = t.login("alice").await;
    let ok_url = t.media.url("ok.mp4");
    // Private-account option on a public account.
    let (status, body) = t.init(&tokens.access, "FOLLOWER_OF_CREATOR", &ok_url).await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::FORBIDDEN, "privacy_level_option_mismatch")
    );
    let (status, body) = t
        .init(
            &tokens.access,
            "SELF_ONLY",
            "https://elsewhere.example/v.mp4",
        )
        .await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::FORBIDDEN, "url_ownership_unverified")
    );
    t.admin(
        Method::PATCH,
        "/settings",
        Some(json!({"allow_http_media": false})),
    )
    .await;
    let (status, body) = t.init(&tokens.access, "SELF_ONLY", &ok_url).await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::FORBIDDEN, "url_ownership_unverified")
    );
    t.admin(
        Method::PATCH,
        "/settings",
        Some(json!({"allow_http_media": true})),
    )
    .await;

    let (status, body, _) = t
        .post(
            "/v2/post/publish/video/init/",
            &tokens.access,
            json!({"post_info": {"privacy_level": "SELF_ONLY"}, "source_info": {"source": "FILE_UPLOAD"}}),
        )
        .await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::BAD_REQUEST, "invalid_param")
    );
    // JSON body sent with the wrong content type.
    let resp = t
        .http
        .post(format!("{}/v2/post/publish/video/init/", t.base))
        .bearer_auth(&tokens.access)
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    t.stop().await;
}

#[tokio::test]
async fn public_post_completes_and_gets_a_big_numeric_post_id() {
    let t = spawn().await;
    let tokens = t.login("alice").await;
    let (status, body) = t
        .init(&tokens.access, "PUBLIC_TO_EVERYONE", &t.media.url("ok.mp4"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    assert!(publish_id.starts_with("v_pub_url~v2."));

    let (body, text) = t
        .wait_status(&tokens.access, &publish_id, |p| {
            !p["post_ids"].as_array().unwrap().is_empty()
        })
        .await;
    assert_eq!(body["data"]["status"], "PUBLISH_COMPLETE");
    let id = body["data"]["publicaly_available_post_id"][0]
        .as_u64()
        .unwrap();
    assert!(id > 1 << 53);
    assert!(
        text.contains(&format!("[{id}]")),
        "post id must be a JSON number: {text}"
    );
    assert!(body["data"]["downloaded_bytes"].as_u64().unwrap() > 0);
    t.stop().await;
}

#[tokio::test]
async fn private_post_completes_without_post_id() {
    let t = spawn().await;
    let tokens = t.login("alice").await;
    let (_, body) = t
        .init(&tokens.access, "SELF_ONLY", &t.media.url("ok.mp4"))
        .await;
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    let (body, _) = t
        .wait_status(&tokens.access, &publish_id, state_is("PUBLISH_COMPLETE"))
        .await;
    assert_eq!(body["data"]["publicaly_available_post_id"], json!([]));
    assert!(body["data"].get("fail_reason").is_none());
    t.stop().await;
}

#[tokio::test]
async fn bad_media_fails_with_the_right_reason() {
    let t = spawn().await;
    let tokens = t.login("alice").await;
    for (file, reason) in [
        ("bad.bin", "file_format_check_failed"),
        ("redirect/ok.mp4", "video_pull_failed"),
        ("missing.mp4", "video_pull_failed"),
        ("long.mp4", "duration_check_failed"),
    ] {
        let (status, body) = t
            .init(&tokens.access, "SELF_ONLY", &t.media.url(file))
            .await;
        assert_eq!(status, StatusCode::OK, "{file}: {body}");
        let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
        let (body, _) = t
            .wait_status(&tokens.access, &publish_id, state_is("FAILED"))
            .await;
        assert_eq!(body["data"]["fail_reason"], reason, "{file}");
    }
    t.stop().await;
}

#[tokio::test]
async fn init_rate_limit_is_six_per_minute_per_token() {
    let t = spawn().await;
    let tokens = t.login("alice").await;
    let url = t.media.url("ok.mp4");
    for _ in 0..6 {
        assert_eq!(
            t.init(&tokens.access, "SELF_ONLY", &url).await.0,
            StatusCode::OK
        );
    }
    let (status, body) = t.init(&tokens.access, "SELF_ONLY", &url).await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limit_exceeded")
    );
    // Another token of the same user has its own window.
    let other = t.login("alice").await;
    assert_eq!(
        t.init(&other.access, "SELF_ONLY", &url).await.0,
        StatusCode::OK
    );
    let stats = t.admin(Method::GET, "/stats", None).await;
    assert_eq!(stats["inits_by_open_id"][&tokens.open_id], 7);
    t.stop().await;
}

#[tokio::test]
async fn status_fetch_limit_and_stats() {
    let t = spawn().await;
    let tokens = t.login("alice").await;
    let (_, body) = t
        .init(&tokens.access, "SELF_ONLY", &t.media.url("ok.mp4"))
        .await;
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    for _ in 0..30 {
        assert_eq!(
            t.status(&tokens.access, &publish_id).await.0,
            StatusCode::OK
        );
    }
    let (status, body, _) = t.status(&tokens.access, &publish_id).await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limit_exceeded")
    );
    let stats = t.admin(Method::GET, "/stats", None).await;
    assert_eq!(
        stats["status_fetches_by_token"][&tokens.access]["last_minute"],
        31
    );
    assert_eq!(stats["max_status_fetches_in_any_60s"], 31);
    t.stop().await;
}

#[tokio::test]
async fn daily_post_cap() {
    let t = spawn().await;
    t.admin(
        Method::POST,
        "/users",
        Some(json!({"username": "alice", "daily_post_cap": 1})),
    )
    .await;
    let tokens = t.login("alice").await;
    let url = t.media.url("ok.mp4");
    assert_eq!(
        t.init(&tokens.access, "SELF_ONLY", &url).await.0,
        StatusCode::OK
    );
    let (status, body) = t.init(&tokens.access, "SELF_ONLY", &url).await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::FORBIDDEN, "spam_risk_too_many_posts")
    );
    let (status, body, _) = t.creator_info(&tokens.access).await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::OK, "spam_risk_too_many_posts")
    );
    t.stop().await;
}

#[tokio::test]
async fn cancel_while_downloading() {
    let t = spawn_with(|c| c.download_delay = std::time::Duration::from_secs(5)).await;
    let tokens = t.login("alice").await;
    let (_, body) = t
        .init(&tokens.access, "SELF_ONLY", &t.media.url("ok.mp4"))
        .await;
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    let (_, body, _) = t.status(&tokens.access, &publish_id).await;
    assert_eq!(body["data"]["status"], "PROCESSING_DOWNLOAD");
    let cancel = json!({ "publish_id": publish_id });
    let (status, _, _) = t
        .post("/v2/post/publish/cancel/", &tokens.access, cancel.clone())
        .await;
    assert_eq!(status, StatusCode::OK);
    let (body, _) = t
        .wait_status(&tokens.access, &publish_id, state_is("FAILED"))
        .await;
    assert_eq!(body["data"]["fail_reason"], "publish_cancelled");
    let (status, body, _) = t
        .post("/v2/post/publish/cancel/", &tokens.access, cancel)
        .await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::BAD_REQUEST, "publish_not_cancellable")
    );
    t.stop().await;
}

#[tokio::test]
async fn publish_ids_are_checked_against_the_caller() {
    let t = spawn().await;
    let alice = t.login("alice").await;
    let bob = t.login("bob").await;
    let (_, body) = t
        .init(&alice.access, "SELF_ONLY", &t.media.url("ok.mp4"))
        .await;
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    let (status, body, _) = t.status(&bob.access, &publish_id).await;
    assert_eq!(
        (status, code_of(&body)),
        (
            StatusCode::BAD_REQUEST,
            "token_not_authorized_for_specified_publish_id"
        )
    );
    let (status, body, _) = t.status(&alice.access, "v_pub_url~v2.1").await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::BAD_REQUEST, "invalid_publish_id")
    );
    t.stop().await;
}

#[tokio::test]
async fn injected_server_errors_and_delays() {
    let t = spawn().await;
    let tokens = t.login("alice").await;
    t.admin(
        Method::POST,
        "/faults",
        Some(json!({"path": "/v2/post/publish/creator_info/", "kind": "server_error", "count": 2, "status": 503})),
    )
    .await;
    for _ in 0..2 {
        let (status, body, _) = t.creator_info(&tokens.access).await;
        assert_eq!(
            (status, code_of(&body)),
            (StatusCode::SERVICE_UNAVAILABLE, "internal_error")
        );
    }
    let (status, _, _) = t.creator_info(&tokens.access).await;
    assert_eq!(status, StatusCode::OK);

    t.admin(Method::POST, "/faults", Some(json!({"kind": "rate_limit"})))
        .await;
    let (status, body) = t.get("/v2/user/info/?fields=open_id", &tokens.access).await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limit_exceeded")
    );

    t.admin(
        Method::POST,
        "/faults",
        Some(json!({"kind": "delay", "delay_ms": 300})),
    )
    .await;
    let started = std::time::Instant::now();
    let (status, _) = t.get("/v2/user/info/?fields=open_id", &tokens.access).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    t.stop().await;
}

async fn inbox_init(
    t: &crate::helpers::TestSandbox,
    token: &str,
    url: &str,
) -> (StatusCode, Value) {
    let (status, body, _) = t
        .post(
            "/v2/post/publish/inbox/video/init/",
            token,
            json!({"source_info": {"source": "PULL_FROM_URL", "video_url": url}}),
        )
        .await;
    (status, body)
}

#[tokio::test]
async fn inbox_uploads_need_video_upload_reach_the_inbox_and_are_posted_by_the_creator() {
    let t = spawn().await;
    let publish_only = t.login_with("bob", "user.info.basic,video.publish").await;
    let (status, body) = inbox_init(&t, &publish_only.access, &t.media.url("ok.mp4")).await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::UNAUTHORIZED, "scope_not_authorized")
    );

    let tokens = t.login("alice").await;
    let (status, body) = inbox_init(&t, &tokens.access, &t.media.url("ok.mp4")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();
    let (body, _) = t
        .wait_status(&tokens.access, &publish_id, state_is("SEND_TO_USER_INBOX"))
        .await;
    assert_eq!(body["data"]["publicaly_available_post_id"], json!([]));

    t.admin(
        Method::POST,
        &format!("/publishes/{publish_id}/post-from-inbox"),
        Some(json!({"privacy_level": "PUBLIC_TO_EVERYONE"})),
    )
    .await;
    let (body, _) = t
        .wait_status(&tokens.access, &publish_id, |p| {
            !p["post_ids"].as_array().unwrap().is_empty()
        })
        .await;
    assert_eq!(body["data"]["status"], "PUBLISH_COMPLETE");
    // Posting it again is refused: it is no longer in the inbox.
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/_sandbox/publishes/{publish_id}/post-from-inbox",
            t.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    t.stop().await;
}

#[tokio::test]
async fn at_most_five_pending_inbox_shares_per_creator() {
    let t = spawn().await;
    let tokens = t.login("alice").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let (status, body) = inbox_init(&t, &tokens.access, &t.media.url("ok.mp4")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.push(body["data"]["publish_id"].as_str().unwrap().to_owned());
    }
    // The sixth in the same minute also hits the 6/min limit on another token: use a new one.
    let again = t.login("alice").await;
    let (status, body) = inbox_init(&t, &again.access, &t.media.url("ok.mp4")).await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::FORBIDDEN, "spam_risk_too_many_pending_share")
    );
    // Once the creator posts one, there is room again.
    t.wait_status(&tokens.access, &ids[0], state_is("SEND_TO_USER_INBOX"))
        .await;
    t.admin(
        Method::POST,
        &format!("/publishes/{}/post-from-inbox", ids[0]),
        None,
    )
    .await;
    let (status, body) = inbox_init(&t, &again.access, &t.media.url("ok.mp4")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    t.stop().await;
}
