//! The job queue: polling backoff, the publish deadline, the wait for a post id, stale jobs.

use std::time::Duration;

use postiqo_domain::{JobPhase, VideoStatus};
use postiqo_tiktok::{PostId, PublishState};

use super::{DEADLINE, POST_ID_WAIT, World, failure_code, settings};
use crate::services::ports::Clock;
use crate::test_support::{Step, status, tiktok_error};

async fn tracked(w: &World, level: &str) -> postiqo_domain::VideoId {
    let id = w.uploaded();
    w.api
        .publish(w.user, id, settings(level))
        .await
        .expect("publishing");
    id
}

#[tokio::test(start_paused = true)]
async fn polls_back_off_by_half_each_run_up_to_the_cap() {
    let w = World::new();
    let id = tracked(&w, "SELF_ONLY").await;
    let job = w.job(id).await.expect("job");
    assert_eq!(
        job.next_run_at,
        w.clock.now() + chrono::Duration::seconds(3)
    );
    let mut expected_ms = 3000.0f64;
    for run in 1..=12u32 {
        w.clock.advance(Duration::from_millis(expected_ms as u64));
        assert_eq!(w.worker.run_due(25).await, 1, "due after {expected_ms} ms");
        let job = w.job(id).await.expect("still tracking");
        assert_eq!(job.runs, run);
        expected_ms = (expected_ms * 1.5).min(60_000.0);
        let wait = (job.next_run_at - w.clock.now()).num_milliseconds();
        assert_eq!(wait, expected_ms as i64, "run {run}");
    }
    assert_eq!(expected_ms, 60_000.0, "capped at POSTIQO_POLL_MAX_MS");
    assert_eq!(w.tiktok.status_calls(), 12);
}

#[tokio::test(start_paused = true)]
async fn tiktok_errors_while_polling_back_off_without_failing() {
    let w = World::new();
    let id = tracked(&w, "SELF_ONLY").await;
    w.tiktok
        .on_status(Step::Reply(Err(tiktok_error("internal_error", 503))));
    w.clock.advance(Duration::from_secs(3));
    w.worker.run_due(25).await;
    let job = w.job(id).await.expect("job kept");
    assert_eq!((job.phase, job.runs), (JobPhase::Tracking, 1));
    // backoff(runs + 2) = 3 s × 1.5² = 6.75 s.
    assert_eq!((job.next_run_at - w.clock.now()).num_milliseconds(), 6750);
    assert_eq!(w.video(id).await.status, VideoStatus::Publishing);
}

#[tokio::test(start_paused = true)]
async fn a_publish_still_processing_after_the_deadline_times_out() {
    let w = World::new();
    let id = tracked(&w, "SELF_ONLY").await;
    w.clock.advance(DEADLINE - Duration::from_secs(1));
    w.worker.run_due(25).await;
    assert_eq!(w.video(id).await.status, VideoStatus::Publishing);
    let calls = w.tiktok.status_calls();
    w.clock.advance(Duration::from_secs(120));
    w.worker.run_due(25).await;
    let video = w.video(id).await;
    assert_eq!(failure_code(&video).as_deref(), Some("publish_timeout"));
    assert!(
        video
            .tiktok
            .and_then(|t| t.failure)
            .expect("failure")
            .retryable
    );
    assert!(w.job(id).await.is_none());
    assert_eq!(w.tiktok.status_calls(), calls, "no poll after the deadline");
}

#[tokio::test(start_paused = true)]
async fn public_posts_wait_for_their_post_id_then_stop_asking() {
    let w = World::new();
    let id = tracked(&w, "PUBLIC_TO_EVERYONE").await;
    w.tiktok
        .on_status(Step::Reply(Ok(status(PublishState::PublishComplete))));
    w.clock.advance(Duration::from_secs(3));
    w.worker.run_due(25).await;
    assert_eq!(w.video(id).await.status, VideoStatus::Published);
    let job = w.job(id).await.expect("awaiting the post id");
    assert_eq!(job.phase, JobPhase::AwaitPostId);
    assert_eq!(
        job.deadline,
        w.clock.now() + chrono::Duration::from_std(POST_ID_WAIT).expect("wait")
    );
    // Moderation released it.
    let mut done = status(PublishState::PublishComplete);
    done.publicly_available_post_ids = vec![PostId::new("7301234567890123456")];
    w.tiktok.on_status(Step::Reply(Ok(done)));
    w.clock.advance(Duration::from_secs(60));
    w.worker.run_due(25).await;
    let t = w.video(id).await.tiktok.expect("tiktok");
    assert_eq!(t.post_id.as_deref(), Some("7301234567890123456"));
    assert_eq!(
        t.post_url.as_deref(),
        Some("https://www.tiktok.com/@alice/video/7301234567890123456")
    );
    assert!(w.job(id).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn the_wait_for_a_post_id_ends_and_the_video_stays_published() {
    let w = World::new();
    let id = tracked(&w, "PUBLIC_TO_EVERYONE").await;
    for _ in 0..100 {
        w.tiktok
            .on_status(Step::Reply(Ok(status(PublishState::PublishComplete))));
    }
    w.clock.advance(Duration::from_secs(3));
    w.worker.run_due(25).await;
    w.clock.advance(POST_ID_WAIT + Duration::from_secs(1));
    w.worker.run_due(25).await;
    assert!(w.job(id).await.is_none());
    assert_eq!(w.video(id).await.status, VideoStatus::Published);
}

#[tokio::test(start_paused = true)]
async fn private_posts_end_tracking_when_published() {
    let w = World::new();
    let id = tracked(&w, "SELF_ONLY").await;
    w.tiktok
        .on_status(Step::Reply(Ok(status(PublishState::PublishComplete))));
    w.clock.advance(Duration::from_secs(3));
    w.worker.run_due(25).await;
    assert_eq!(w.video(id).await.status, VideoStatus::Published);
    assert!(w.job(id).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn lost_access_while_tracking_fails_the_publish() {
    let w = World::new();
    let id = tracked(&w, "SELF_ONLY").await;
    w.tiktok.on_status(Step::Reply(Err(
        crate::services::ports::TikTokCallError::Access(
            crate::services::tiktok_access::TikTokAccessError::NotConnected,
        ),
    )));
    w.clock.advance(Duration::from_secs(3));
    w.worker.run_due(25).await;
    assert_eq!(
        failure_code(&w.video(id).await).as_deref(),
        Some("tiktok_not_connected")
    );
    assert!(w.job(id).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn jobs_of_videos_that_moved_on_are_discarded() {
    let w = World::new();
    let id = tracked(&w, "SELF_ONLY").await;
    // A webhook failed it meanwhile, but the job survived (e.g. written by an older version).
    let video = w.video(id).await;
    let failed = video
        .clone()
        .mark_failed(postiqo_domain::PublishFailure::timeout(), w.clock.now())
        .expect("fail");
    postiqo_storage::PublishStore::commit(
        &*w.store,
        &failed,
        video.version,
        postiqo_storage::JobChange::Keep,
        None,
    )
    .await
    .expect("commit");
    let calls = w.tiktok.status_calls();
    w.clock.advance(Duration::from_secs(3));
    assert_eq!(w.worker.run_due(25).await, 1);
    assert!(w.job(id).await.is_none());
    assert_eq!(w.tiktok.status_calls(), calls);
}
