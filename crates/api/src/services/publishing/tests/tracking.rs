//! TikTok's updates (webhooks and polling move the same state) and cancel.

use std::time::Duration;

use postiqo_domain::VideoStatus;
use postiqo_tiktok::PublishState;

use super::{World, failure_code, settings};
use crate::services::publishing::{PublishError, TikTokUpdate};
use crate::test_support::{Step, status};

async fn publishing(w: &World) -> (postiqo_domain::VideoId, String) {
    let id = w.uploaded();
    let video = w
        .api
        .publish(w.user, id, settings("SELF_ONLY"))
        .await
        .expect("publishing");
    let pid = video.tiktok.and_then(|t| t.publish_id).expect("publish id");
    (id, pid)
}

#[tokio::test(start_paused = true)]
async fn duplicate_webhooks_change_nothing_and_the_poller_then_stops() {
    let w = World::new();
    let (id, pid) = publishing(&w).await;
    let failed = TikTokUpdate::Failed {
        reason: "video_pull_failed".into(),
    };
    w.api
        .apply_update(w.user, id, &pid, failed.clone())
        .await
        .expect("applied");
    let video = w.video(id).await;
    assert_eq!(failure_code(&video).as_deref(), Some("video_pull_failed"));
    assert!(w.job(id).await.is_none(), "tracking ended with the webhook");
    let writes = w.store.writes();
    w.api
        .apply_update(w.user, id, &pid, failed)
        .await
        .expect("duplicate");
    w.api
        .apply_update(w.user, id, &pid, TikTokUpdate::Complete { post_id: None })
        .await
        .expect("late");
    assert_eq!(
        w.store.writes(),
        writes,
        "duplicates and late updates write nothing"
    );
    assert_eq!(w.video(id).await, video);
}

#[tokio::test(start_paused = true)]
async fn updates_for_another_publish_id_are_ignored() {
    let w = World::new();
    let (id, _) = publishing(&w).await;
    w.api
        .apply_update(
            w.user,
            id,
            "v_pub_other",
            TikTokUpdate::Complete { post_id: None },
        )
        .await
        .expect("ignored");
    assert_eq!(w.video(id).await.status, VideoStatus::Publishing);
}

#[tokio::test(start_paused = true)]
async fn polling_and_webhooks_agree_whichever_comes_first() {
    let w = World::new();
    let (id, pid) = publishing(&w).await;
    w.tiktok
        .on_status(Step::Reply(Ok(status(PublishState::PublishComplete))));
    w.clock.advance(Duration::from_secs(3));
    w.worker.run_due(25).await;
    let video = w.video(id).await;
    assert_eq!(video.status, VideoStatus::Published);
    w.api
        .apply_update(w.user, id, &pid, TikTokUpdate::Complete { post_id: None })
        .await
        .expect("webhook after the poll");
    assert_eq!(w.video(id).await, video);
}

#[tokio::test(start_paused = true)]
async fn only_a_processing_publish_can_be_cancelled() {
    let w = World::new();
    let uploaded = w.uploaded();
    assert!(matches!(
        w.api.cancel(w.user, uploaded).await,
        Err(PublishError::NothingToCancel)
    ));
    let (id, pid) = publishing(&w).await;
    let video = w.api.cancel(w.user, id).await.expect("requested");
    assert_eq!(video.status, VideoStatus::Publishing);
    assert_eq!(w.tiktok.cancels(), vec![pid.clone()]);
    // TikTok then reports the cancellation; the video may be published again.
    w.api
        .apply_update(
            w.user,
            id,
            &pid,
            TikTokUpdate::Failed {
                reason: "publish_cancelled".into(),
            },
        )
        .await
        .expect("applied");
    let failure = w
        .video(id)
        .await
        .tiktok
        .and_then(|t| t.failure)
        .expect("failed");
    assert!(failure.retryable);
}
