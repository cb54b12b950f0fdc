//! Disconnecting TikTok: tokens deleted, sessions ended at once, the profile marked
//! disconnected, the account and its videos kept.

use postiqo_domain::TikTokLink;
use postiqo_storage::{SessionRepository, TokenVault, UserRepository, VideoRepository};

use super::{objects_of, seed};
use crate::services::account::Revocation;
use crate::services::ports::Clock;
use crate::services::sessions::SessionError;
use crate::test_support::Services;

#[tokio::test]
async fn disconnect_deletes_tokens_and_ends_sessions_but_keeps_the_account() {
    let s = Services::new();
    let a = seed(&s, "open-alice").await;
    let b = seed(&s, "open-bob").await;
    for t in [&a.caller, &a.other, &b.caller] {
        s.sessions
            .authenticate(&t.access_token)
            .await
            .expect("alive (and now cached)");
    }

    let outcome = s
        .account
        .disconnect(a.user, false)
        .await
        .expect("disconnect");
    assert_eq!(outcome.revocation, Revocation::NotRequested);
    assert_eq!(outcome.sessions_ended, 2);
    assert!(!outcome.account_deleted);

    assert!(
        TokenVault::get(&*s.store, a.user)
            .await
            .expect("read")
            .is_none(),
        "our copies of the tokens are gone"
    );
    assert!(
        SessionRepository::list(&*s.store, a.user, s.clock.now())
            .await
            .expect("read")
            .is_empty()
    );
    for t in [&a.caller, &a.other] {
        let err = s.sessions.authenticate(&t.access_token).await.err();
        assert!(
            matches!(err, Some(SessionError::Ended)),
            "refused at once, though cached: {err:?}"
        );
    }
    let profile = UserRepository::get(&*s.store, a.user)
        .await
        .expect("read")
        .expect("the account stays");
    assert_eq!(profile.tiktok, TikTokLink::Disconnected);
    assert!(!profile.is_being_deleted());
    for id in &a.videos {
        assert!(
            VideoRepository::get(&*s.store, a.user, *id, s.clock.now())
                .await
                .expect("read")
                .is_some(),
            "videos are kept"
        );
    }
    assert_eq!(objects_of(&s, a.user).len(), 4, "and their objects");
    s.sessions
        .authenticate(&b.caller.access_token)
        .await
        .expect("another account is untouched");

    let again = s.account.disconnect(a.user, false).await.expect("repeat");
    assert_eq!(again.sessions_ended, 0, "safe to repeat");
}

#[tokio::test]
async fn disconnecting_an_account_being_deleted_finishes_the_deletion() {
    let s = Services::new();
    let a = seed(&s, "open-alice").await;
    // Marked, then broken.
    s.store.fail_writes_after(1, 1);
    s.account
        .delete_account(a.user, Some(&a.caller.session_id), false)
        .await
        .expect_err("broken after the mark");
    let outcome = s
        .account
        .disconnect_by_open_id(&a.open_id, false)
        .await
        .expect("disconnect")
        .expect("the account is found by its open_id");
    assert!(outcome.account_deleted);
    assert_eq!(s.store.records_of(a.user), 0);
    assert!(objects_of(&s, a.user).is_empty());
}
