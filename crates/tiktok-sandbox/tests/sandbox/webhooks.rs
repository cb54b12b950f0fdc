use std::time::Duration;

use hmac::{Hmac, Mac};
use postiqo_tiktok_sandbox::testkit::ReceivedWebhook;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{SECRET, spawn};

const WAIT: Duration = Duration::from_secs(5);

fn event_is(name: &'static str) -> impl Fn(&ReceivedWebhook) -> bool {
    move |w| parse(w)["event"] == name
}

fn parse(w: &ReceivedWebhook) -> Value {
    serde_json::from_slice(&w.body).unwrap()
}

/// Independent check of §6.4: HMAC-SHA256(secret, t + "." + body), hex.
fn assert_signed(w: &ReceivedWebhook) {
    let header = w.signature.as_deref().unwrap();
    let (t, s) = header.split_once(',').unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let s = s.strip_prefix("s=").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&w.body);
    mac.verify_slice(&hex::decode(s).unwrap()).unwrap();
}

#[tokio::test]
async fn publish_events_are_signed_and_shaped_like_tiktok() {
    let t = spawn().await;
    let tokens = t.login("alice").await;
    let (_, body) = t
        .init(&tokens.access, "PUBLIC_TO_EVERYONE", &t.media.url("ok.mp4"))
        .await;
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();

    let complete = t
        .sink
        .wait_for(WAIT, event_is("post.publish.complete"))
        .await
        .unwrap();
    assert_signed(&complete);
    let c = parse(&complete);
    assert_eq!(c["client_key"], "sbx_client_key");
    assert_eq!(c["user_openid"], tokens.open_id.as_str());
    assert!(c["create_time"].as_i64().unwrap() > 1_600_000_000);
    // `content` is a JSON document inside a string.
    let content: Value = serde_json::from_str(c["content"].as_str().unwrap()).unwrap();
    assert_eq!(content["publish_id"], publish_id.as_str());

    let public = t
        .sink
        .wait_for(WAIT, event_is("post.publish.publicly_available"))
        .await
        .unwrap();
    assert_signed(&public);
    let content: Value = serde_json::from_str(parse(&public)["content"].as_str().unwrap()).unwrap();
    assert_eq!(content["post_id"].as_str().unwrap().len(), 19);
    t.stop().await;
}

#[tokio::test]
async fn failed_publish_event() {
    let t = spawn().await;
    let tokens = t.login("alice").await;
    t.init(&tokens.access, "SELF_ONLY", &t.media.url("bad.bin"))
        .await;
    let failed = t
        .sink
        .wait_for(WAIT, event_is("post.publish.failed"))
        .await
        .unwrap();
    assert_signed(&failed);
    let content: Value = serde_json::from_str(parse(&failed)["content"].as_str().unwrap()).unwrap();
    assert_eq!(content["reason"], "file_format_check_failed");
    t.stop().await;
}

#[tokio::test]
async fn disconnect_revokes_fails_running_publishes_and_notifies() {
    let t = spawn().await;
    t.admin(
        Method::PATCH,
        "/settings",
        Some(json!({"download_delay_ms": 5000})),
    )
    .await;
    let tokens = t.login("alice").await;
    let (_, body) = t
        .init(&tokens.access, "SELF_ONLY", &t.media.url("ok.mp4"))
        .await;
    let publish_id = body["data"]["publish_id"].as_str().unwrap().to_owned();

    let out = t.admin(Method::POST, "/users/alice/disconnect", None).await;
    assert_eq!(out["failed_publishes"], json!([publish_id]));
    let removed = t
        .sink
        .wait_for(WAIT, event_is("authorization.removed"))
        .await
        .unwrap();
    assert_signed(&removed);
    let content: Value =
        serde_json::from_str(parse(&removed)["content"].as_str().unwrap()).unwrap();
    assert_eq!(content["reason"], 1);
    let failed = t
        .sink
        .wait_for(WAIT, event_is("post.publish.failed"))
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&failed.body).contains("auth_removed"));
    let (status, _) = t.get("/v2/user/info/?fields=open_id", &tokens.access).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    t.stop().await;
}

#[tokio::test]
async fn dropped_and_retried_deliveries() {
    let t = spawn().await;
    t.admin(
        Method::POST,
        "/faults/drop-webhooks",
        Some(json!({"count": 1})),
    )
    .await;
    t.sink.fail_next(&[500]);
    t.admin(Method::POST, "/users", Some(json!({"username": "carol"})))
        .await;
    // First event dropped, second retried after a 500.
    t.admin(
        Method::POST,
        "/users/carol/disconnect",
        Some(json!({"reason": 5})),
    )
    .await;
    t.admin(Method::POST, "/users/carol/disconnect", None).await;
    let delivered = t
        .sink
        .wait_for(WAIT, |w| parse(w)["event"] == "authorization.removed")
        .await;
    assert!(delivered.is_some());
    tokio::time::sleep(Duration::from_millis(600)).await;
    let log = t.admin(Method::GET, "/webhooks", None).await;
    let outcomes: Vec<_> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["outcome"].clone(), w["attempts"].clone()))
        .collect();
    assert_eq!(
        outcomes,
        vec![(json!("dropped"), json!(0)), (json!("delivered"), json!(2))]
    );
    assert_eq!(t.sink.received().len(), 2);
    t.stop().await;
}
