//! Account deletion is resumable: broken after any of its writes, the account stays marked
//! (no sign-in revives it), the caller's session survives so the caller can call again, and
//! calling again finishes it; a deletion nobody resumes is finished by the worker's sweep.

use chrono::Utc;
use postiqo_domain::UserId;
use postiqo_storage::{SessionRepository, TokenVault};

use super::{Seeded, objects_of, seed};
use crate::services::account::Revocation;
use crate::services::ports::Clock;
use crate::services::sessions::SessionError;
use crate::test_support::Services;

/// Every record, object and upload of the account is gone, and the bystander's are intact.
async fn assert_all_gone(s: &Services, a: &Seeded, bystander: &Seeded, bystander_records: usize) {
    assert_eq!(
        s.store.records_of(a.user),
        0,
        "no record of the account is left"
    );
    assert!(
        objects_of(s, a.user).is_empty(),
        "no object or upload is left"
    );
    assert!(
        s.storage
            .users
            .find_by_open_id(&a.open_id)
            .await
            .expect("read")
            .is_none(),
        "the identity is free for a new sign-in"
    );
    for t in [&a.caller, &a.other] {
        let err = s.sessions.authenticate(&t.access_token).await.err();
        assert!(matches!(err, Some(SessionError::Ended)), "{err:?}");
    }
    assert_eq!(s.store.records_of(bystander.user), bystander_records);
    assert_eq!(
        objects_of(s, bystander.user).len(),
        4,
        "3 objects and an upload"
    );
    s.sessions
        .authenticate(&bystander.caller.access_token)
        .await
        .expect("another account's session is untouched");
}

async fn caller_session_exists(s: &Services, user: UserId, a: &Seeded) -> bool {
    SessionRepository::get(&*s.store, user, &a.caller.session_id, s.clock.now())
        .await
        .expect("read")
        .is_some()
}

#[tokio::test]
async fn a_deletion_broken_after_any_write_is_marked_and_finished_by_calling_again() {
    let mut crash_points = 0;
    for ok in 0..64 {
        let s = Services::new();
        let a = seed(&s, "open-alice").await;
        let b = seed(&s, "open-bob").await;
        let bystander_records = s.store.records_of(b.user);
        let before = s.store.records_of(a.user);
        // Profile, identity, tokens, 2 sessions, 3 videos, job, lookup, idempotency key,
        // rate window.
        assert_eq!(before, 12);
        for t in [&a.caller, &a.other] {
            s.sessions
                .authenticate(&t.access_token)
                .await
                .expect("alive (and now cached)");
        }

        s.store.fail_writes_after(ok, 1);
        let first = s
            .account
            .delete_account(a.user, Some(&a.caller.session_id), false)
            .await;
        if first.is_ok() {
            assert_eq!(
                s.store.pending_failures(),
                1,
                "a deletion that reports success had no write fail"
            );
            assert!(ok > 0);
            assert_all_gone(&s, &a, &b, bystander_records).await;
            break;
        }
        crash_points += 1;
        assert_eq!(
            s.store.pending_failures(),
            0,
            "it failed on the broken write"
        );

        let profile = s
            .storage
            .users
            .find_by_open_id(&a.open_id)
            .await
            .expect("read");
        match profile {
            // The mark itself failed: nothing changed.
            Some(p) if ok == 0 => {
                assert!(!p.is_being_deleted());
                assert_eq!(s.store.records_of(a.user), before);
            }
            // Between the mark and the end: what a sign-in reads says "being deleted", and
            // the caller's session is still there to call again.
            Some(p) => {
                assert!(p.is_being_deleted(), "after write {ok}: marked");
                assert!(
                    caller_session_exists(&s, a.user, &a).await,
                    "after write {ok}: the caller's session goes last"
                );
                s.sessions
                    .authenticate(&a.caller.access_token)
                    .await
                    .expect("the caller can still call again");
            }
            // The root is gone: only stragglers' passes were left.
            None => assert!(!caller_session_exists(&s, a.user, &a).await),
        }
        if ok >= 2 {
            let err = s.sessions.authenticate(&a.other.access_token).await.err();
            assert!(
                matches!(err, Some(SessionError::Ended)),
                "after write {ok}: other devices are signed out first: {err:?}"
            );
        }

        let again = s
            .account
            .delete_account(a.user, Some(&a.caller.session_id), false)
            .await
            .expect("calling again finishes the deletion");
        assert_eq!(again.revocation, Revocation::NotRequested);
        assert_all_gone(&s, &a, &b, bystander_records).await;
    }
    assert!(
        crash_points >= 8,
        "the deletion has at least the mark, sessions, tokens, uploads, objects, records, root: {crash_points}"
    );
}

#[tokio::test]
async fn a_completed_deletion_reports_what_it_removed() {
    let s = Services::new();
    let a = seed(&s, "open-alice").await;
    let b = seed(&s, "open-bob").await;
    let bystander_records = s.store.records_of(b.user);
    let outcome = s
        .account
        .delete_account(a.user, Some(&a.caller.session_id), false)
        .await
        .expect("deleted");
    assert_eq!(outcome.purged.objects, 3);
    assert_eq!(outcome.purged.uploads_aborted, 1);
    // Videos, job, lookup, idempotency key, rate window (tokens and the other session went
    // before the purge; the profile and the caller's session go with the root).
    assert_eq!(outcome.purged.records, 7);
    assert_all_gone(&s, &a, &b, bystander_records).await;
    assert!(
        TokenVault::get(&*s.store, a.user)
            .await
            .expect("read")
            .is_none()
    );
    s.account
        .delete_account(a.user, Some(&a.caller.session_id), false)
        .await
        .expect("deleting a deleted account is a no-op");
}

#[tokio::test]
async fn an_abandoned_deletion_is_finished_by_the_sweep() {
    let s = Services::new();
    let a = seed(&s, "open-alice").await;
    let b = seed(&s, "open-bob").await;
    let bystander_records = s.store.records_of(b.user);
    let started = Utc::now();
    // Mark, other session, tokens, uploads: then the caller goes away for good.
    s.store.fail_writes_after(4, 1);
    s.account
        .delete_account(a.user, Some(&a.caller.session_id), false)
        .await
        .expect_err("broken midway");
    assert!(!objects_of(&s, a.user).is_empty(), "left half done");

    let too_early = started - chrono::Duration::minutes(10);
    assert_eq!(
        s.account
            .finish_abandoned_deletions(too_early)
            .await
            .expect("sweep"),
        0,
        "a deletion younger than the cut-off may still be running"
    );
    assert!(!objects_of(&s, a.user).is_empty());

    let later = Utc::now() + chrono::Duration::seconds(1);
    assert_eq!(
        s.account
            .finish_abandoned_deletions(later)
            .await
            .expect("sweep"),
        1
    );
    assert_all_gone(&s, &a, &b, bystander_records).await;
    assert_eq!(
        s.account
            .finish_abandoned_deletions(later)
            .await
            .expect("sweep"),
        0,
        "finished deletions leave the index"
    );
    assert!(objects_of(&s, a.user).is_empty());
}
