//! Sign-in that cannot fail silently: a login started on another name for the API's host is
//! moved to `POSTIQO_PUBLIC_URL`'s host first, and a callback without the state cookie says so.

use postiqo_e2e::{TestApp, TestAppBuilder};

fn query(location: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn location(res: &reqwest::Response) -> String {
    assert_eq!(res.status(), 302, "a redirect");
    res.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_login_started_on_127_0_0_1_ends_in_a_session_on_localhost() {
    let builder = TestAppBuilder::new();
    let port = builder
        .var("POSTIQO_BIND")
        .and_then(|b| b.rsplit(':').next())
        .unwrap()
        .to_owned();
    let public = format!("http://localhost:{port}");
    let app = builder.env("POSTIQO_PUBLIC_URL", &public).spawn().await;
    let browser = app.browser();
    let return_to = format!("{}/app", app.origin());

    let started = browser
        .get(format!("http://127.0.0.1:{port}/v1/auth/tiktok/login"))
        .query(&[("return_to", &return_to)])
        .send()
        .await
        .unwrap();
    let moved = location(&started);
    assert!(
        moved.starts_with(&format!("{public}/v1/auth/tiktok/login?return_to=")),
        "moved to the public host first: {moved}"
    );
    assert!(
        !started.headers().contains_key("set-cookie"),
        "no state cookie on the wrong host"
    );
    let login = browser.get(&moved).send().await.unwrap();
    let to_tiktok = location(&login);
    let consent = browser
        .get(format!(
            "{to_tiktok}&sandbox_auto=approve&sandbox_user=loopback_user"
        ))
        .send()
        .await
        .unwrap();
    let callback = location(&consent);
    assert!(callback.starts_with(&format!("{public}/v1/auth/tiktok/callback?")));
    let done = browser.get(&callback).send().await.unwrap();
    assert_eq!(location(&done), return_to, "signed in, no error");

    let me = browser.get(format!("{public}/v1/me")).send().await.unwrap();
    assert_eq!(me.status(), 200, "the session cookies are on localhost");
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["username"], "loopback_user");
}

#[tokio::test]
async fn a_callback_without_the_state_cookie_says_so() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    let return_to = format!("{}/app", app.origin());
    let login = browser
        .get(app.url("/v1/auth/tiktok/login"))
        .query(&[("return_to", &return_to)])
        .send()
        .await
        .unwrap();
    let to_tiktok = location(&login);
    let consent = browser
        .get(format!(
            "{to_tiktok}&sandbox_auto=approve&sandbox_user=cookieless"
        ))
        .send()
        .await
        .unwrap();
    let callback = location(&consent);
    // The same callback from a client without the cookie (as if the browser dropped it).
    let res = app.browser().get(&callback).send().await.unwrap();
    let back = location(&res);
    assert!(back.starts_with(&return_to), "{back}");
    assert_eq!(
        query(&back, "error").as_deref(),
        Some("state_cookie_missing")
    );
    let description = query(&back, "error_description").unwrap();
    assert!(
        description.contains(&app.base_url),
        "names the host to start on: {description}"
    );
    let says_why = |lines: &[String]| {
        lines
            .iter()
            .any(|l| l.contains("WARN") && l.contains("without the state cookie"))
    };
    assert!(
        says_why(&app.process.lines_when(says_why)),
        "the API's log says why"
    );
    assert!(
        !res.headers().contains_key("set-cookie"),
        "no session for a callback without its cookie"
    );
}
