use std::time::Duration;

use chrono::TimeZone;

use super::*;
use crate::{
    ContentType, PublishSettings, TikTokPublish, Title, UploadPlan, Video, VideoId, VideoSize,
};

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0)
        .single()
        .expect("valid time")
}

const LEASE: Duration = Duration::from_secs(30);
const DEADLINE: Duration = Duration::from_secs(7200);
const BACKOFF: Backoff = Backoff {
    initial: Duration::from_secs(3),
    max: Duration::from_secs(60),
};

fn job() -> PublishJob {
    PublishJob::start(
        UserId::new_v7(1, [2; 10]),
        VideoId::new_v7(1, [1; 10]),
        "a1".into(),
        "me",
        at(0),
        LEASE,
        DEADLINE,
    )
}

fn in_phase(phase: JobPhase) -> PublishJob {
    let j = job();
    match phase {
        JobPhase::Scheduled => PublishJob::schedule(j.owner, j.video, j.attempt_id, at(0), LEASE),
        JobPhase::Initiating => j,
        JobPhase::InitRetry => j.defer_init(at(1), LEASE).expect("defer"),
        JobPhase::Tracking => j
            .record_publish_id("p1".into(), at(1), BACKOFF.initial)
            .expect("track"),
        JobPhase::AwaitPostId => in_phase(JobPhase::Tracking)
            .await_post_id(at(2), &BACKOFF, Duration::from_secs(3600))
            .expect("await"),
    }
}

#[test]
fn a_new_job_is_initiating_under_the_starters_lease() {
    let j = job();
    assert_eq!(j.phase, JobPhase::Initiating);
    assert_eq!(j.version, 1);
    assert_eq!(j.lease_owner.as_deref(), Some("me"));
    assert_eq!(j.lease_until, Some(at(30)));
    assert_eq!(j.next_run_at, at(30), "due as soon as the lease runs out");
    assert_eq!(j.deadline, at(7200));
    assert!(j.is_leased_at(at(29)) && !j.is_leased_at(at(30)));
}

#[test]
fn leases_are_refused_while_another_is_live() {
    let j = job();
    let refused = j.clone().leased("worker", at(40), at(10));
    assert_eq!(
        refused,
        Err(JobTransitionError {
            phase: JobPhase::Initiating,
            action: JobAction::Lease
        })
    );
    let taken = j.leased("worker", at(60), at(30)).expect("expired lease");
    assert_eq!(taken.lease_owner.as_deref(), Some("worker"));
    assert_eq!(taken.lease_until, Some(at(60)));
    assert_eq!(taken.version, 2);
}

#[test]
fn init_answered_moves_to_tracking_and_releases_the_lease() {
    let j = job()
        .record_publish_id("p1".into(), at(5), Duration::from_secs(3))
        .expect("allowed");
    assert_eq!(j.phase, JobPhase::Tracking);
    assert_eq!(j.publish_id.as_deref(), Some("p1"));
    assert_eq!(j.next_run_at, at(8));
    assert_eq!((j.lease_owner.as_ref(), j.lease_until), (None, None));
    assert_eq!(j.version, 2);
}

#[test]
fn deferred_inits_count_runs_and_retry_under_the_lease() {
    let deferred = job()
        .defer_init(at(5), Duration::from_secs(10))
        .expect("ok");
    assert_eq!(deferred.phase, JobPhase::InitRetry);
    assert_eq!((deferred.runs, deferred.next_run_at), (1, at(15)));
    assert!(deferred.lease_until.is_none());
    let leased = deferred.leased("w", at(45), at(15)).expect("lease");
    let retry = leased.begin_init_retry(at(16)).expect("retry");
    assert_eq!(retry.phase, JobPhase::Initiating);
    assert_eq!(
        retry.next_run_at,
        at(45),
        "a crash during the retry shows up when the lease ends"
    );
    assert_eq!(retry.lease_owner.as_deref(), Some("w"));
    assert_eq!(retry.runs, 1);
}

#[test]
fn tracking_backs_off_and_awaiting_a_post_id_gets_its_own_deadline() {
    let t = in_phase(JobPhase::Tracking);
    let again = t.clone().keep_tracking(at(10), &BACKOFF).expect("ok");
    assert_eq!(again.runs, 1);
    assert_eq!(
        again.next_run_at,
        at(10) + chrono::Duration::milliseconds(4500)
    );
    let waiting = t
        .await_post_id(at(10), &BACKOFF, Duration::from_secs(3600))
        .expect("ok");
    assert_eq!(waiting.phase, JobPhase::AwaitPostId);
    assert_eq!(waiting.runs, 0);
    assert_eq!(waiting.deadline, at(3610));
    assert_eq!(
        waiting.next_run_at,
        at(10) + chrono::Duration::milliseconds(6750)
    );
    let still = waiting
        .clone()
        .await_post_id(at(20), &BACKOFF, Duration::from_secs(1))
        .expect("ok");
    assert_eq!(still.deadline, waiting.deadline, "the wait is not extended");
    assert_eq!(still.runs, 1);
}

#[test]
fn delay_keeps_the_phase_in_every_phase() {
    for phase in JobPhase::ALL {
        let j = in_phase(phase);
        let d = j.clone().delay(at(100), Duration::from_secs(7));
        assert_eq!(d.phase, phase);
        assert_eq!(d.runs, j.runs + 1);
        assert_eq!(d.next_run_at, at(107));
        assert_eq!(d.version, j.version + 1);
        assert!(d.lease_until.is_none());
    }
}

#[test]
fn refused_moves_name_the_phase_and_the_action() {
    type Move = fn(PublishJob) -> Result<PublishJob, JobTransitionError>;
    let moves: [(JobAction, Move, &[JobPhase]); 5] = [
        (
            JobAction::RecordPublishId,
            |j| j.record_publish_id("p".into(), at(50), LEASE),
            &[JobPhase::Initiating],
        ),
        (
            JobAction::DeferInit,
            |j| j.defer_init(at(50), LEASE),
            &[JobPhase::Initiating],
        ),
        (
            JobAction::BeginInitRetry,
            |j| j.begin_init_retry(at(50)),
            &[JobPhase::InitRetry],
        ),
        (
            JobAction::KeepTracking,
            |j| j.keep_tracking(at(50), &BACKOFF),
            &[JobPhase::Tracking],
        ),
        (
            JobAction::AwaitPostId,
            |j| j.await_post_id(at(50), &BACKOFF, LEASE),
            &[JobPhase::Tracking, JobPhase::AwaitPostId],
        ),
    ];
    for (action, apply, allowed) in moves {
        for phase in JobPhase::ALL {
            let result = apply(in_phase(phase));
            if allowed.contains(&phase) {
                assert!(result.is_ok(), "{action} from {phase} is allowed");
            } else {
                assert_eq!(
                    result,
                    Err(JobTransitionError { phase, action }),
                    "{action} from {phase} is refused"
                );
            }
        }
    }
}

#[test]
fn backoff_grows_by_half_and_is_capped() {
    assert_eq!(BACKOFF.delay(0), Duration::from_secs(3));
    assert_eq!(BACKOFF.delay(1), Duration::from_millis(4500));
    assert!(BACKOFF.delay(3) > BACKOFF.delay(2));
    assert_eq!(BACKOFF.delay(30), Duration::from_secs(60));
    assert_eq!(BACKOFF.delay(u32::MAX), Duration::from_secs(60));
}

#[test]
fn phases_round_trip_their_stored_names() {
    for p in JobPhase::ALL {
        assert_eq!(JobPhase::parse(p.as_str()), Some(p));
    }
    assert_eq!(JobPhase::parse("done"), None);
}

fn publish_attempt(id: &str) -> TikTokPublish {
    TikTokPublish {
        attempt_id: id.into(),
        settings: PublishSettings {
            privacy_level: "SELF_ONLY".into(),
            disable_comment: false,
            disable_duet: false,
            disable_stitch: false,
            video_cover_timestamp_ms: None,
            brand_content_toggle: false,
            brand_organic_toggle: false,
            is_aigc: false,
        },
        started_at: at(0),
        publish_id: None,
        tiktok_status: None,
        post_id: None,
        post_url: None,
        failure: None,
        publicly_available: None,
        visibility_changed_at: None,
        mode: crate::PublishMode::Direct,
        scheduled_at: None,
    }
}

fn video(status_after_upload: &[&str]) -> Video {
    let mut v = Video::new(
        VideoId::new_v7(1, [1; 10]),
        UserId::new_v7(1, [2; 10]),
        Title::parse("t").expect("title"),
        ContentType::Mp4,
        VideoSize::parse(10, 100).expect("size"),
        UploadPlan::Single,
        None,
        at(0),
    )
    .complete_upload(crate::ETag::parse("\"t\"").expect("tag"), None, at(0))
    .expect("uploaded");
    let attempt = publish_attempt("a1");
    for step in status_after_upload {
        v = match *step {
            "publish" => v.start_publish(attempt.clone(), at(0)).expect("publish"),
            "published" => v.mark_published(None, None, at(0)).expect("published"),
            "failed" => v
                .mark_failed(crate::PublishFailure::timeout(), at(0))
                .expect("failed"),
            other => panic!("unknown step {other}"),
        };
    }
    v
}

#[test]
fn the_worker_step_follows_phase_deadline_and_video() {
    let publishing = video(&["publish"]);
    let now = at(60);
    assert_eq!(job().next_step(None, now), JobStep::Discard);
    assert_eq!(
        job().next_step(Some(&video(&[])), now),
        JobStep::Discard,
        "not publishing"
    );
    assert_eq!(
        job().next_step(Some(&video(&["publish", "failed"])), now),
        JobStep::Discard
    );
    let mut other_attempt = job();
    other_attempt.attempt_id = "a2".into();
    assert_eq!(
        other_attempt.next_step(Some(&publishing), now),
        JobStep::Discard
    );
    assert_eq!(
        job().next_step(Some(&publishing), now),
        JobStep::OutcomeUnknown
    );
    assert_eq!(
        in_phase(JobPhase::InitRetry).next_step(Some(&publishing), now),
        JobStep::RetryInit
    );
    assert_eq!(
        in_phase(JobPhase::Tracking).next_step(Some(&publishing), now),
        JobStep::Poll
    );
    assert_eq!(
        in_phase(JobPhase::Tracking).next_step(Some(&publishing), at(7201)),
        JobStep::TimedOut
    );
    let published = video(&["publish", "published"]);
    assert_eq!(
        in_phase(JobPhase::Tracking).next_step(Some(&published), now),
        JobStep::Discard,
        "tracking ends with the publish"
    );
    let waiting = in_phase(JobPhase::AwaitPostId);
    assert_eq!(waiting.next_step(Some(&published), now), JobStep::Poll);
    assert_eq!(
        waiting.next_step(Some(&published), at(3603)),
        JobStep::StopAwaitingPostId
    );
}

const GRACE: Duration = Duration::from_secs(600);

fn scheduled() -> PublishJob {
    PublishJob::schedule(
        UserId::new_v7(1, [2; 10]),
        VideoId::new_v7(1, [1; 10]),
        "a1".into(),
        at(100),
        GRACE,
    )
}

#[test]
fn a_schedule_is_due_at_its_time_unleased_and_ends_at_the_grace() {
    let j = scheduled();
    assert_eq!(j.phase, JobPhase::Scheduled);
    assert_eq!(j.next_run_at, at(100));
    assert_eq!(j.deadline, at(700));
    assert!(!j.is_leased_at(at(0)));
    let moved = j.clone().reschedule(at(200), GRACE).expect("moved");
    assert_eq!(moved.next_run_at, at(200));
    assert_eq!(moved.deadline, at(800));
    assert_eq!(moved.version, 2);
    let leased = j.leased("worker", at(130), at(100)).expect("lease");
    let moved_while_leased = leased.clone().reschedule(at(300), GRACE).expect("moved");
    assert_eq!(
        moved_while_leased.lease_owner, None,
        "the worker's start then fails on the version"
    );
    assert!(moved_while_leased.version > leased.version);
    let started = leased.begin_scheduled(at(101), DEADLINE).expect("start");
    assert_eq!(started.phase, JobPhase::Initiating);
    assert_eq!(started.lease_owner.as_deref(), Some("worker"));
    assert_eq!(
        started.next_run_at,
        at(130),
        "due again when the lease ends"
    );
    assert_eq!(started.deadline, at(101 + 7200));
}

#[test]
fn only_a_leased_scheduled_job_may_start_or_move() {
    assert_eq!(
        scheduled().begin_scheduled(at(100), DEADLINE),
        Err(JobTransitionError {
            phase: JobPhase::Scheduled,
            action: JobAction::BeginScheduled
        }),
        "unleased"
    );
    for phase in JobPhase::ALL
        .into_iter()
        .filter(|p| *p != JobPhase::Scheduled)
    {
        let j = in_phase(phase);
        assert!(j.clone().reschedule(at(500), GRACE).is_err(), "{phase}");
        let leased = j.leased("w", at(10_000), at(9_000)).expect("lease");
        assert!(
            leased.begin_scheduled(at(9_001), DEADLINE).is_err(),
            "{phase}"
        );
    }
    assert!(
        scheduled()
            .await_post_id(at(1), &BACKOFF, Duration::from_secs(60))
            .is_err()
    );
    assert!(
        scheduled()
            .record_publish_id("p".into(), at(1), LEASE)
            .is_err()
    );
    assert!(scheduled().defer_init(at(1), LEASE).is_err());
    assert!(scheduled().begin_init_retry(at(1)).is_err());
    assert!(scheduled().keep_tracking(at(1), &BACKOFF).is_err());
}

#[test]
fn a_due_schedule_starts_until_the_grace_then_is_missed() {
    let mut v = video(&[]);
    v = v
        .schedule(
            TikTokPublish {
                scheduled_at: Some(at(100)),
                ..publish_attempt("a1")
            },
            at(5),
        )
        .expect("scheduled");
    let j = scheduled();
    assert_eq!(j.next_step(Some(&v), at(100)), JobStep::StartScheduled);
    assert_eq!(j.next_step(Some(&v), at(700)), JobStep::StartScheduled);
    assert_eq!(j.next_step(Some(&v), at(701)), JobStep::ScheduleMissed);
    let cancelled = v.clone().cancel_schedule(at(6)).expect("cancel");
    assert_eq!(j.next_step(Some(&cancelled), at(100)), JobStep::Discard);
    let other = TikTokPublish {
        scheduled_at: Some(at(100)),
        ..publish_attempt("a2")
    };
    let rescheduled_elsewhere = cancelled.schedule(other, at(7)).expect("again");
    assert_eq!(
        j.next_step(Some(&rescheduled_elsewhere), at(100)),
        JobStep::Discard,
        "another attempt's schedule"
    );
}

#[test]
fn a_draft_in_the_inbox_is_still_followed_for_the_creators_post() {
    let mut a = publish_attempt("a1");
    a.mode = crate::PublishMode::Draft;
    let v = video(&[])
        .start_publish(a, at(2))
        .and_then(|v| v.mark_sent_to_inbox(at(3)))
        .expect("inbox");
    let waiting = in_phase(JobPhase::AwaitPostId);
    assert_eq!(waiting.next_step(Some(&v), at(4)), JobStep::Poll);
    assert_eq!(
        waiting.next_step(Some(&v), at(3603)),
        JobStep::StopAwaitingPostId
    );
    assert_eq!(
        in_phase(JobPhase::Tracking).next_step(Some(&v), at(4)),
        JobStep::Discard,
        "tracking is for PUBLISHING only"
    );
}
