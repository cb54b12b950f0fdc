//! TikTok's per-user rate windows: creator info 19/61 s (refused with Retry-After), init
//! 5/61 s (deferred, not refused), status fetch 28/61 s (polls wait), shared by instances.

use std::time::Duration;

use postiqo_domain::{JobPhase, STATUS_WINDOW, VideoStatus};
use postiqo_storage::RateWindows;

use super::{World, settings};
use crate::services::ports::Clock;
use crate::services::publishing::PublishError;

#[tokio::test(start_paused = true)]
async fn creator_info_is_refused_past_19_calls_in_61_seconds() {
    let w = World::new();
    for _ in 0..19 {
        w.api.creator_info(w.user).await.expect("within the window");
        w.clock.advance(Duration::from_secs(1));
    }
    match w.api.creator_info(w.user).await {
        Err(PublishError::TikTokRateLimited { retry_after }) => {
            // The first call leaves the window 61 s after it was made, 19 s from now.
            assert_eq!(retry_after, Duration::from_secs(42));
        }
        other => panic!("expected our own 429, got {other:?}"),
    }
    assert_eq!(w.tiktok.creator_calls(), 19, "TikTok never saw the 20th");
    w.clock.advance(Duration::from_secs(42));
    w.api.creator_info(w.user).await.expect("the window moved");
}

#[tokio::test(start_paused = true)]
async fn the_sixth_init_in_61_seconds_is_deferred_not_refused() {
    let w = World::new();
    let mut ids = Vec::new();
    for _ in 0..6 {
        let id = w.uploaded();
        let video = w
            .api
            .publish(w.user, id, settings("SELF_ONLY"))
            .await
            .expect("accepted");
        assert_eq!(video.status, VideoStatus::Publishing);
        ids.push(id);
        w.clock.advance(Duration::from_secs(2));
    }
    assert_eq!(w.tiktok.inits().len(), 5);
    let sixth = *ids.last().expect("six");
    let job = w.job(sixth).await.expect("job");
    assert_eq!(job.phase, JobPhase::InitRetry);
    // Deferred until the first init leaves the window: 61 s after it, 12 s have passed.
    let wait = job.next_run_at - (w.clock.now() - chrono::Duration::seconds(2));
    assert_eq!(wait.num_seconds(), 51);
    w.clock.advance(Duration::from_secs(48));
    // The five others are polled; the sixth is not due yet.
    w.worker.run_due(25).await;
    assert_eq!(w.tiktok.inits().len(), 5);
    assert_eq!(w.job(sixth).await.expect("job").phase, JobPhase::InitRetry);
    w.clock.advance(Duration::from_secs(1));
    w.worker.run_due(25).await;
    assert_eq!(w.tiktok.inits().len(), 6);
    assert_eq!(w.job(sixth).await.expect("job").phase, JobPhase::Tracking);
}

#[tokio::test(start_paused = true)]
async fn polls_wait_while_other_instances_used_the_status_window() {
    let w = World::new();
    let id = w.uploaded();
    w.api
        .publish(w.user, id, settings("SELF_ONLY"))
        .await
        .expect("publishing");
    // Other instances' fetches for this user, all in the last few seconds.
    for _ in 0..STATUS_WINDOW.limit {
        let granted = w
            .store
            .try_acquire(
                w.user,
                STATUS_WINDOW.name,
                STATUS_WINDOW.limit,
                STATUS_WINDOW.window,
                w.clock.now(),
            )
            .await
            .expect("window");
        assert!(granted.is_ok());
    }
    w.clock.advance(Duration::from_secs(3));
    assert_eq!(w.worker.run_due(25).await, 1);
    assert_eq!(w.tiktok.status_calls(), 0, "over the window: no fetch");
    let job = w.job(id).await.expect("job");
    assert_eq!(
        (job.next_run_at - w.clock.now()).num_seconds(),
        58,
        "due when the window frees"
    );
    w.clock.advance(Duration::from_secs(58));
    w.worker.run_due(25).await;
    assert_eq!(w.tiktok.status_calls(), 1);
}
