//! The scheduling and inbox-draft moves of the video state machine: every status against
//! every move, allowed or refused.

use chrono::{DateTime, TimeZone, Utc};

use crate::{
    ContentType, ETag, PublishFailure, PublishMode, PublishSettings, TikTokPublish, Title,
    UploadPlan, UserId, Video, VideoAction, VideoId, VideoSize, VideoStatus,
};

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0)
        .single()
        .expect("valid time")
}

fn attempt(mode: PublishMode, scheduled_at: Option<DateTime<Utc>>) -> TikTokPublish {
    TikTokPublish {
        attempt_id: "a1".into(),
        settings: match mode {
            PublishMode::Direct => PublishSettings {
                privacy_level: "SELF_ONLY".into(),
                ..PublishSettings::draft()
            },
            PublishMode::Draft => PublishSettings::draft(),
        },
        started_at: at(0),
        publish_id: None,
        tiktok_status: None,
        post_id: None,
        post_url: None,
        failure: None,
        publicly_available: None,
        visibility_changed_at: None,
        mode,
        scheduled_at,
    }
}

fn pending() -> Video {
    Video::new(
        VideoId::new_v7(1, [1; 10]),
        UserId::new_v7(1, [2; 10]),
        Title::parse("hello").expect("title"),
        ContentType::Mp4,
        VideoSize::parse(10, 100).expect("size"),
        UploadPlan::Single,
        None,
        at(0),
    )
}

fn uploaded() -> Video {
    pending()
        .complete_upload(ETag::parse("\"t\"").expect("tag"), None, at(1))
        .expect("uploaded")
}

/// A video in `status`, reached by legal moves (drafts for SENT_TO_INBOX).
fn in_status(status: VideoStatus) -> Video {
    let scheduled = || {
        uploaded()
            .schedule(attempt(PublishMode::Draft, Some(at(100))), at(2))
            .expect("scheduled")
    };
    let publishing = || {
        scheduled()
            .start_scheduled(PublishSettings::draft(), at(100))
            .expect("publishing")
    };
    match status {
        VideoStatus::Pending => pending(),
        VideoStatus::Uploaded => uploaded(),
        VideoStatus::Scheduled => scheduled(),
        VideoStatus::Publishing => publishing(),
        VideoStatus::SentToInbox => publishing().mark_sent_to_inbox(at(101)).expect("inbox"),
        VideoStatus::Published => publishing()
            .mark_published(None, None, at(101))
            .expect("published"),
        VideoStatus::Failed => publishing()
            .mark_failed(PublishFailure::timeout(), at(101))
            .expect("failed"),
    }
}

fn outcome(v: Video, action: VideoAction) -> Option<VideoStatus> {
    let r = match action {
        VideoAction::Schedule => v.schedule(attempt(PublishMode::Direct, Some(at(500))), at(200)),
        VideoAction::Reschedule => v.reschedule(at(600), at(200)),
        VideoAction::CancelSchedule => v.cancel_schedule(at(200)),
        VideoAction::StartScheduled => v.start_scheduled(PublishSettings::draft(), at(200)),
        VideoAction::MarkSentToInbox => v.mark_sent_to_inbox(at(200)),
        VideoAction::MarkPublished => v.mark_published(None, None, at(200)),
        VideoAction::MarkFailed => v.mark_failed(PublishFailure::schedule_missed(), at(200)),
        VideoAction::StartPublish => v.start_publish(attempt(PublishMode::Draft, None), at(200)),
        VideoAction::EditTitle => v.edit_title(Title::parse("new").expect("title"), at(200)),
        VideoAction::Delete => v.ensure_deletable().map(|()| v),
        other => panic!("not covered here: {other:?}"),
    };
    r.ok().map(|v| v.status)
}

#[test]
fn every_status_against_every_scheduling_and_inbox_move() {
    use VideoAction as A;
    use VideoStatus as S;
    // (action, status, the status after it, or None when refused)
    let table: &[(A, S, Option<S>)] = &[
        (A::Schedule, S::Pending, None),
        (A::Schedule, S::Uploaded, Some(S::Scheduled)),
        (A::Schedule, S::Scheduled, None),
        (A::Schedule, S::Publishing, None),
        (A::Schedule, S::SentToInbox, None),
        (A::Schedule, S::Published, None),
        (A::Schedule, S::Failed, Some(S::Scheduled)),
        (A::Reschedule, S::Pending, None),
        (A::Reschedule, S::Uploaded, None),
        (A::Reschedule, S::Scheduled, Some(S::Scheduled)),
        (A::Reschedule, S::Publishing, None),
        (A::Reschedule, S::SentToInbox, None),
        (A::Reschedule, S::Published, None),
        (A::Reschedule, S::Failed, None),
        (A::CancelSchedule, S::Pending, None),
        (A::CancelSchedule, S::Uploaded, None),
        (A::CancelSchedule, S::Scheduled, Some(S::Uploaded)),
        (A::CancelSchedule, S::Publishing, None),
        (A::CancelSchedule, S::SentToInbox, None),
        (A::CancelSchedule, S::Published, None),
        (A::CancelSchedule, S::Failed, None),
        (A::StartScheduled, S::Pending, None),
        (A::StartScheduled, S::Uploaded, None),
        (A::StartScheduled, S::Scheduled, Some(S::Publishing)),
        (A::StartScheduled, S::Publishing, None),
        (A::StartScheduled, S::SentToInbox, None),
        (A::StartScheduled, S::Published, None),
        (A::StartScheduled, S::Failed, None),
        (A::MarkSentToInbox, S::Pending, None),
        (A::MarkSentToInbox, S::Uploaded, None),
        (A::MarkSentToInbox, S::Scheduled, None),
        (A::MarkSentToInbox, S::Publishing, Some(S::SentToInbox)),
        (A::MarkSentToInbox, S::SentToInbox, Some(S::SentToInbox)),
        (A::MarkSentToInbox, S::Published, None),
        (A::MarkSentToInbox, S::Failed, None),
        (A::MarkPublished, S::Pending, None),
        (A::MarkPublished, S::Uploaded, None),
        (A::MarkPublished, S::Scheduled, None),
        (A::MarkPublished, S::Publishing, Some(S::Published)),
        (A::MarkPublished, S::SentToInbox, Some(S::Published)),
        (A::MarkPublished, S::Published, Some(S::Published)),
        (A::MarkPublished, S::Failed, None),
        (A::MarkFailed, S::Pending, None),
        (A::MarkFailed, S::Uploaded, None),
        (A::MarkFailed, S::Scheduled, Some(S::Failed)),
        (A::MarkFailed, S::Publishing, Some(S::Failed)),
        (A::MarkFailed, S::SentToInbox, None),
        (A::MarkFailed, S::Published, None),
        (A::MarkFailed, S::Failed, None),
        (A::StartPublish, S::Pending, None),
        (A::StartPublish, S::Uploaded, Some(S::Publishing)),
        (A::StartPublish, S::Scheduled, None),
        (A::StartPublish, S::Publishing, None),
        (A::StartPublish, S::SentToInbox, None),
        (A::StartPublish, S::Published, None),
        (A::StartPublish, S::Failed, Some(S::Publishing)),
        (A::EditTitle, S::Scheduled, Some(S::Scheduled)),
        (A::EditTitle, S::SentToInbox, None),
        (A::Delete, S::Scheduled, Some(S::Scheduled)),
        (A::Delete, S::SentToInbox, Some(S::SentToInbox)),
    ];
    for &(action, status, expected) in table {
        let v = in_status(status);
        assert_eq!(v.status, status, "setup for {status}");
        assert_eq!(outcome(v, action), expected, "{action:?} from {status}");
    }
}

#[test]
fn a_refused_move_names_the_state_and_the_action() {
    let err = in_status(VideoStatus::Publishing)
        .cancel_schedule(at(5))
        .expect_err("refused");
    assert_eq!(
        err.to_string(),
        "cannot cancel the schedule while the video is PUBLISHING"
    );
}

#[test]
fn a_schedule_needs_a_time_and_keeps_it_until_it_starts() {
    assert!(
        uploaded()
            .schedule(attempt(PublishMode::Direct, None), at(2))
            .is_err(),
        "no time, no schedule"
    );
    let v = uploaded()
        .schedule(attempt(PublishMode::Direct, Some(at(100))), at(2))
        .expect("scheduled");
    assert_eq!(v.scheduled_at(), Some(at(100)));
    let moved = v.reschedule(at(300), at(3)).expect("moved");
    assert_eq!(moved.scheduled_at(), Some(at(300)));
    assert_eq!(moved.history.len(), 3, "moving it is no new status");
    let edited = moved
        .edit_title(Title::parse("later").expect("title"), at(4))
        .expect("title editable while scheduled");
    let started = edited
        .clone()
        .start_scheduled(PublishSettings::draft(), at(300))
        .expect("started");
    assert_eq!(started.scheduled_at(), None, "only while scheduled");
    assert_eq!(started.tiktok.as_ref().map(|t| t.started_at), Some(at(300)));
    let cancelled = edited.cancel_schedule(at(5)).expect("cancelled");
    assert_eq!(cancelled.tiktok, None);
    assert_eq!(cancelled.status, VideoStatus::Uploaded);
}

#[test]
fn only_a_draft_goes_to_the_inbox_and_the_creator_posting_it_publishes_it() {
    let direct = uploaded()
        .start_publish(attempt(PublishMode::Direct, None), at(2))
        .expect("publishing");
    assert!(
        direct.clone().mark_sent_to_inbox(at(3)).is_err(),
        "Direct Post never goes to an inbox"
    );
    let draft = in_status(VideoStatus::SentToInbox);
    assert!(draft.is_draft());
    assert_eq!(
        draft.tiktok.as_ref().and_then(|t| t.tiktok_status.clone()),
        Some("SEND_TO_USER_INBOX".into())
    );
    let again = draft.clone().mark_sent_to_inbox(at(300)).expect("repeat");
    assert_eq!(again, draft, "a repeated delivery changes nothing");
    let posted = draft
        .mark_published(Some("7301234567890123456".into()), None, at(400))
        .expect("posted");
    assert_eq!(posted.status, VideoStatus::Published);
    assert_eq!(
        posted.tiktok.and_then(|t| t.post_id),
        Some("7301234567890123456".into())
    );
}
