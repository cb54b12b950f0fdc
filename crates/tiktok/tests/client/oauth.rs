use std::time::Duration;

use postiqo_tiktok::{
    ApiErrorCode, CallbackError, ExposeSecret, OAuthErrorCode, Pkce, PkceMode, TikTokClient,
    TikTokError, UserField,
};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{spawn, spawn_with};

#[tokio::test]
async fn login_works_in_every_pkce_mode() {
    let h = spawn().await;
    for mode in [PkceMode::Off, PkceMode::S256, PkceMode::S256Hex] {
        let client = TikTokClient::new(h.config(mode)).unwrap();
        let pkce = Pkce::generate(mode);
        let cb = h
            .callback(&client, "alice", "approve", pkce.as_ref().map(|(_, c)| c))
            .await
            .unwrap();
        assert_eq!(cb.state, "state-123");
        assert_eq!(
            cb.scopes,
            [
                "user.info.basic",
                "user.info.profile",
                "video.publish",
                "video.upload"
            ]
        );
        let verifier = pkce.as_ref().map(|(v, _)| v.secret().as_str());
        let tokens = client
            .exchange_code(cb.code.expose_secret(), verifier)
            .await
            .unwrap();
        assert!(tokens.has_scope("video.publish"));
        assert_eq!(tokens.expires_in, Duration::from_secs(7200));
        assert_eq!(tokens.token_type, "Bearer");

        let me = client
            .user_info(&tokens.access_token, UserField::PROFILE)
            .await
            .unwrap();
        assert_eq!(me.open_id.as_ref(), Some(&tokens.open_id));
        assert_eq!(me.username.as_deref(), Some("alice"));
    }
    let stats = h.admin(Method::GET, "/stats", None).await;
    assert_eq!(stats["pkce_matches"], json!({"base64url": 1, "hex": 1}));
    h.stop().await;
}

#[tokio::test]
async fn wrong_verifier_and_replayed_code_are_invalid_grant() {
    let h = spawn().await;
    let client = h.client();
    let (verifier, challenge) = Pkce::generate(PkceMode::S256).unwrap();
    let cb = h
        .callback(&client, "alice", "approve", Some(&challenge))
        .await
        .unwrap();
    let code = cb.code.expose_secret();
    let err = client
        .exchange_code(code, Some("x".repeat(43).as_str()))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        TikTokError::OAuth { error: OAuthErrorCode::InvalidGrant, http_status: 400, ref log_id, .. }
            if log_id.is_some()
    ));
    assert!(err.needs_reauthorization() && !err.is_retryable());
    client
        .exchange_code(code, Some(verifier.secret()))
        .await
        .unwrap();
    let err = client
        .exchange_code(code, Some(verifier.secret()))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        TikTokError::OAuth {
            error: OAuthErrorCode::InvalidGrant,
            ..
        }
    ));
    h.stop().await;
}

#[tokio::test]
async fn denied_consent_is_reported() {
    let h = spawn().await;
    let client = h.client();
    let err = h
        .callback(&client, "alice", "deny", None)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        CallbackError::Refused { error: OAuthErrorCode::AccessDenied, state: Some(ref s), .. } if s == "state-123"
    ));
    h.stop().await;
}

#[tokio::test]
async fn refresh_rotates_and_revoke_ends_access() {
    let h = spawn().await;
    let client = h.client();
    let first = h.login(&client, "alice").await;
    let second = client.refresh(&first.refresh_token).await.unwrap();
    assert_ne!(
        second.refresh_token.expose_secret(),
        first.refresh_token.expose_secret()
    );
    assert_eq!(second.open_id, first.open_id);
    let err = client.refresh(&first.refresh_token).await.unwrap_err();
    assert!(matches!(
        err,
        TikTokError::OAuth {
            error: OAuthErrorCode::InvalidGrant,
            ..
        }
    ));

    client.revoke(&second.access_token).await.unwrap();
    let err = client
        .user_info(&second.access_token, UserField::BASIC)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        TikTokError::Api {
            code: ApiErrorCode::AccessTokenInvalid,
            http_status: 401,
            ..
        }
    ));
    assert!(err.needs_token_refresh());
    h.stop().await;
}

#[tokio::test]
async fn expired_token_asks_for_refresh_and_missing_scope_for_reauth() {
    let h = spawn().await;
    let client = h.client();
    let tokens = h.login(&client, "alice").await;
    let err = client
        .user_info(&tokens.access_token, &[UserField::FollowerCount])
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        TikTokError::Api {
            code: ApiErrorCode::ScopeNotAuthorized,
            ..
        }
    ));
    assert!(err.needs_reauthorization());

    h.admin(
        Method::POST,
        "/tokens/expire",
        Some(json!({"user": "alice"})),
    )
    .await;
    let err = client
        .user_info(&tokens.access_token, UserField::BASIC)
        .await
        .unwrap_err();
    assert!(err.needs_token_refresh());
    let fresh = client.refresh(&tokens.refresh_token).await.unwrap();
    client
        .user_info(&fresh.access_token, UserField::BASIC)
        .await
        .unwrap();
    h.stop().await;
}

#[tokio::test]
async fn token_error_with_http_200_is_still_an_error() {
    let h = spawn().await;
    let mut cfg = h.config(PkceMode::S256);
    cfg.client_secret = "wrong".to_owned().into();
    let client = TikTokClient::new(cfg).unwrap();
    h.admin(
        Method::POST,
        "/faults",
        Some(json!({"path": "/v2/oauth/token/", "kind": "error_as_200"})),
    )
    .await;
    let err = client
        .refresh(&"rft.whatever".to_owned().into())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        TikTokError::OAuth {
            error: OAuthErrorCode::InvalidClient,
            http_status: 200,
            ..
        }
    ));
    // The secret must not leak through the error's output.
    assert!(!format!("{err} {err:?}").contains("wrong"));
    h.stop().await;
}

#[tokio::test]
async fn server_errors_are_retryable_and_slow_answers_time_out() {
    let h = spawn_with(|_| {}).await;
    let mut cfg = h.config(PkceMode::S256);
    cfg.request_timeout = Duration::from_millis(300);
    let client = TikTokClient::new(cfg).unwrap();
    let tokens = h.login(&client, "alice").await;

    h.admin(
        Method::POST,
        "/faults",
        Some(json!({"path": "/v2/user/info/", "kind": "server_error", "status": 502})),
    )
    .await;
    let err = client
        .user_info(&tokens.access_token, UserField::BASIC)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");

    h.admin(
        Method::POST,
        "/faults",
        Some(json!({"path": "/v2/user/info/", "kind": "delay", "delay_ms": 1500})),
    )
    .await;
    let err = client
        .user_info(&tokens.access_token, UserField::BASIC)
        .await
        .unwrap_err();
    assert!(matches!(err, TikTokError::Timeout), "{err:?}");
    assert!(err.is_retryable());
    h.stop().await;
}
