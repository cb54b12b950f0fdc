//! The in-memory adapters keep the ports' contracts: conditional writes, expiry by `now`,
//! leases, and failures on demand.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use postiqo_domain::{ContentType, ObjectKey, Session, SessionId, TikTokLink, User, UserId};

use super::MemoryStore;
use crate::{
    AccountStore, BlobError, BlobStore, CompletedPart, DeliveryBegin, OneTimeStore, RepoError,
    SessionRepository, StoredTokens, TokenVault, UserRepository, WebhookDeliveries,
};

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0)
        .single()
        .expect("time")
}

fn user(n: u8, open_id: &str) -> User {
    User {
        id: UserId::new_v7(1, [n; 10]),
        open_id: open_id.into(),
        username: None,
        display_name: None,
        avatar_url: None,
        scopes: Vec::new(),
        tiktok: TikTokLink::Connected,
        created_at: at(0),
        updated_at: at(0),
        deletion_requested_at: None,
    }
}

fn tokens() -> StoredTokens {
    StoredTokens {
        key_id: "k".into(),
        access_ciphertext: "a".into(),
        refresh_ciphertext: "r".into(),
        access_expires_at: at(3600),
        refresh_expires_at: at(86_400),
        scopes: Vec::new(),
        granted_at: None,
        version: 1,
        lease_until: None,
    }
}

fn session(user: UserId, n: u8, hash: &str, expires_at: DateTime<Utc>) -> Session {
    Session {
        id: SessionId::from_random([n; 16]),
        user,
        created_at: at(0),
        last_used_at: at(0),
        user_agent: None,
        expires_at,
        refresh_hash: hash.into(),
        used_hashes: Vec::new(),
        previous: None,
    }
}

#[tokio::test]
async fn the_token_lease_is_taken_by_one_caller_until_it_ends() {
    let m = MemoryStore::new();
    let u = user(1, "o1");
    m.create_with_tokens(&u, &tokens()).await.expect("create");
    let v = m
        .acquire_lease(u.id, 1, at(30), at(0))
        .await
        .expect("lease");
    assert_eq!(v, 2);
    assert!(matches!(
        m.acquire_lease(u.id, 1, at(30), at(0)).await,
        Err(RepoError::Conflict)
    ));
    assert!(
        matches!(
            m.acquire_lease(u.id, 2, at(40), at(10)).await,
            Err(RepoError::Conflict)
        ),
        "a live lease is nobody else's"
    );
    let v = m
        .acquire_lease(u.id, 2, at(60), at(30))
        .await
        .expect("an ended lease is free");
    assert!(matches!(
        TokenVault::replace(&m, u.id, &tokens(), v - 1).await,
        Err(RepoError::Conflict)
    ));
    m.fail_next_writes(1);
    assert!(matches!(
        TokenVault::replace(&m, u.id, &tokens(), v).await,
        Err(RepoError::Unavailable(_))
    ));
    TokenVault::replace(&m, u.id, &tokens(), v)
        .await
        .expect("replace");
    let stored = TokenVault::get(&m, u.id)
        .await
        .expect("read")
        .expect("tokens");
    assert_eq!((stored.version, stored.lease_until), (v + 1, None));
}

#[tokio::test]
async fn one_time_records_are_taken_once_and_expire() {
    let m = MemoryStore::new();
    m.put("state", "d1", "payload", at(60)).await.expect("put");
    assert!(matches!(
        m.put("state", "d1", "other", at(60)).await,
        Err(RepoError::Conflict)
    ));
    assert_eq!(
        m.take("state", "d1", at(0)).await.expect("take").as_deref(),
        Some("payload")
    );
    assert_eq!(m.take("state", "d1", at(0)).await.expect("take"), None);
    m.put("state", "d2", "payload", at(60)).await.expect("put");
    assert_eq!(m.take("state", "d2", at(60)).await.expect("take"), None);
}

#[tokio::test]
async fn sessions_rotate_on_their_hash_and_expire_by_now() {
    let m = MemoryStore::new();
    let u = UserId::new_v7(1, [1; 10]);
    let s = session(u, 1, "h1", at(100));
    m.create(&s).await.expect("create");
    assert!(matches!(m.create(&s).await, Err(RepoError::Conflict)));
    let rotated = session(u, 1, "h2", at(200));
    assert!(matches!(
        SessionRepository::replace(&m, &rotated, "wrong").await,
        Err(RepoError::Conflict)
    ));
    SessionRepository::replace(&m, &rotated, "h1")
        .await
        .expect("one rotation wins");
    assert!(matches!(
        SessionRepository::replace(&m, &rotated, "h1").await,
        Err(RepoError::Conflict)
    ));
    assert!(
        SessionRepository::get(&m, u, &s.id, at(150))
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        SessionRepository::get(&m, u, &s.id, at(200))
            .await
            .expect("read")
            .is_none()
    );
    m.create(&session(u, 2, "x", at(10))).await.expect("create");
    assert_eq!(m.list(u, at(50)).await.expect("list").len(), 1);
    assert_eq!(
        m.delete_all(u).await.expect("delete all"),
        2,
        "expired ones too"
    );
    assert!(m.list(u, at(0)).await.expect("list").is_empty());
}

#[tokio::test]
async fn a_webhook_delivery_is_claimed_once_and_remembered_when_done() {
    let m = MemoryStore::new();
    let begin = |now| m.begin("d", at(now + 30), at(now + 1000), at(now));
    assert_eq!(begin(0).await.expect("begin"), DeliveryBegin::Started);
    assert_eq!(begin(10).await.expect("begin"), DeliveryBegin::InProgress);
    assert_eq!(
        begin(30).await.expect("begin"),
        DeliveryBegin::Started,
        "a dead holder's claim runs out"
    );
    m.finish("d").await.expect("finish");
    m.abandon("d").await.expect("abandon");
    assert_eq!(
        begin(40).await.expect("begin"),
        DeliveryBegin::Done,
        "abandoning a done delivery forgets nothing"
    );
    assert!(matches!(
        m.finish("unknown").await,
        Err(RepoError::Conflict)
    ));
}

#[tokio::test]
async fn the_bucket_completes_only_matching_parts_and_reads_conditionally() {
    let m = MemoryStore::new();
    let owner = UserId::new_v7(1, [1; 10]);
    let key = ObjectKey::for_video(owner, postiqo_domain::VideoId::new_v7(1, [2; 10]));
    let upload = m
        .create_multipart(&key, ContentType::Mp4)
        .await
        .expect("create");
    let e1 = m.put_part(&upload, 1, b"abc".to_vec()).expect("part");
    let e2 = m.put_part(&upload, 2, b"def".to_vec()).expect("part");
    let part = |n, etag: &str| CompletedPart {
        part_number: n,
        etag: etag.to_owned(),
    };
    assert!(matches!(
        m.complete_multipart(&key, &upload, &[part(1, &e1), part(2, "\"wrong\"")])
            .await,
        Err(BlobError::InvalidParts(_))
    ));
    assert!(matches!(
        m.complete_multipart(&key, "no-such-upload", &[part(1, &e1)])
            .await,
        Err(BlobError::NotFound)
    ));
    m.complete_multipart(&key, &upload, &[part(1, &e1), part(2, &e2)])
        .await
        .expect("complete");
    let object = m.object(&key).expect("object");
    assert_eq!(object.bytes, b"abcdef");
    assert_eq!(object.upload_tag.as_deref(), Some("pending"));
    m.mark_confirmed(&key).await.expect("confirm");
    assert_eq!(
        m.object(&key).expect("object").upload_tag.as_deref(),
        Some("confirmed")
    );

    let meta = m.head(&key).await.expect("head").expect("exists");
    let etag = meta.etag.expect("etag");
    assert_eq!(
        m.read_prefix(&key, 2, Some(&etag)).await.expect("read"),
        b"ab"
    );
    let newer = m.put_object(&key, b"other".to_vec(), "video/mp4");
    assert_ne!(newer, etag);
    assert!(matches!(
        m.read_prefix(&key, 2, Some(&etag)).await,
        Err(BlobError::Changed)
    ));
    let stream = m
        .open_stream(&key, Some("bytes=1-2"), Some(&newer))
        .await
        .expect("range");
    assert_eq!(
        (stream.content_length, stream.content_range.as_deref()),
        (2, Some("bytes 1-2/5"))
    );

    let other = UserId::new_v7(1, [3; 10]);
    let theirs = ObjectKey::for_video(other, postiqo_domain::VideoId::new_v7(1, [4; 10]));
    m.put_object(&theirs, b"x".to_vec(), "video/mp4");
    m.fail_next_writes(1);
    assert!(matches!(
        m.delete_objects_of(owner).await,
        Err(BlobError::Unavailable(_))
    ));
    assert_eq!(m.delete_objects_of(owner).await.expect("delete"), 1);
    assert!(m.object(&theirs).is_some(), "only the owner's prefix");
}

#[tokio::test]
async fn a_marked_account_keeps_its_first_time_and_cannot_be_revived() {
    let m = Arc::new(MemoryStore::new());
    let u = user(1, "o1");
    m.create_with_tokens(&u, &tokens()).await.expect("create");
    let marked = m
        .mark_deleting(u.id, at(10))
        .await
        .expect("mark")
        .expect("profile");
    m.mark_deleting(u.id, at(20)).await.expect("mark again");
    let profile = UserRepository::get(&*m, u.id).await.expect("read");
    assert_eq!(
        profile.and_then(|p| p.deletion_requested_at),
        marked.deletion_requested_at
    );
    assert_eq!(marked.deletion_requested_at, Some(at(10)));
    assert!(matches!(
        m.update_with_tokens(&u, &tokens()).await,
        Err(RepoError::Conflict)
    ));
    assert!(
        m.abandoned_deletions(at(10), 10)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        m.abandoned_deletions(at(11), 10).await.expect("list"),
        vec![u.id]
    );
    // The identity already names a new account of the same TikTok user: it stays.
    let newer = user(2, "o1");
    m.put_user(newer.clone());
    m.lock().identities.insert("o1".into(), newer.id);
    m.delete_root(u.id, Some("o1"), None).await.expect("root");
    m.storage()
        .users
        .find_by_open_id("o1")
        .await
        .expect("read")
        .map(|found| assert_eq!(found.id, newer.id))
        .expect("not the deleted account's identity");
    assert!(
        m.abandoned_deletions(at(11), 10)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(matches!(m.mark_deleting(u.id, at(30)).await, Ok(None)));
}
