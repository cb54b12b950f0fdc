//! Refresh-token rotation and reuse, expiry, logout, and that ending a session is felt by
//! `SessionService::authenticate` at once (the shared session cache is told).

use std::time::Duration;

use postiqo_domain::SessionId;
use postiqo_storage::SessionRepository;

use crate::services::ports::Clock;
use crate::services::sessions::SessionError;
use crate::services::signin::{IssuedTokens, SignInError};
use crate::test_support::{REUSE_INTERVAL, SESSION_TTL, Services};

async fn signed_in(s: &Services) -> IssuedTokens {
    let user = s.sign_up("open-alice").await;
    s.signin.create_session(user, None).await.expect("session")
}

async fn session_exists(s: &Services, t: &IssuedTokens) -> bool {
    let (user, id, _) = crate::services::SignInService::parse_refresh_token(&t.refresh_token)
        .expect("a refresh token we issued parses");
    SessionRepository::get(&*s.store, user, &id, s.clock.now())
        .await
        .expect("read")
        .is_some()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[tokio::test]
async fn a_rotated_token_is_replaced_and_works_once() {
    let s = Services::new();
    let t0 = signed_in(&s).await;
    let t1 = s.signin.refresh(&t0.refresh_token).await.expect("rotate");
    assert_ne!(
        t1.refresh_token, t0.refresh_token,
        "rotation issues a new token"
    );
    assert_eq!(t1.session_id, t0.session_id, "the same session");
    let t2 = s
        .signin
        .refresh(&t1.refresh_token)
        .await
        .expect("rotate again");
    assert_ne!(t2.refresh_token, t1.refresh_token);
    // t0 is two rotations old: not the retired token the interval forgives, so a reuse.
    let err = s.signin.refresh(&t0.refresh_token).await.err();
    assert!(
        matches!(err, Some(SignInError::RefreshTokenReused)),
        "an old token, even within the interval, is reuse: {err:?}"
    );
    assert!(!session_exists(&s, &t2).await, "reuse ends the session");
}

#[tokio::test]
async fn the_retired_token_within_the_reuse_interval_yields_the_current_tokens() {
    let s = Services::new();
    let t0 = signed_in(&s).await;
    let t1 = s.signin.refresh(&t0.refresh_token).await.expect("rotate");
    s.clock.advance(REUSE_INTERVAL - secs(1));
    let again = s
        .signin
        .refresh(&t0.refresh_token)
        .await
        .expect("second tab");
    assert_eq!(
        again.refresh_token, t1.refresh_token,
        "the second tab gets the successor the first got, not a new rotation"
    );
    assert_eq!(again.session_id, t1.session_id);
    // The successor is still current: nothing was rotated by the reissue.
    let t2 = s
        .signin
        .refresh(&t1.refresh_token)
        .await
        .expect("successor works");
    assert_ne!(t2.refresh_token, t1.refresh_token);
}

#[tokio::test]
async fn the_retired_token_after_the_interval_is_reuse_and_ends_the_session() {
    let s = Services::new();
    let t0 = signed_in(&s).await;
    s.sessions
        .authenticate(&t0.access_token)
        .await
        .expect("alive (and now cached)");
    let t1 = s.signin.refresh(&t0.refresh_token).await.expect("rotate");
    s.clock.advance(REUSE_INTERVAL + secs(1));
    let err = s.signin.refresh(&t0.refresh_token).await.err();
    assert!(
        matches!(err, Some(SignInError::RefreshTokenReused)),
        "{err:?}"
    );
    assert!(!session_exists(&s, &t1).await, "the session is gone");
    let err = s.signin.refresh(&t1.refresh_token).await.err();
    assert!(
        matches!(err, Some(SignInError::InvalidRefreshToken)),
        "the newest token dies with its session: {err:?}"
    );
    let err = s.sessions.authenticate(&t1.access_token).await.err();
    assert!(
        matches!(err, Some(SessionError::Ended)),
        "an access token of the session is refused at once, cache or not: {err:?}"
    );
}

#[tokio::test]
async fn a_session_expires_by_the_clock_and_each_rotation_restarts_its_lifetime() {
    let s = Services::new();
    let t0 = signed_in(&s).await;
    let day = secs(86_400);
    s.clock.advance(SESSION_TTL - day);
    let t1 = s
        .signin
        .refresh(&t0.refresh_token)
        .await
        .expect("still alive");
    s.clock.advance(day * 2);
    let t2 = s
        .signin
        .refresh(&t1.refresh_token)
        .await
        .expect("past the first lifetime, alive: the rotation restarted it");
    s.clock.advance(SESSION_TTL);
    let err = s.signin.refresh(&t2.refresh_token).await.err();
    assert!(
        matches!(err, Some(SignInError::InvalidRefreshToken)),
        "expired at its lifetime's end: {err:?}"
    );
    assert!(
        s.signin
            .session_of_refresh_token(&t2.refresh_token)
            .await
            .expect("read")
            .is_none()
    );
}

#[tokio::test]
async fn a_token_with_a_wrong_secret_is_invalid_and_harms_nothing() {
    let s = Services::new();
    let t0 = signed_in(&s).await;
    let (user, id, _) =
        crate::services::SignInService::parse_refresh_token(&t0.refresh_token).expect("parses");
    for forged in [
        format!("{user}.{id}.not-the-secret"),
        format!("{user}.{}.x", SessionId::from_random([3; 16])),
        "garbage".to_owned(),
    ] {
        let err = s.signin.refresh(&forged).await.err();
        assert!(
            matches!(err, Some(SignInError::InvalidRefreshToken)),
            "{forged}: {err:?}"
        );
    }
    assert!(
        session_exists(&s, &t0).await,
        "a guess ends nobody's session"
    );
    s.signin
        .refresh(&t0.refresh_token)
        .await
        .expect("the real token still rotates");
}

#[tokio::test]
async fn logout_ends_the_session_at_once_and_only_that_one() {
    let s = Services::new();
    let t0 = signed_in(&s).await;
    let (user, _, _) =
        crate::services::SignInService::parse_refresh_token(&t0.refresh_token).expect("parses");
    let other = s.signin.create_session(user, None).await.expect("second");
    for t in [&t0, &other] {
        s.sessions
            .authenticate(&t.access_token)
            .await
            .expect("alive (and now cached)");
    }
    s.signin.logout(user, &t0.session_id).await.expect("logout");
    let err = s.sessions.authenticate(&t0.access_token).await.err();
    assert!(matches!(err, Some(SessionError::Ended)), "{err:?}");
    let err = s.signin.refresh(&t0.refresh_token).await.err();
    assert!(
        matches!(err, Some(SignInError::InvalidRefreshToken)),
        "{err:?}"
    );
    s.sessions
        .authenticate(&other.access_token)
        .await
        .expect("the other device stays signed in");
    s.signin
        .logout(user, &t0.session_id)
        .await
        .expect("logging out twice is fine");
}
