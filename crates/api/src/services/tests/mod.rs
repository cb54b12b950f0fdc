//! In-process tests of the session and account use cases: in-memory storage, the services
//! wired as `state.rs` wires them, a manual clock (`test_support::Services`). No server.

mod deletion;
mod disconnect;
mod refresh;
mod uploads;

use postiqo_domain::{
    ContentType, ObjectKey, PublishJob, Title, UploadPlan, UserId, Video, VideoId, VideoSize,
};
use postiqo_storage::JobChange;

use crate::services::ports::Clock;
use crate::services::signin::IssuedTokens;
use crate::test_support::Services;

/// What a seeded account holds besides its profile and tokens.
pub struct Seeded {
    pub user: UserId,
    pub open_id: String,
    /// The session asking for the deletion.
    pub caller: IssuedTokens,
    pub other: IssuedTokens,
    pub videos: Vec<VideoId>,
}

/// An uploaded video of `user`, stored with its object.
fn uploaded_video(s: &Services, user: UserId, n: u8) -> Video {
    let now = s.clock.now();
    let id = VideoId::new_v7(
        u64::try_from(now.timestamp_millis()).unwrap_or(0),
        [n, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    );
    let key = ObjectKey::for_video(user, id);
    let etag = s.store.put_object(&key, vec![n; 64], "video/mp4");
    let video = Video::new(
        id,
        user,
        Title::parse("hello").expect("title"),
        ContentType::Mp4,
        VideoSize::parse(64, 1000).expect("size"),
        UploadPlan::Single,
        None,
        now,
    )
    .complete_upload(etag, None, now)
    .expect("uploaded");
    s.store.put_video(video.clone());
    video
}

/// An account with everything a user accumulates: two sessions, three videos and their
/// objects, an upload still open, a publish job with its publish-id lookup, an idempotency
/// key and a rate window.
pub async fn seed(s: &Services, open_id: &str) -> Seeded {
    let user = s.sign_up(open_id).await;
    let caller = s.signin.create_session(user, None).await.expect("session");
    let other = s
        .signin
        .create_session(user, Some("other device".into()))
        .await
        .expect("session");
    let videos: Vec<Video> = (1..=3).map(|n| uploaded_video(s, user, n)).collect();
    let now = s.clock.now();
    let storage = &s.storage;
    let open = VideoId::new_v7(u64::try_from(now.timestamp_millis()).unwrap_or(0), [9; 10]);
    storage
        .blobs
        .create_multipart(&ObjectKey::for_video(user, open), ContentType::Mp4)
        .await
        .expect("multipart");
    let first = &videos[0];
    let job = PublishJob::start(
        user,
        first.id,
        "attempt-1".into(),
        "api",
        now,
        std::time::Duration::from_secs(30),
        std::time::Duration::from_secs(7200),
    );
    storage
        .publish
        .commit(
            first,
            first.version,
            JobChange::Save {
                job: &job,
                expected_version: None,
            },
            Some("v_pub_url~v2.1"),
        )
        .await
        .expect("job");
    storage
        .idempotency
        .begin(
            user,
            "key-digest",
            "request-hash",
            now + chrono::Duration::days(1),
            now,
        )
        .await
        .expect("idempotency key");
    storage
        .rates
        .try_acquire(
            user,
            "publish_init",
            5,
            std::time::Duration::from_secs(60),
            now,
        )
        .await
        .expect("rate window")
        .expect("under the limit");
    Seeded {
        user,
        open_id: open_id.to_owned(),
        caller,
        other,
        videos: videos.iter().map(|v| v.id).collect(),
    }
}

/// Keys of the user's objects and open uploads left in the bucket.
pub fn objects_of(s: &Services, user: UserId) -> Vec<String> {
    let prefix = ObjectKey::account_prefix(user);
    s.store
        .object_keys()
        .into_iter()
        .filter(|k| k.starts_with(&prefix))
        .collect()
}
