//! Refresh-token rotation that tolerates a browser: the token a rotation retired, presented
//! again within the reuse interval (another tab, a retried request), gets the current tokens
//! instead of ending the session; after the interval it is a replay and ends it.

use std::sync::Arc;
use std::time::Duration;

use postiqo_e2e::{TestApp, TestAppBuilder};
use reqwest::cookie::{CookieStore, Jar};
use serde_json::{Value, json};

async fn problem_code(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

/// The value a response sets for the cookie whose name ends with `name` (a deployment may
/// prefix the names with `__Host-`/`__Secure-`).
fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next()?.split_once('='))
        .find(|(n, _)| n.ends_with(name))
        .map(|(_, v)| v.to_owned())
}

async fn refresh_bearer(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({ "refresh_token": token }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn two_tabs_refreshing_at_once_both_stay_signed_in() {
    let app = TestApp::spawn().await;
    // One browser: one cookie jar shared by its tabs.
    let jar = Arc::new(Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let return_to = format!("{}/app", app.origin());
    let location = app
        .walk_login(
            &browser,
            &return_to,
            "",
            "&sandbox_auto=approve&sandbox_user=two_tabs",
        )
        .await;
    assert_eq!(location, return_to);
    let csrf: Value = browser
        .get(app.url("/v1/auth/csrf"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = csrf["csrf_token"].as_str().unwrap().to_owned();
    // Both tabs send the cookies the jar holds now, at the same moment.
    let refresh_url = reqwest::Url::parse(&app.url("/v1/auth/refresh")).unwrap();
    let cookies = jar.cookies(&refresh_url).unwrap();
    let tab = || {
        app.http
            .post(refresh_url.clone())
            .header("cookie", cookies.clone())
            .header("x-csrf-token", &csrf)
            .send()
    };
    let (a, b) = tokio::join!(tab(), tab());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        (a.status().as_u16(), b.status().as_u16()),
        (200, 200),
        "both tabs refreshed"
    );
    let (refresh_a, refresh_b) = (
        set_cookie(&a, "postiqo_refresh").unwrap(),
        set_cookie(&b, "postiqo_refresh").unwrap(),
    );
    assert_eq!(
        refresh_a, refresh_b,
        "the retired token gets the successor its first use got, so the jar holds one token whichever answer lands last"
    );
    let access_a = set_cookie(&a, "postiqo_access").unwrap();
    let access_b = set_cookie(&b, "postiqo_access").unwrap();
    let body_b: Value = b.json().await.unwrap();
    assert_eq!(body_b["csrf_token"], csrf.as_str(), "same session");

    // The session is alive and both tabs are signed in.
    for access in [&access_a, &access_b] {
        let me = app
            .http
            .get(app.url("/v1/me"))
            .header("cookie", format!("postiqo_access={access}"))
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200);
    }
    // The successor rotates as usual: the chain goes on.
    let next = app
        .http
        .post(refresh_url.clone())
        .header("cookie", format!("postiqo_refresh={refresh_a}"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 200);
    assert_ne!(set_cookie(&next, "postiqo_refresh").unwrap(), refresh_a);
}

#[tokio::test]
async fn five_concurrent_bearer_refreshes_get_one_successor_and_keep_the_session() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let answers =
        futures_util::future::join_all((0..5).map(|_| refresh_bearer(&app, &user.refresh_token)))
            .await;
    let mut bodies = Vec::new();
    for res in answers {
        assert_eq!(res.status(), 200);
        bodies.push(res.json::<Value>().await.unwrap());
    }
    let successor = bodies[0]["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(successor, user.refresh_token);
    for body in &bodies {
        assert_eq!(body["refresh_token"], successor.as_str(), "{body}");
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(app.get_json("/v1/me", access).await["id"], user.id.as_str());
    }
    let next = refresh_bearer(&app, &successor).await;
    assert_eq!(next.status(), 200, "the session survived");
}

#[tokio::test]
async fn a_retired_token_presented_after_the_reuse_interval_ends_the_session() {
    let app = TestAppBuilder::new()
        .env("POSTIQO_REFRESH_REUSE_INTERVAL_SECS", "4")
        .spawn()
        .await;
    let user = app.new_user().await;
    let first = refresh_bearer(&app, &user.refresh_token).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let access = first["access_token"].as_str().unwrap().to_owned();
    let successor = first["refresh_token"].as_str().unwrap().to_owned();
    // Within the interval: the same successor again.
    let again: Value = refresh_bearer(&app, &user.refresh_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["refresh_token"], successor.as_str());

    tokio::time::sleep(Duration::from_secs(5)).await;
    let late = refresh_bearer(&app, &user.refresh_token).await;
    assert_eq!(
        problem_code(late).await,
        (401, "refresh_token_reused".into())
    );
    let res = app
        .http
        .get(app.url("/v1/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(problem_code(res).await, (401, "session_ended".into()));
    assert_eq!(refresh_bearer(&app, &successor).await.status(), 401);
    let logged = |ls: &[String]| {
        ls.iter()
            .any(|l| l.contains("WARN") && l.contains("refresh token reused"))
    };
    assert!(
        logged(&app.process.lines_when(logged)),
        "the replay is logged"
    );
}
