//! The video state machine's unit tests (kept apart so `video.rs` shows the rules).

use chrono::TimeZone;

use super::*;

fn etag() -> ETag {
    ETag::parse("\"abc\"").expect("etag")
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0)
        .single()
        .expect("valid time")
}

fn attempt() -> TikTokPublish {
    TikTokPublish {
        attempt_id: "a1".into(),
        settings: crate::PublishSettings {
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
        mode: PublishMode::Direct,
        scheduled_at: None,
    }
}

#[test]
fn publish_ids_are_recorded_once_and_post_ids_may_arrive_late() {
    let v = pending()
        .complete_upload(etag(), None, at(1))
        .and_then(|v| v.start_publish(attempt(), at(2)))
        .expect("publishing");
    let v = v.record_publish_id("p1".into(), at(3)).expect("record");
    assert!(
        v.clone().record_publish_id("p2".into(), at(4)).is_err(),
        "never overwritten"
    );
    let v = v.mark_published(None, None, at(5)).expect("published");
    let v = v
        .mark_published(
            Some("7301234567890123456".into()),
            Some("url".into()),
            at(6),
        )
        .expect("post id later");
    let t = v.tiktok.clone().expect("tiktok");
    assert_eq!(t.publish_id.as_deref(), Some("p1"));
    assert_eq!(t.post_id.as_deref(), Some("7301234567890123456"));
    // Repeats (duplicate webhooks) change nothing.
    let again = v
        .clone()
        .mark_published(Some("other".into()), None, at(7))
        .expect("noop");
    assert_eq!(again, v);
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

#[test]
fn only_public_posts_expect_a_post_id_and_only_for_the_wait() {
    let wait = chrono::Duration::hours(6);
    let publish = |privacy: &str| {
        let mut a = attempt();
        a.settings.privacy_level = privacy.into();
        pending()
            .complete_upload(ETag::parse("\"t\"").expect("tag"), None, at(1))
            .and_then(|v| v.start_publish(a, at(2)))
            .expect("publishing")
    };
    let private = publish("SELF_ONLY");
    assert!(!private.post_id_expected(at(3), wait));
    let private = private.mark_published(None, None, at(3)).expect("done");
    assert!(
        !private.post_id_expected(at(4), wait),
        "SELF_ONLY never gets one"
    );

    let public = publish("PUBLIC_TO_EVERYONE");
    assert!(public.post_id_expected(at(3), wait), "while publishing");
    let published = public.mark_published(None, None, at(10)).expect("done");
    assert!(published.post_id_expected(at(11), wait), "after moderation");
    assert!(
        !published.post_id_expected(at(10) + wait, wait),
        "Postiqo stopped asking"
    );
    let with_id = published
        .mark_published(Some("7301234567890123456".into()), None, at(12))
        .expect("id");
    assert!(!with_id.post_id_expected(at(13), wait));

    let failed = publish("PUBLIC_TO_EVERYONE")
        .mark_failed(PublishFailure::timeout(), at(3))
        .expect("failed");
    assert!(!failed.post_id_expected(at(4), wait));
    assert!(!pending().post_id_expected(at(4), wait));
}

#[test]
fn happy_path_walks_every_state_and_keeps_history() {
    let v = pending();
    assert_eq!(v.status, VideoStatus::Pending);
    assert_eq!(v.verified_etag, None);
    let v = v.complete_upload(etag(), None, at(1)).expect("upload");
    assert_eq!(
        v.verified_etag,
        Some(etag()),
        "the verified content is pinned"
    );
    let v = v.start_publish(attempt(), at(2)).expect("publish");
    let v = v.mark_published(None, None, at(3)).expect("published");
    assert_eq!(v.status, VideoStatus::Published);
    let statuses: Vec<_> = v.history.iter().map(|c| c.status).collect();
    assert_eq!(
        statuses,
        [
            VideoStatus::Pending,
            VideoStatus::Uploaded,
            VideoStatus::Publishing,
            VideoStatus::Published
        ]
    );
    assert_eq!(v.version, 4);
    assert_eq!(v.updated_at, at(3));
}

#[test]
fn failed_videos_can_be_retried() {
    let v = pending()
        .complete_upload(etag(), None, at(1))
        .and_then(|v| v.start_publish(attempt(), at(2)))
        .and_then(|v| v.mark_failed(PublishFailure::timeout(), at(3)))
        .expect("fail");
    assert_eq!(v.status, VideoStatus::Failed);
    assert_eq!(
        v.tiktok.as_ref().and_then(|t| t.failure.clone()),
        Some(PublishFailure::timeout())
    );
    assert!(v.start_publish(attempt(), at(4)).is_ok());
}

#[test]
fn illegal_moves_name_the_current_state() {
    let err = pending()
        .start_publish(attempt(), at(1))
        .expect_err("must refuse");
    assert_eq!(
        err,
        TransitionError {
            current: VideoStatus::Pending,
            action: VideoAction::StartPublish
        }
    );
    assert_eq!(err.to_string(), "cannot publish while the video is PENDING");

    let uploaded = pending()
        .complete_upload(etag(), None, at(1))
        .expect("upload");
    assert_eq!(
        uploaded
            .clone()
            .complete_upload(etag(), None, at(2))
            .map(|v| v.status),
        Err(TransitionError {
            current: VideoStatus::Uploaded,
            action: VideoAction::CompleteUpload
        })
    );
    assert!(uploaded.clone().mark_published(None, None, at(2)).is_err());
    assert!(
        uploaded
            .mark_failed(PublishFailure::timeout(), at(2))
            .is_err()
    );
}

#[test]
fn titles_freeze_once_tiktok_has_them_and_publishing_blocks_delete() {
    let t = Title::parse("new").expect("title");
    let publishing = pending()
        .complete_upload(etag(), None, at(1))
        .and_then(|v| v.start_publish(attempt(), at(2)))
        .expect("publishing");
    assert!(publishing.ensure_deletable().is_err());
    assert!(publishing.clone().edit_title(t.clone(), at(3)).is_err());
    let published = publishing
        .mark_published(None, None, at(3))
        .expect("published");
    assert!(published.ensure_deletable().is_ok());
    assert!(published.edit_title(t.clone(), at(4)).is_err());
    let edited = pending().edit_title(t.clone(), at(5)).expect("edit");
    assert_eq!(edited.title, t);
    assert_eq!(edited.version, 2);
    assert_eq!(edited.status, VideoStatus::Pending);
}

#[test]
fn takedowns_are_noted_once_and_keep_the_video_published() {
    let published = pending()
        .complete_upload(etag(), None, at(1))
        .and_then(|v| v.start_publish(attempt(), at(2)))
        .and_then(|v| v.mark_published(None, None, at(3)))
        .expect("published");
    let down = published
        .clone()
        .note_visibility(false, at(10))
        .expect("noted");
    assert_eq!(down.status, VideoStatus::Published);
    let t = down.tiktok.clone().expect("tiktok");
    assert_eq!(t.publicly_available, Some(false));
    assert_eq!(t.visibility_changed_at, Some(at(10)));
    let last = down.history.last().expect("entry");
    assert_eq!(
        (last.status, last.at, last.event),
        (
            VideoStatus::Published,
            at(10),
            Some(HistoryEvent::NoLongerPubliclyAvailable)
        )
    );
    // A repeated delivery changes nothing; a later release is a new entry.
    assert_eq!(
        down.clone().note_visibility(false, at(11)).expect("noop"),
        down
    );
    // The first release (moderation passed) is no event: the publish itself records it.
    let released = published.note_visibility(true, at(4)).expect("released");
    assert_eq!(released.history.len(), 4);
    assert_eq!(
        released.tiktok.and_then(|t| t.publicly_available),
        Some(true)
    );
    let up = down.note_visibility(true, at(12)).expect("noted");
    assert_eq!(up.history.len(), 6);
    assert_eq!(
        up.history.last().and_then(|c| c.event),
        Some(HistoryEvent::PubliclyAvailable)
    );
    assert!(pending().note_visibility(false, at(1)).is_err());
}

#[test]
fn parts_only_for_pending_multipart_uploads() {
    assert!(pending().ensure_parts_requestable().is_err());
    let mut multi = pending();
    multi.upload = UploadPlan::Multipart {
        part_size: 5,
        part_count: 2,
    };
    multi.multipart_upload_id = Some("upload-1".into());
    assert!(multi.ensure_parts_requestable().is_ok());
    let done = multi.complete_upload(etag(), None, at(1)).expect("upload");
    assert_eq!(done.multipart_upload_id, None);
    assert!(done.ensure_parts_requestable().is_err());
}
