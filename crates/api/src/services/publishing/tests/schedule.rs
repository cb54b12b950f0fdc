//! Scheduled publishes: the allowed range, nothing sent before the due time, exactly one
//! start across instances, the grace, fresh creator info at the due time, and moving or
//! cancelling racing the worker.

use std::time::Duration;

use chrono::{DateTime, Utc};
use postiqo_domain::{JobPhase, PublishMode, VideoId, VideoStatus};
use postiqo_storage::PublishStore;
use postiqo_tiktok::{CreatorInfo, PrivacyLevel};

use super::{SCHEDULE_GRACE, World, failure_code, settings};
use crate::services::ports::Clock;
use crate::services::publishing::PublishError;
use crate::services::publishing::PublishPlan;
use crate::test_support::{Step, tiktok_error};

fn in_secs(w: &World, secs: i64) -> DateTime<Utc> {
    w.clock.now() + chrono::Duration::seconds(secs)
}

fn plan(level: &str, at: DateTime<Utc>) -> PublishPlan {
    PublishPlan {
        scheduled_at: Some(at),
        ..PublishPlan::now(settings(level))
    }
}

async fn scheduled(w: &World, level: &str, secs: i64) -> (VideoId, DateTime<Utc>) {
    let id = w.uploaded();
    let at = in_secs(w, secs);
    let v = w
        .api
        .publish_plan(w.user, id, plan(level, at))
        .await
        .expect("scheduled");
    assert_eq!(v.status, VideoStatus::Scheduled);
    (id, at)
}

#[tokio::test(start_paused = true)]
async fn a_schedule_must_be_between_the_minimum_lead_and_30_days() {
    let w = World::new();
    for secs in [-5, 0, 59, 30 * 86_400 + 1] {
        let id = w.uploaded();
        let r = w
            .api
            .publish_plan(w.user, id, plan("SELF_ONLY", in_secs(&w, secs)))
            .await;
        assert!(
            matches!(
                r,
                Err(PublishError::ScheduleOutOfRange { min_lead_secs: 60 })
            ),
            "{secs} s ahead: {r:?}"
        );
        assert_eq!(
            w.video(id).await.status,
            VideoStatus::Uploaded,
            "nothing changed"
        );
    }
    for secs in [60, 30 * 86_400] {
        scheduled(&w, "SELF_ONLY", secs).await;
    }
    assert!(w.tiktok.inits().is_empty());
    assert_eq!(w.tiktok.creator_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn nothing_goes_to_tiktok_until_it_is_due_then_exactly_one_init() {
    let w = World::new();
    let (id, at) = scheduled(&w, "SELF_ONLY", 600).await;
    let v = w.video(id).await;
    assert_eq!(v.scheduled_at(), Some(at));
    let job = w.job(id).await.expect("job");
    assert_eq!((job.phase, job.next_run_at), (JobPhase::Scheduled, at));
    let creator_calls = w.tiktok.creator_calls();
    assert_eq!(creator_calls, 0, "no TikTok call before the due time");

    w.advance(Duration::from_secs(599));
    assert_eq!(w.worker.run_due(25).await, 0);
    assert!(w.tiktok.inits().is_empty(), "not before it is due");

    w.advance(Duration::from_secs(1));
    // Two instances' workers see it at once: one lease wins.
    let (a, b) = tokio::join!(w.worker.run_due(25), w.api.run_due(25));
    assert_eq!(a + b, 1, "leased once");
    assert_eq!(w.tiktok.inits().len(), 1, "one init");
    assert_eq!(
        w.tiktok.creator_calls(),
        creator_calls + 1,
        "fresh creator info"
    );
    let v = w.video(id).await;
    assert_eq!(v.status, VideoStatus::Publishing);
    assert!(
        v.tiktok
            .as_ref()
            .and_then(|t| t.publish_id.clone())
            .is_some()
    );
    assert_eq!(v.tiktok.as_ref().map(|t| t.started_at), Some(at));
    assert_eq!(w.job(id).await.map(|j| j.phase), Some(JobPhase::Tracking));
    w.advance(Duration::from_secs(60));
    w.worker.run_due(25).await;
    assert_eq!(w.tiktok.inits().len(), 1, "never a second init");
}

#[tokio::test(start_paused = true)]
async fn a_late_start_within_the_grace_runs_and_past_it_is_missed() {
    let w = World::new();
    let (late, _) = scheduled(&w, "SELF_ONLY", 120).await;
    let (missed, _) = scheduled(&w, "SELF_ONLY", 60).await;
    // Every instance was down; the first back finds both due.
    w.advance(Duration::from_secs(60) + SCHEDULE_GRACE + Duration::from_secs(1));
    w.worker.run_due(25).await;
    let v = w.video(missed).await;
    assert_eq!(v.status, VideoStatus::Failed);
    assert_eq!(failure_code(&v).as_deref(), Some("schedule_missed"));
    assert!(
        v.tiktok
            .and_then(|t| t.failure)
            .is_some_and(|f| f.retryable)
    );
    assert!(w.job(missed).await.is_none());
    assert_eq!(
        w.video(late).await.status,
        VideoStatus::Publishing,
        "within its grace"
    );
    assert_eq!(w.tiktok.inits().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_privacy_level_no_longer_offered_fails_retryable_without_an_init() {
    let w = World::new();
    let (id, _) = scheduled(&w, "PUBLIC_TO_EVERYONE", 60).await;
    w.tiktok.on_creator_info(Step::Reply(Ok(CreatorInfo {
        privacy_level_options: vec![PrivacyLevel::SelfOnly],
        ..Default::default()
    })));
    w.advance(Duration::from_secs(60));
    w.worker.run_due(25).await;
    let v = w.video(id).await;
    assert_eq!(
        failure_code(&v).as_deref(),
        Some("privacy_level_not_allowed")
    );
    assert!(
        v.tiktok
            .and_then(|t| t.failure)
            .is_some_and(|f| f.retryable)
    );
    assert!(w.tiktok.inits().is_empty(), "nothing posted");
    assert!(w.job(id).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_creator_who_cannot_post_at_the_due_time_fails_and_tiktok_trouble_waits() {
    let w = World::new();
    let (id, _) = scheduled(&w, "SELF_ONLY", 60).await;
    w.tiktok
        .on_creator_info(Step::Reply(Err(tiktok_error("internal_error", 503))));
    w.advance(Duration::from_secs(60));
    w.worker.run_due(25).await;
    assert_eq!(
        w.video(id).await.status,
        VideoStatus::Scheduled,
        "waits it out"
    );
    let job = w.job(id).await.expect("job");
    assert_eq!(job.phase, JobPhase::Scheduled);
    assert_eq!((job.next_run_at - w.clock.now()).num_seconds(), 10);

    w.tiktok.on_creator_info(Step::Reply(Err(tiktok_error(
        "spam_risk_too_many_posts",
        200,
    ))));
    w.advance(Duration::from_secs(10));
    w.worker.run_due(25).await;
    let v = w.video(id).await;
    assert_eq!(failure_code(&v).as_deref(), Some("tiktok_cannot_post_now"));
    assert!(w.tiktok.inits().is_empty());
}

#[tokio::test(start_paused = true)]
async fn cancelled_and_moved_schedules_fire_never_and_at_the_new_time_only() {
    let w = World::new();
    let (cancelled, _) = scheduled(&w, "SELF_ONLY", 60).await;
    let (moved, _) = scheduled(&w, "SELF_ONLY", 60).await;
    let v = w
        .api
        .cancel_schedule(w.user, cancelled)
        .await
        .expect("cancel");
    assert_eq!((v.status, v.tiktok), (VideoStatus::Uploaded, None));
    assert!(w.job(cancelled).await.is_none());
    let new_at = in_secs(&w, 300);
    let v = w.api.reschedule(w.user, moved, new_at).await.expect("move");
    assert_eq!(v.scheduled_at(), Some(new_at));
    assert!(matches!(
        w.api.reschedule(w.user, moved, in_secs(&w, 10)).await,
        Err(PublishError::ScheduleOutOfRange { .. })
    ));

    w.advance(Duration::from_secs(60));
    w.worker.run_due(25).await;
    assert!(w.tiktok.inits().is_empty(), "neither at the old time");
    assert_eq!(w.video(moved).await.status, VideoStatus::Scheduled);
    w.advance(Duration::from_secs(240));
    w.worker.run_due(25).await;
    assert_eq!(w.tiktok.inits().len(), 1, "the moved one, at its new time");
    assert_eq!(w.video(moved).await.status, VideoStatus::Publishing);
    assert_eq!(w.video(cancelled).await.status, VideoStatus::Uploaded);
    assert!(matches!(
        w.api.cancel_schedule(w.user, moved).await,
        Err(PublishError::WrongState(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn cancelling_or_moving_while_a_worker_holds_the_lease_stops_its_start() {
    for cancel in [true, false] {
        let w = World::new();
        let (id, _) = scheduled(&w, "SELF_ONLY", 60).await;
        w.advance(Duration::from_secs(60));
        // A worker leased it and read the video; then the owner acts.
        let job = w.job(id).await.expect("job");
        let until = w.clock.now() + chrono::Duration::seconds(30);
        let leased = PublishStore::lease(&*w.store, &job, "worker", until, w.clock.now())
            .await
            .expect("lease");
        let stale = w.video(id).await;
        if cancel {
            w.api.cancel_schedule(w.user, id).await.expect("cancel");
        } else {
            w.api
                .reschedule(w.user, id, in_secs(&w, 600))
                .await
                .expect("move");
        }
        w.worker.start_due(stale, leased).await;
        assert!(w.tiktok.inits().is_empty(), "cancel={cancel}: nothing sent");
        let v = w.video(id).await;
        let expected = if cancel {
            VideoStatus::Uploaded
        } else {
            VideoStatus::Scheduled
        };
        assert_eq!(v.status, expected);
    }
}

#[tokio::test(start_paused = true)]
async fn schedules_due_together_start_within_tiktoks_init_window_in_order() {
    let w = World::new();
    let mut ids = Vec::new();
    for _ in 0..7 {
        ids.push(scheduled(&w, "SELF_ONLY", 60).await.0);
    }
    w.advance(Duration::from_secs(60));
    w.worker.run_due(25).await;
    assert_eq!(
        w.tiktok.inits().len(),
        5,
        "our window holds one below TikTok's 6"
    );
    let waiting: Vec<_> = {
        let mut v = Vec::new();
        for id in &ids {
            v.push(w.job(*id).await.map(|j| j.phase));
        }
        v
    };
    assert_eq!(
        waiting
            .iter()
            .filter(|p| **p == Some(JobPhase::InitRetry))
            .count(),
        2
    );
    w.advance(Duration::from_secs(62));
    w.worker.run_due(25).await;
    assert_eq!(w.tiktok.inits().len(), 7);
}

#[tokio::test(start_paused = true)]
async fn disconnecting_cancels_every_schedule_of_the_user() {
    let w = World::new();
    let (a, _) = scheduled(&w, "SELF_ONLY", 60).await;
    let (b, _) = scheduled(&w, "SELF_ONLY", 600).await;
    assert_eq!(w.api.cancel_schedules(w.user).await.expect("cancel"), 2);
    for id in [a, b] {
        assert_eq!(w.video(id).await.status, VideoStatus::Uploaded);
        assert!(w.job(id).await.is_none());
    }
}

#[tokio::test(start_paused = true)]
async fn a_scheduled_draft_is_sent_to_the_inbox_when_due() {
    let w = World::new();
    w.grant_upload_scope().await;
    let id = w.uploaded();
    let at = in_secs(&w, 60);
    let draft = PublishPlan {
        settings: postiqo_domain::PublishSettings::draft(),
        mode: PublishMode::Draft,
        scheduled_at: Some(at),
    };
    w.api
        .publish_plan(w.user, id, draft)
        .await
        .expect("scheduled");
    assert_eq!(w.tiktok.creator_calls(), 0, "a draft needs no creator info");
    w.advance(Duration::from_secs(60));
    w.worker.run_due(25).await;
    assert_eq!(w.tiktok.inbox_inits(), 1);
    assert!(w.tiktok.inits().is_empty(), "no Direct Post");
    assert_eq!(w.video(id).await.status, VideoStatus::Publishing);
}

#[tokio::test(start_paused = true)]
async fn media_tiktok_would_refuse_is_refused_when_scheduled_and_a_shorter_maximum_fails_it_when_due()
 {
    let w = World::new();
    let id = w.uploaded_with(postiqo_domain::VideoMedia {
        width: 426,
        height: 240,
        ..super::media()
    });
    let r = w
        .api
        .publish_plan(w.user, id, plan("SELF_ONLY", in_secs(&w, 60)))
        .await;
    assert!(
        matches!(&r, Err(PublishError::Media(p)) if p.iter().map(|p| p.code()).eq(["resolution_unsupported"])),
        "{r:?}"
    );
    assert_eq!(w.video(id).await.status, VideoStatus::Uploaded);

    // The duration's limit is the creator's at the due time: 15 s against 10 s then.
    let (id, _) = scheduled(&w, "SELF_ONLY", 60).await;
    w.tiktok.on_creator_info(Step::Reply(Ok(CreatorInfo {
        privacy_level_options: vec![PrivacyLevel::SelfOnly],
        max_video_post_duration_sec: Some(10),
        ..Default::default()
    })));
    w.advance(Duration::from_secs(60));
    w.worker.run_due(25).await;
    let v = w.video(id).await;
    assert_eq!(v.status, VideoStatus::Failed);
    let failure = v.tiktok.and_then(|t| t.failure).expect("failure");
    assert_eq!(failure.code, "video_too_long");
    assert!(
        failure.message.contains("at most 10 s"),
        "{}",
        failure.message
    );
    assert!(!failure.retryable);
    assert!(w.tiktok.inits().is_empty(), "nothing posted");
    assert!(w.job(id).await.is_none(), "not retried");
}
