use std::time::Duration;

use postiqo_tiktok::{
    ApiErrorCode, FailReason, PostInfo, PrivacyLevel, PublishId, PublishState, PublishStatus,
    SecretString, TikTokClient, TikTokError,
};
use reqwest::Method;
use serde_json::json;
use url::Url;

use crate::helpers::{Harness, spawn, spawn_with};

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

/// Polls gently (the status budget is 30/min per token) until `done`.
async fn wait(
    client: &TikTokClient,
    token: &SecretString,
    id: &PublishId,
    done: impl Fn(&PublishStatus) -> bool,
) -> PublishStatus {
    for _ in 0..25 {
        let st = client.fetch_status(token, id).await.unwrap();
        if done(&st) {
            return st;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    panic!("publish {id} did not reach the expected state");
}

async fn setup() -> (Harness, TikTokClient, postiqo_tiktok::TokenSet) {
    let h = spawn().await;
    let client = h.client();
    let tokens = h.login(&client, "alice").await;
    (h, client, tokens)
}

#[tokio::test]
async fn direct_post_public_video_end_to_end() {
    let (h, client, tokens) = setup().await;
    let info = client.creator_info(&tokens.access_token).await.unwrap();
    assert_eq!(info.creator_username.as_deref(), Some("alice"));
    assert!(
        info.privacy_level_options
            .contains(&PrivacyLevel::PublicToEveryone)
    );
    assert_eq!(info.max_video_post_duration_sec, Some(600));

    let mut post = PostInfo::new(PrivacyLevel::PublicToEveryone);
    post.title = Some("Hello from Postiqo #test".into());
    post.video_cover_timestamp_ms = Some(1000);
    let id = client
        .init_video_publish(&tokens.access_token, &post, &url(&h.media.url("ok.mp4")))
        .await
        .unwrap();
    assert!(id.as_str().starts_with("v_pub_url~v2."));

    let st = wait(&client, &tokens.access_token, &id, |s| {
        !s.publicly_available_post_ids.is_empty()
    })
    .await;
    assert_eq!(st.status, PublishState::PublishComplete);
    assert_eq!(st.fail_reason, None);
    let post_id = &st.publicly_available_post_ids[0];
    assert_eq!(post_id.as_str().len(), 19);
    // Exact digits survived (a float would have rounded the last ones).
    let publishes = h.admin(Method::GET, "/publishes", None).await;
    assert_eq!(
        publishes[0]["post_ids"][0].as_u64().unwrap().to_string(),
        post_id.as_str()
    );
    h.stop().await;
}

#[tokio::test]
async fn media_failures_surface_as_fail_reasons() {
    let (h, client, tokens) = setup().await;
    let post = PostInfo::new(PrivacyLevel::SelfOnly);
    for (file, reason) in [
        ("bad.bin", FailReason::FileFormatCheckFailed),
        ("redirect/ok.mp4", FailReason::VideoPullFailed),
        ("long.mp4", FailReason::DurationCheckFailed),
    ] {
        let id = client
            .init_video_publish(&tokens.access_token, &post, &url(&h.media.url(file)))
            .await
            .unwrap();
        let st = wait(&client, &tokens.access_token, &id, |s| {
            s.status == PublishState::Failed
        })
        .await;
        assert_eq!(st.fail_reason, Some(reason), "{file}");
    }
    h.stop().await;
}

#[tokio::test]
async fn creator_who_cannot_post_now() {
    let (h, client, tokens) = setup().await;
    h.admin(
        Method::PATCH,
        "/users/alice",
        Some(json!({"can_post": false, "cannot_post_code": "reached_active_user_cap"})),
    )
    .await;
    let err = client.creator_info(&tokens.access_token).await.unwrap_err();
    assert!(matches!(
        err,
        TikTokError::Api {
            code: ApiErrorCode::ReachedActiveUserCap,
            http_status: 200,
            ..
        }
    ));
    assert!(err.cannot_post_now() && !err.is_retryable());
    h.stop().await;
}

#[tokio::test]
async fn init_rejections_are_typed() {
    let (h, client, tokens) = setup().await;
    let ok = url(&h.media.url("ok.mp4"));
    let err = client
        .init_video_publish(
            &tokens.access_token,
            &PostInfo::new(PrivacyLevel::FollowerOfCreator),
            &ok,
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        TikTokError::Api {
            code: ApiErrorCode::PrivacyLevelOptionMismatch,
            http_status: 403,
            ..
        }
    ));

    let err = client
        .init_video_publish(
            &tokens.access_token,
            &PostInfo::new(PrivacyLevel::SelfOnly),
            &url("https://cdn.elsewhere.example/v.mp4"),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        TikTokError::Api {
            code: ApiErrorCode::UrlOwnershipUnverified,
            ..
        }
    ));

    let mut long_title = PostInfo::new(PrivacyLevel::SelfOnly);
    long_title.title = Some("x".repeat(2201));
    let err = client
        .init_video_publish(&tokens.access_token, &long_title, &ok)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        TikTokError::Api {
            code: ApiErrorCode::InvalidParams,
            http_status: 400,
            ..
        }
    ));
    h.stop().await;
}

#[tokio::test]
async fn rate_limited_init_is_retryable() {
    let (h, client, tokens) = setup().await;
    let ok = url(&h.media.url("ok.mp4"));
    let post = PostInfo::new(PrivacyLevel::SelfOnly);
    for _ in 0..6 {
        client
            .init_video_publish(&tokens.access_token, &post, &ok)
            .await
            .unwrap();
    }
    let err = client
        .init_video_publish(&tokens.access_token, &post, &ok)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        TikTokError::Api {
            code: ApiErrorCode::RateLimitExceeded,
            http_status: 429,
            ..
        }
    ));
    assert!(err.is_retryable());
    h.stop().await;
}

#[tokio::test]
async fn cancel_while_downloading() {
    let h = spawn_with(|c| c.download_delay = Duration::from_secs(5)).await;
    let client = h.client();
    let tokens = h.login(&client, "alice").await;
    let id = client
        .init_video_publish(
            &tokens.access_token,
            &PostInfo::new(PrivacyLevel::SelfOnly),
            &url(&h.media.url("ok.mp4")),
        )
        .await
        .unwrap();
    let st = client
        .fetch_status(&tokens.access_token, &id)
        .await
        .unwrap();
    assert_eq!(st.status, PublishState::ProcessingDownload);
    client
        .cancel_publish(&tokens.access_token, &id)
        .await
        .unwrap();
    let st = wait(&client, &tokens.access_token, &id, |s| {
        s.status == PublishState::Failed
    })
    .await;
    assert_eq!(st.fail_reason, Some(FailReason::PublishCancelled));
    let err = client
        .cancel_publish(&tokens.access_token, &id)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        TikTokError::Api {
            code: ApiErrorCode::PublishNotCancellable,
            ..
        }
    ));

    let err = client
        .fetch_status(&tokens.access_token, &PublishId::new("v_pub_url~v2.1"))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        TikTokError::Api {
            code: ApiErrorCode::InvalidPublishId,
            ..
        }
    ));
    h.stop().await;
}
