use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{code_of, spawn};

#[tokio::test]
async fn returns_only_requested_fields_in_v2_envelope() {
    let t = spawn().await;
    let tokens = t.login("alice").await;
    let (status, body) = t
        .get(
            "/v2/user/info/?fields=open_id,display_name,username",
            &tokens.access,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(code_of(&body), "ok");
    assert!(
        body["error"]["log_id"]
            .as_str()
            .is_some_and(|l| !l.is_empty())
    );
    let user = body["data"]["user"].as_object().unwrap();
    assert_eq!(user.len(), 3);
    assert_eq!(user["open_id"], tokens.body["open_id"]);
    assert_eq!(user["username"], "alice");
    t.stop().await;
}

#[tokio::test]
async fn field_without_granted_scope_is_scope_not_authorized() {
    let t = spawn().await;
    let tokens = t.login_with("alice", "user.info.basic").await;
    let (status, body) = t
        .get("/v2/user/info/?fields=open_id,username", &tokens.access)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code_of(&body), "scope_not_authorized");
    assert_eq!(body["data"], json!({}));
    let (status, body) = t
        .get("/v2/user/info/?fields=follower_count", &tokens.access)
        .await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::UNAUTHORIZED, "scope_not_authorized")
    );
    t.stop().await;
}

#[tokio::test]
async fn bad_fields_and_bad_tokens() {
    let t = spawn().await;
    let tokens = t.login("alice").await;
    let (status, body) = t.get("/v2/user/info/", &tokens.access).await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::BAD_REQUEST, "invalid_params")
    );
    let (status, body) = t.get("/v2/user/info/?fields=email", &tokens.access).await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::BAD_REQUEST, "invalid_params")
    );
    let (status, body) = t.get("/v2/user/info/?fields=open_id", "act.nope").await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::UNAUTHORIZED, "access_token_invalid")
    );

    let expired = t
        .admin(
            Method::POST,
            "/tokens/expire",
            Some(json!({"user": "alice"})),
        )
        .await;
    assert_eq!(expired["expired"], 1);
    let (status, body) = t.get("/v2/user/info/?fields=open_id", &tokens.access).await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::UNAUTHORIZED, "access_token_invalid")
    );
    t.stop().await;
}

#[tokio::test]
async fn access_token_ttl_is_adjustable_at_runtime() {
    let t = spawn().await;
    t.admin(
        Method::PATCH,
        "/settings",
        Some(json!({"access_token_ttl_secs": 0})),
    )
    .await;
    let tokens = t.login("alice").await;
    assert_eq!(tokens.body["expires_in"], 0);
    let (status, _) = t.get("/v2/user/info/?fields=open_id", &tokens.access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    t.stop().await;
}
