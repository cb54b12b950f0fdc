//! Drafts in the creator's TikTok inbox: the scope, TikTok's 5 pending drafts, and the
//! draft's way to SENT_TO_INBOX and PUBLISHED.

use std::time::Duration;

use postiqo_domain::{FrameRate, PublishMode, PublishSettings, VideoId, VideoMedia, VideoStatus};
use postiqo_tiktok::PublishState;

use super::{World, failure_code, media};
use crate::services::ports::Clock;
use crate::services::publishing::PublishError;
use crate::services::publishing::{PublishPlan, TikTokUpdate};
use crate::test_support::{Step, status, tiktok_error};

fn draft() -> PublishPlan {
    PublishPlan {
        settings: PublishSettings::draft(),
        mode: PublishMode::Draft,
        scheduled_at: None,
    }
}

async fn sent(w: &World) -> Result<VideoId, PublishError> {
    let id = w.uploaded();
    w.api.publish_plan(w.user, id, draft()).await.map(|_| id)
}

#[tokio::test(start_paused = true)]
async fn a_draft_needs_the_upload_scope() {
    let w = World::new();
    assert!(matches!(
        sent(&w).await,
        Err(PublishError::UploadScopeMissing)
    ));
    assert_eq!(w.tiktok.inbox_inits(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_sixth_pending_draft_is_refused_without_calling_tiktok() {
    let w = World::new();
    w.grant_upload_scope().await;
    for _ in 0..5 {
        sent(&w).await.expect("room");
        w.advance(Duration::from_secs(61));
    }
    assert_eq!(w.tiktok.inbox_inits(), 5);
    let r = sent(&w).await;
    let Err(PublishError::InboxFull { retry_after }) = r else {
        panic!("expected inbox full, got {r:?}");
    };
    // The oldest of the five leaves TikTok's 24 h window 5 × 61 s after it was sent.
    assert_eq!(retry_after, Duration::from_secs(24 * 3600 - 5 * 61));
    assert_eq!(w.tiktok.inbox_inits(), 5, "TikTok was not asked");
    // Once the oldest is older than 24 h it no longer counts.
    w.advance(Duration::from_secs(24 * 3600 - 5 * 61 + 1));
    sent(&w).await.expect("the oldest left the window");
}

#[tokio::test(start_paused = true)]
async fn tiktoks_own_pending_share_refusal_is_the_same_answer() {
    let w = World::new();
    w.grant_upload_scope().await;
    w.tiktok.on_init(Step::Reply(Err(tiktok_error(
        "spam_risk_too_many_pending_share",
        403,
    ))));
    let id = w.uploaded();
    let r = w.api.publish_plan(w.user, id, draft()).await;
    assert!(
        matches!(r, Err(PublishError::InboxFull { retry_after }) if retry_after == Duration::from_secs(3600)),
        "{r:?}"
    );
    let v = w.video(id).await;
    assert_eq!(failure_code(&v).as_deref(), Some("tiktok_inbox_full"));
    assert!(
        v.tiktok
            .and_then(|t| t.failure)
            .is_some_and(|f| f.retryable)
    );
}

#[tokio::test(start_paused = true)]
async fn a_draft_reaches_the_inbox_by_polling_and_is_published_when_the_creator_posts_it() {
    let w = World::new();
    w.grant_upload_scope().await;
    let id = sent(&w).await.expect("sent");
    w.tiktok
        .on_status(Step::Reply(Ok(status(PublishState::SendToUserInbox))));
    w.advance(Duration::from_secs(3));
    w.worker.run_due(25).await;
    let v = w.video(id).await;
    assert_eq!(v.status, VideoStatus::SentToInbox);
    assert!(!v.post_id_expected(w.clock.now(), chrono::Duration::hours(1)));
    let job = w.job(id).await.expect("still followed");
    assert_eq!(job.phase, postiqo_domain::JobPhase::AwaitPostId);
    // Still in the inbox at the next poll: nothing changes.
    w.tiktok
        .on_status(Step::Reply(Ok(status(PublishState::SendToUserInbox))));
    w.advance(Duration::from_secs(60));
    w.worker.run_due(25).await;
    assert_eq!(w.video(id).await.status, VideoStatus::SentToInbox);
    // The creator posted it publicly: the webhook brings the post id.
    let publish_id = w
        .video(id)
        .await
        .tiktok
        .and_then(|t| t.publish_id)
        .expect("publish id");
    w.api
        .apply_update(
            w.user,
            id,
            &publish_id,
            TikTokUpdate::Complete {
                post_id: Some("7301234567890123456".into()),
            },
        )
        .await
        .expect("update");
    let v = w.video(id).await;
    assert_eq!(v.status, VideoStatus::Published);
    assert_eq!(
        v.tiktok.and_then(|t| t.post_id).as_deref(),
        Some("7301234567890123456")
    );
    assert!(w.job(id).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_draft_reaches_the_inbox_by_webhook_alone() {
    let w = World::new();
    w.grant_upload_scope().await;
    let id = sent(&w).await.expect("sent");
    let publish_id = w
        .video(id)
        .await
        .tiktok
        .and_then(|t| t.publish_id)
        .expect("publish id");
    for _ in 0..2 {
        w.api
            .apply_update(w.user, id, &publish_id, TikTokUpdate::InboxDelivered)
            .await
            .expect("update");
    }
    assert_eq!(w.video(id).await.status, VideoStatus::SentToInbox);
    assert_eq!(w.tiktok.status_calls(), 0);
}

fn codes(r: Result<postiqo_domain::Video, PublishError>) -> Vec<&'static str> {
    match r {
        Err(PublishError::Media(problems)) => problems.iter().map(|p| p.code()).collect(),
        other => panic!("expected a media refusal, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_draft_outside_tiktoks_media_limits_is_refused_before_tiktok() {
    let w = World::new();
    w.grant_upload_scope().await;
    let cases = [
        (
            VideoMedia {
                frame_rate: FrameRate::from_fps(120.0),
                ..media()
            },
            "frame_rate_unsupported",
        ),
        (
            VideoMedia {
                width: 426,
                height: 240,
                ..media()
            },
            "resolution_unsupported",
        ),
        (
            VideoMedia {
                video_codec: "av1".into(),
                ..media()
            },
            "codec_unsupported",
        ),
        // Longer than the API takes (10 minutes): there is no creator maximum for a draft.
        (
            VideoMedia {
                duration_ms: 600_001,
                ..media()
            },
            "video_too_long",
        ),
    ];
    for (facts, code) in cases {
        let id = w.uploaded_with(facts);
        assert_eq!(codes(w.api.publish_plan(w.user, id, draft()).await), [code]);
        // A scheduled draft is refused when it is made, not when it is due.
        let later = PublishPlan {
            scheduled_at: Some(w.clock.now() + chrono::Duration::hours(1)),
            ..draft()
        };
        assert_eq!(codes(w.api.publish_plan(w.user, id, later).await), [code]);
        let v = w.video(id).await;
        assert_eq!(v.status, VideoStatus::Uploaded, "nothing changed");
        assert!(w.job(id).await.is_none());
    }
    assert_eq!(w.tiktok.inbox_inits(), 0, "TikTok was not asked");
    assert_eq!(w.tiktok.creator_calls(), 0);

    // Ten minutes exactly is a draft TikTok takes, whatever the creator may post directly.
    let id = w.uploaded_with(VideoMedia {
        duration_ms: 600_000,
        ..media()
    });
    w.api
        .publish_plan(w.user, id, draft())
        .await
        .expect("inside every limit");
    assert_eq!(w.tiktok.inbox_inits(), 1);
    assert_eq!(w.tiktok.creator_calls(), 0, "a draft needs no creator info");
}
