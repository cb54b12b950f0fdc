//! A connection that dies under a request (the sandbox's `close_connection` fault: it reads
//! the request and closes without answering, as a server closing an idle keep-alive
//! connection does when a request arrives at that moment).

use postiqo_tiktok::{
    PostInfo, PrivacyLevel, PublishId, TikTokClient, TikTokError, TokenSet, UserField,
};
use reqwest::Method;
use serde_json::{Value, json};
use url::Url;

use crate::helpers::{Harness, spawn};

async fn setup() -> (Harness, TikTokClient, TokenSet) {
    let h = spawn().await;
    let client = h.client();
    let tokens = h.login(&client, "carol").await;
    (h, client, tokens)
}

/// Arms the fault for the next `count` requests on `path`.
async fn close_next(h: &Harness, path: &str, count: u32) {
    h.admin(
        Method::POST,
        "/faults",
        Some(json!({"path": path, "kind": "close_connection", "count": count})),
    )
    .await;
}

/// How many requests the armed faults still wait for.
async fn armed(h: &Harness) -> u64 {
    let faults: Value = h.admin(Method::GET, "/faults", None).await;
    faults["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .sum()
}

fn is_transport(e: &TikTokError) -> bool {
    matches!(e, TikTokError::Transport(_))
}

#[tokio::test]
async fn calls_safe_to_repeat_survive_one_dead_connection() {
    let (h, client, tokens) = setup().await;
    let token = &tokens.access_token;

    close_next(&h, "/v2/post/publish/creator_info/query/", 1).await;
    let info = client.creator_info(token).await.expect("sent once more");
    assert_eq!(info.creator_username.as_deref(), Some("carol"));

    close_next(&h, "/v2/user/info/", 1).await;
    let me = client
        .user_info(token, &[UserField::OpenId, UserField::DisplayName])
        .await
        .expect("sent once more");
    assert_eq!(me.open_id.as_ref(), Some(&tokens.open_id));

    let id = client
        .init_video_publish(
            token,
            &PostInfo::new(PrivacyLevel::SelfOnly),
            &Url::parse(&h.media.url("ok.mp4")).unwrap(),
        )
        .await
        .unwrap();
    close_next(&h, "/v2/post/publish/status/fetch/", 1).await;
    client
        .fetch_status(token, &id)
        .await
        .expect("sent once more");
    assert_eq!(armed(&h).await, 0, "every fault was used");

    // Once more, not forever: two dead connections in a row are the caller's error.
    close_next(&h, "/v2/post/publish/creator_info/query/", 3).await;
    let err = client.creator_info(token).await.unwrap_err();
    assert!(is_transport(&err) && err.is_retryable(), "{err:?}");
    assert_eq!(armed(&h).await, 1, "exactly two requests were sent");

    // Revoke repeats too: revoking twice leaves the grant just as gone.
    h.admin(Method::DELETE, "/faults", None).await;
    close_next(&h, "/v2/oauth/revoke/", 1).await;
    client.revoke(token).await.expect("sent once more");
    let err = client.creator_info(token).await.unwrap_err();
    assert!(err.needs_token_refresh(), "revoked: {err:?}");
    h.stop().await;
}

#[tokio::test]
async fn a_publish_init_or_a_token_request_is_never_sent_twice() {
    let (h, client, tokens) = setup().await;
    let media = Url::parse(&h.media.url("ok.mp4")).unwrap();

    close_next(&h, "/v2/post/publish/video/init/", 2).await;
    let err = client
        .init_video_publish(
            &tokens.access_token,
            &PostInfo::new(PrivacyLevel::SelfOnly),
            &media,
        )
        .await
        .unwrap_err();
    assert!(is_transport(&err), "{err:?}");
    assert_eq!(armed(&h).await, 1, "one init request, not two");
    let publishes: Value = h.admin(Method::GET, "/publishes", None).await;
    assert_eq!(publishes.as_array().unwrap().len(), 0, "{publishes}");

    h.admin(Method::DELETE, "/faults", None).await;
    close_next(&h, "/v2/oauth/token/", 2).await;
    let err = client.refresh(&tokens.refresh_token).await.unwrap_err();
    assert!(is_transport(&err), "{err:?}");
    assert_eq!(armed(&h).await, 1, "one refresh request, not two");
    // TikTok never saw it, so the refresh token still works.
    h.admin(Method::DELETE, "/faults", None).await;
    client.refresh(&tokens.refresh_token).await.unwrap();

    // Cancel is left alone as well.
    let id: PublishId = client
        .init_video_publish(
            &tokens.access_token,
            &PostInfo::new(PrivacyLevel::SelfOnly),
            &media,
        )
        .await
        .unwrap_or_else(|e| panic!("init: {e}"));
    close_next(&h, "/v2/post/publish/cancel/", 2).await;
    let _ = client.cancel_publish(&tokens.access_token, &id).await;
    assert_eq!(armed(&h).await, 1, "one cancel request, not two");
    h.stop().await;
}
