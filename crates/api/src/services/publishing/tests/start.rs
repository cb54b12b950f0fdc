//! Idempotency keys and the crash points of a publish: never a silent second init.

use std::sync::Arc;
use std::time::Duration;

use postiqo_domain::{JobPhase, VideoStatus};
use postiqo_tiktok::{PublishId, TikTokError};

use super::{LEASE, World, failure_code, settings};
use crate::services::ports::TikTokCallError;
use crate::services::publishing::{Idempotent, PublishError};
use crate::test_support::{Step, tiktok_error};

async fn proceed(w: &World, key: &str, video: postiqo_domain::VideoId, level: &str) -> String {
    match w
        .api
        .idempotency(w.user, key, video, &settings(level))
        .await
        .expect("key accepted")
    {
        Idempotent::Proceed { key_digest } => key_digest,
        Idempotent::Replay { .. } => panic!("a new key must not replay"),
    }
}

#[tokio::test(start_paused = true)]
async fn the_same_key_and_request_replays_the_first_answer_without_tiktok() {
    let w = World::new();
    let id = w.uploaded();
    let digest = proceed(&w, "k1", id, "SELF_ONLY").await;
    assert_ne!(digest, "k1", "only a digest of the key is stored");
    w.api
        .publish(w.user, id, settings("SELF_ONLY"))
        .await
        .expect("published");
    w.api
        .finish_idempotency(w.user, &digest, 202, "{\"first\":true}")
        .await;
    let again = w
        .api
        .idempotency(w.user, "k1", id, &settings("SELF_ONLY"))
        .await
        .expect("replay");
    assert_eq!(
        again,
        Idempotent::Replay {
            status: 202,
            body: "{\"first\":true}".into()
        }
    );
    assert_eq!(w.tiktok.inits().len(), 1, "the replay did not call TikTok");
}

#[tokio::test(start_paused = true)]
async fn the_same_key_with_another_request_is_refused() {
    let w = World::new();
    let id = w.uploaded();
    let digest = proceed(&w, "k1", id, "SELF_ONLY").await;
    // While the first is still running, and after it finished.
    let running = w
        .api
        .idempotency(w.user, "k1", id, &settings("PUBLIC_TO_EVERYONE"))
        .await;
    assert!(matches!(running, Err(PublishError::IdempotencyKeyReused)));
    w.api.finish_idempotency(w.user, &digest, 202, "{}").await;
    let done = w
        .api
        .idempotency(w.user, "k1", w.uploaded(), &settings("SELF_ONLY"))
        .await;
    assert!(
        matches!(done, Err(PublishError::IdempotencyKeyReused)),
        "another video is another request"
    );
}

#[tokio::test(start_paused = true)]
async fn a_concurrent_request_with_the_same_key_waits_then_is_told_to_retry() {
    let w = World::new();
    let id = w.uploaded();
    proceed(&w, "k1", id, "SELF_ONLY").await;
    let started = tokio::time::Instant::now();
    let second = w
        .api
        .idempotency(w.user, "k1", id, &settings("SELF_ONLY"))
        .await;
    assert!(matches!(second, Err(PublishError::IdempotencyInProgress)));
    assert!(started.elapsed() >= Duration::from_secs(5), "it waited");
}

#[tokio::test(start_paused = true)]
async fn a_request_that_changed_nothing_frees_its_key() {
    let w = World::new();
    let id = w.uploaded();
    let digest = proceed(&w, "k1", id, "FOLLOWER_OF_CREATOR").await;
    let refused = w
        .api
        .publish(w.user, id, settings("FOLLOWER_OF_CREATOR"))
        .await;
    assert!(matches!(refused, Err(PublishError::Settings(_))));
    w.api.abandon_idempotency(w.user, &digest).await;
    proceed(&w, "k1", id, "FOLLOWER_OF_CREATOR").await;
    assert_eq!(w.video(id).await.status, VideoStatus::Uploaded);
}

/// The request's process dies while TikTok's init is under way: the intent and the job were
/// written first, so another instance finds the job when its lease ends and reports the
/// outcome as unknown instead of calling init again.
#[tokio::test(start_paused = true)]
async fn a_crash_during_init_ends_as_outcome_unknown_never_a_second_init() {
    let w = World::new();
    let id = w.uploaded();
    w.tiktok.on_init(Step::Hang);
    let crashed = tokio::time::timeout(
        Duration::from_secs(20),
        w.api.publish(w.user, id, settings("SELF_ONLY")),
    )
    .await;
    assert!(crashed.is_err(), "the request never finished");

    let video = w.video(id).await;
    assert_eq!(video.status, VideoStatus::Publishing);
    let job = w.job(id).await.expect("job written with the intent");
    assert_eq!(job.phase, JobPhase::Initiating);
    assert_eq!(job.lease_owner.as_deref(), Some("api"));

    assert_eq!(w.worker.run_due(25).await, 0, "leased by the dead request");
    w.advance(LEASE + Duration::from_secs(1));
    assert_eq!(w.worker.run_due(25).await, 1);
    let video = w.video(id).await;
    assert_eq!(video.status, VideoStatus::Failed);
    assert_eq!(
        failure_code(&video).as_deref(),
        Some("publish_outcome_unknown")
    );
    assert!(
        !video
            .tiktok
            .and_then(|t| t.failure)
            .expect("failure")
            .retryable
    );
    assert!(w.job(id).await.is_none());
    w.advance(Duration::from_secs(3600));
    w.worker.run_due(25).await;
    assert_eq!(w.tiktok.inits().len(), 1, "never a second init");
}

/// Dying after the intent was written but before TikTok was called ends the same way: the
/// worker cannot know, so it never calls init for an "initiating" job.
#[tokio::test(start_paused = true)]
async fn a_crash_before_init_also_ends_as_outcome_unknown() {
    let w = World::new();
    let id = w.uploaded();
    w.media.hang_next();
    let crashed = tokio::time::timeout(
        Duration::from_secs(20),
        w.api.publish(w.user, id, settings("SELF_ONLY")),
    )
    .await;
    assert!(crashed.is_err());
    w.advance(LEASE + Duration::from_secs(1));
    w.worker.run_due(25).await;
    let video = w.video(id).await;
    assert_eq!(
        failure_code(&video).as_deref(),
        Some("publish_outcome_unknown")
    );
    assert!(w.tiktok.inits().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_init_without_an_answer_is_outcome_unknown_at_once() {
    let w = World::new();
    let id = w.uploaded();
    w.tiktok.on_init(Step::Reply(Err(TikTokCallError::TikTok(
        TikTokError::Timeout,
    ))));
    let video = w
        .api
        .publish(w.user, id, settings("SELF_ONLY"))
        .await
        .expect("answered");
    assert_eq!(video.status, VideoStatus::Failed);
    assert_eq!(
        failure_code(&video).as_deref(),
        Some("publish_outcome_unknown")
    );
    assert!(w.job(id).await.is_none());
    w.advance(Duration::from_secs(600));
    w.worker.run_due(25).await;
    assert_eq!(w.tiktok.inits().len(), 1);
}

/// TikTok accepted the init, but storing its publish id keeps failing: the request gives up
/// after a few tries and the lease expiry reports the outcome as unknown (TikTok has a post
/// whose id we lost), still without a second init.
#[tokio::test(start_paused = true)]
async fn a_lost_publish_id_is_reported_not_re_initiated() {
    let w = World::new();
    let id = w.uploaded();
    let store = Arc::clone(&w.store);
    w.tiktok.on_init(Step::Then(Box::new(move || {
        store.fail_next_writes(5);
        Ok(PublishId::new("v_pub_lost"))
    })));
    let video = w
        .api
        .publish(w.user, id, settings("SELF_ONLY"))
        .await
        .expect("answered");
    assert_eq!(video.status, VideoStatus::Publishing);
    assert_eq!(video.tiktok.and_then(|t| t.publish_id), None);
    w.advance(LEASE + Duration::from_secs(1));
    w.worker.run_due(25).await;
    assert_eq!(
        failure_code(&w.video(id).await).as_deref(),
        Some("publish_outcome_unknown")
    );
    assert_eq!(w.tiktok.inits().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_publish_id_stored_on_a_retry_is_tracked() {
    let w = World::new();
    let id = w.uploaded();
    let store = Arc::clone(&w.store);
    w.tiktok.on_init(Step::Then(Box::new(move || {
        store.fail_next_writes(2);
        Ok(PublishId::new("v_pub_1"))
    })));
    let video = w
        .api
        .publish(w.user, id, settings("SELF_ONLY"))
        .await
        .expect("answered");
    assert_eq!(
        video.tiktok.and_then(|t| t.publish_id).as_deref(),
        Some("v_pub_1")
    );
    let job = w.job(id).await.expect("job");
    assert_eq!(job.phase, JobPhase::Tracking);
    assert!(job.lease_owner.is_none());
}

#[tokio::test(start_paused = true)]
async fn throttled_inits_are_retried_by_the_worker() {
    let w = World::new();
    let id = w.uploaded();
    w.tiktok
        .on_init(Step::Reply(Err(tiktok_error("rate_limit_exceeded", 429))));
    let video = w
        .api
        .publish(w.user, id, settings("SELF_ONLY"))
        .await
        .expect("answered");
    assert_eq!(video.status, VideoStatus::Publishing);
    assert_eq!(
        video.tiktok.and_then(|t| t.tiktok_status).as_deref(),
        Some("INIT_RETRY")
    );
    let job = w.job(id).await.expect("job");
    assert_eq!((job.phase, job.runs), (JobPhase::InitRetry, 1));
    // backoff(1) is 4.5 s; a throttled init waits at least 10 s.
    w.advance(Duration::from_secs(9));
    assert_eq!(w.worker.run_due(25).await, 0);
    w.advance(Duration::from_secs(1));
    assert_eq!(w.worker.run_due(25).await, 1);
    assert_eq!(w.tiktok.inits().len(), 2);
    let video = w.video(id).await;
    assert!(video.tiktok.and_then(|t| t.publish_id).is_some());
    assert_eq!(w.job(id).await.expect("job").phase, JobPhase::Tracking);
}

#[tokio::test(start_paused = true)]
async fn refused_inits_fail_with_tiktoks_code_and_the_domain_message() {
    let w = World::new();
    let id = w.uploaded();
    w.tiktok.on_init(Step::Reply(Err(tiktok_error(
        "url_ownership_unverified",
        403,
    ))));
    let video = w
        .api
        .publish(w.user, id, settings("SELF_ONLY"))
        .await
        .expect("answered");
    let failure = video.tiktok.and_then(|t| t.failure).expect("failed");
    assert_eq!(failure.code, "url_ownership_unverified");
    assert!(failure.message.contains("not verified"));
    assert!(!failure.retryable);
}

#[tokio::test(start_paused = true)]
async fn lost_access_before_init_fails_the_publish() {
    let w = World::new();
    let id = w.uploaded();
    w.tiktok.on_init(Step::Reply(Err(TikTokCallError::Access(
        crate::services::tiktok_access::TikTokAccessError::ReauthRequired,
    ))));
    let video = w
        .api
        .publish(w.user, id, settings("SELF_ONLY"))
        .await
        .expect("answered");
    assert_eq!(
        failure_code(&video).as_deref(),
        Some("tiktok_reauth_required")
    );
}

#[tokio::test(start_paused = true)]
async fn only_uploaded_or_failed_videos_publish_and_only_once_at_a_time() {
    let w = World::new();
    let id = w.uploaded();
    w.api
        .publish(w.user, id, settings("SELF_ONLY"))
        .await
        .expect("first");
    let second = w.api.publish(w.user, id, settings("SELF_ONLY")).await;
    assert!(matches!(second, Err(PublishError::WrongState(_))));
    let missing = w
        .api
        .publish(
            w.user,
            postiqo_domain::VideoId::new_v7(1, [9; 10]),
            settings("SELF_ONLY"),
        )
        .await;
    assert!(matches!(missing, Err(PublishError::VideoNotFound)));
    let private_brand = {
        let mut s = settings("SELF_ONLY");
        s.brand_content_toggle = true;
        w.api.publish(w.user, w.uploaded(), s).await
    };
    assert!(matches!(
        private_brand,
        Err(PublishError::Settings(
            postiqo_domain::SettingsError::BrandedContentPrivate
        ))
    ));
    assert_eq!(w.tiktok.inits().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_creator_who_cannot_post_now_is_refused_before_anything_changes() {
    let w = World::new();
    let id = w.uploaded();
    w.tiktok.on_creator_info(Step::Reply(Err(tiktok_error(
        "spam_risk_too_many_posts",
        200,
    ))));
    let refused = w.api.publish(w.user, id, settings("SELF_ONLY")).await;
    match refused {
        Err(PublishError::CannotPostNow { code }) => assert_eq!(code, "spam_risk_too_many_posts"),
        other => panic!("expected cannot-post-now, got {other:?}"),
    }
    assert_eq!(w.video(id).await.status, VideoStatus::Uploaded);
    assert!(w.job(id).await.is_none());
    assert!(w.tiktok.inits().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_media_url_failure_defers_the_init() {
    let w = World::new();
    let id = w.uploaded();
    w.media.fail_next(1);
    let video = w
        .api
        .publish(w.user, id, settings("SELF_ONLY"))
        .await
        .expect("answered");
    assert_eq!(video.status, VideoStatus::Publishing);
    assert_eq!(w.job(id).await.expect("job").phase, JobPhase::InitRetry);
    assert!(w.tiktok.inits().is_empty());
    w.advance(Duration::from_secs(10));
    w.worker.run_due(25).await;
    assert_eq!(w.tiktok.inits().len(), 1);
    assert_eq!(w.job(id).await.expect("job").phase, JobPhase::Tracking);
}

#[tokio::test(start_paused = true)]
async fn bytes_overwritten_after_verification_are_refused_before_tiktok() {
    let w = World::new();
    let id = w.uploaded();
    w.media.overwrite();
    let refused = w.api.publish(w.user, id, settings("SELF_ONLY")).await;
    assert!(
        matches!(refused, Err(PublishError::UploadChanged { gone: false })),
        "{refused:?}"
    );
    assert!(w.tiktok.inits().is_empty(), "nothing was sent to TikTok");
}
