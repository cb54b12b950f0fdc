use std::time::Duration;

use postiqo_tiktok::{
    AuthorizationRemovedReason, FailReason, PostInfo, PrivacyLevel, SecretString, SignatureWindow,
    WebhookError, WebhookEvent, parse_webhook_event, verify_webhook_signature,
};
use postiqo_tiktok_sandbox::testkit::ReceivedWebhook;
use reqwest::Method;
use url::Url;

use crate::helpers::{SECRET, spawn};

const WAIT: Duration = Duration::from_secs(5);
const WINDOW: SignatureWindow = SignatureWindow {
    max_age_secs: 300,
    max_ahead_secs: 300,
};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// What our API server will do with a delivery: verify, then parse.
fn accept(w: &ReceivedWebhook) -> WebhookEvent {
    let header = w.signature.as_deref().unwrap();
    verify_webhook_signature(header, &w.body, &SecretString::from(SECRET), now(), WINDOW).unwrap();
    parse_webhook_event(&w.body).unwrap().event
}

fn contains(event: &'static str) -> impl Fn(&ReceivedWebhook) -> bool {
    move |w| String::from_utf8_lossy(&w.body).contains(&format!("\"event\":\"{event}\""))
}

#[tokio::test]
async fn sandbox_webhooks_verify_and_parse() {
    let h = spawn().await;
    let client = h.client();
    let tokens = h.login(&client, "alice").await;
    let id = client
        .init_video_publish(
            &tokens.access_token,
            &PostInfo::new(PrivacyLevel::PublicToEveryone),
            &Url::parse(&h.media.url("ok.mp4")).unwrap(),
        )
        .await
        .unwrap();

    let complete = h
        .sink
        .wait_for(WAIT, contains("post.publish.complete"))
        .await
        .unwrap();
    assert_eq!(
        accept(&complete),
        WebhookEvent::PublishComplete {
            publish_id: id.clone()
        }
    );
    let hook = parse_webhook_event(&complete.body).unwrap();
    assert_eq!(hook.user_open_id, tokens.open_id);
    assert_eq!(hook.client_key, "sbx_client_key");

    let public = h
        .sink
        .wait_for(WAIT, contains("post.publish.publicly_available"))
        .await
        .unwrap();
    let WebhookEvent::PubliclyAvailable {
        publish_id,
        post_id,
    } = accept(&public)
    else {
        panic!("wrong event");
    };
    assert_eq!(publish_id, id);
    let st = client
        .fetch_status(&tokens.access_token, &id)
        .await
        .unwrap();
    assert_eq!(st.publicly_available_post_ids, vec![post_id]);

    // Tampering or a wrong secret is caught.
    let header = public.signature.as_deref().unwrap();
    let mut body = public.body.clone();
    body.push(b' ');
    assert!(matches!(
        verify_webhook_signature(header, &body, &SecretString::from(SECRET), now(), WINDOW),
        Err(WebhookError::SignatureMismatch)
    ));
    assert!(
        verify_webhook_signature(
            header,
            &public.body,
            &SecretString::from("other"),
            now(),
            WINDOW
        )
        .is_err()
    );
    h.stop().await;
}

#[tokio::test]
async fn failure_and_authorization_removed_events() {
    let h = spawn().await;
    let client = h.client();
    let tokens = h.login(&client, "alice").await;
    let id = client
        .init_video_publish(
            &tokens.access_token,
            &PostInfo::new(PrivacyLevel::SelfOnly),
            &Url::parse(&h.media.url("bad.bin")).unwrap(),
        )
        .await
        .unwrap();
    let failed = h
        .sink
        .wait_for(WAIT, contains("post.publish.failed"))
        .await
        .unwrap();
    assert_eq!(
        accept(&failed),
        WebhookEvent::PublishFailed {
            publish_id: id,
            reason: FailReason::FileFormatCheckFailed
        }
    );

    h.admin(Method::POST, "/users/alice/disconnect", None).await;
    let removed = h
        .sink
        .wait_for(WAIT, contains("authorization.removed"))
        .await
        .unwrap();
    assert_eq!(
        accept(&removed),
        WebhookEvent::AuthorizationRemoved {
            reason: AuthorizationRemovedReason::UserDisconnected
        }
    );
    assert!(
        client
            .creator_info(&tokens.access_token)
            .await
            .unwrap_err()
            .needs_token_refresh()
    );
    h.stop().await;
}
