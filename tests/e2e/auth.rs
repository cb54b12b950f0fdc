//! Sign in with TikTok (against the sandbox), our sessions, and TikTok tokens kept safe.

use std::collections::HashSet;

use postiqo_e2e::{TestApp, TestAppBuilder};
use reqwest::Method;
use serde_json::{Value, json};

/// `error` and `error_description` of a sign-in that came back to `return_to` with a failure.
fn login_error(location: &str) -> (String, String) {
    let url = reqwest::Url::parse(location).unwrap();
    let get = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    (get("error"), get("error_description"))
}

async fn problem_code(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn browser_session_with_cookies_csrf_refresh_and_logout() {
    let app = TestApp::spawn().await;
    let (browser, csrf) = app.sign_in_browser("cookie_user").await;

    let me: Value = browser
        .get(app.url("/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "cookie_user");
    assert_eq!(me["tiktok"], "connected");
    assert_eq!(me["can_publish"], true);
    assert!(me.get("access_token").is_none());

    // Unsafe requests by cookie need the CSRF token, and an allowed Origin when one is sent.
    let body = json!({"title": "t", "content_type": "video/mp4", "size_bytes": 10});
    let res = browser
        .post(app.url("/v1/videos"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(problem_code(res).await, (403, "csrf_failed".into()));
    let res = browser
        .post(app.url("/v1/videos"))
        .header("x-csrf-token", "forged")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(problem_code(res).await, (403, "csrf_failed".into()));
    let res = browser
        .post(app.url("/v1/videos"))
        .header("x-csrf-token", &csrf)
        .header("origin", "https://evil.example")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = browser
        .post(app.url("/v1/videos"))
        .header("x-csrf-token", &csrf)
        .header("origin", app.origin())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    // Refresh by cookie rotates both cookies.
    let res = browser
        .post(app.url("/v1/auth/refresh"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let set_cookies: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let refresh_cookie = set_cookies
        .iter()
        .find(|c| c.starts_with("postiqo_refresh="))
        .unwrap();
    assert!(refresh_cookie.contains("HttpOnly"), "{refresh_cookie}");
    assert!(refresh_cookie.contains("Path=/v1/auth"), "{refresh_cookie}");
    assert!(refresh_cookie.contains("SameSite=Lax"), "{refresh_cookie}");
    let access_cookie = set_cookies
        .iter()
        .find(|c| c.starts_with("postiqo_access="))
        .unwrap();
    assert!(access_cookie.contains("HttpOnly"), "{access_cookie}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["csrf_token"],
        csrf.as_str(),
        "same session, same CSRF token"
    );
    assert!(
        body.get("refresh_token").is_none(),
        "cookie clients never see tokens"
    );

    assert_eq!(
        browser
            .get(app.url("/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let res = browser
        .post(app.url("/v1/auth/logout"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = browser.get(app.url("/v1/me")).send().await.unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn bearer_tokens_rotate_and_a_reused_refresh_token_ends_the_session() {
    // No reuse interval: a spent token is a replay at once (the interval has its own tests).
    let app = TestAppBuilder::new()
        .env("POSTIQO_REFRESH_REUSE_INTERVAL_SECS", "0")
        .spawn()
        .await;
    let user = app.new_user().await;
    let me: Value = app.get_json("/v1/me", &user.token).await;
    assert_eq!(me["id"], user.id.as_str());
    assert_eq!(me["username"], user.username.as_str());

    let refresh = |token: String| {
        let app = &app;
        async move {
            app.http
                .post(app.url("/v1/auth/refresh"))
                .json(&json!({ "refresh_token": token }))
                .send()
                .await
                .unwrap()
        }
    };
    let res = refresh(user.refresh_token.clone()).await;
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    let new_access = second["access_token"].as_str().unwrap().to_owned();
    let new_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, user.refresh_token);
    assert_eq!(second["token_type"], "Bearer");
    assert!(second["expires_in"].as_i64().unwrap() > 0);
    let res = app
        .http
        .get(app.url("/v1/me"))
        .bearer_auth(&new_access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // The old refresh token is spent: presenting it again ends the whole session.
    let res = refresh(user.refresh_token.clone()).await;
    assert_eq!(
        problem_code(res).await,
        (401, "refresh_token_reused".into())
    );
    let res = app
        .http
        .get(app.url("/v1/me"))
        .bearer_auth(&new_access)
        .send()
        .await
        .unwrap();
    assert_eq!(problem_code(res).await, (401, "session_ended".into()));
    let res = refresh(new_refresh).await;
    assert_eq!(res.status(), 401);

    // Logout ends a session at once.
    let other = app.new_user().await;
    let res = app
        .http
        .post(app.url("/v1/auth/logout"))
        .bearer_auth(&other.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app
        .http
        .get(app.url("/v1/me"))
        .bearer_auth(&other.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(refresh(other.refresh_token).await.status(), 401);
    // Garbage refresh tokens are a plain 401.
    assert_eq!(
        problem_code(refresh("nonsense".into()).await).await,
        (401, "invalid_refresh_token".into())
    );
}

#[tokio::test]
async fn sign_in_refuses_open_redirects_replays_and_foreign_states() {
    let app = TestApp::spawn().await;
    let browser = app.browser();

    for bad in [
        "https://evil.example/x",
        "javascript:alert(1)",
        "/relative",
        "http://user@localhost:5173/",
    ] {
        let res = browser
            .get(app.url("/v1/auth/tiktok/login"))
            .query(&[("return_to", bad)])
            .send()
            .await
            .unwrap();
        assert_eq!(
            problem_code(res).await,
            (400, "invalid_return_to".into()),
            "{bad}"
        );
    }
    let res = browser
        .get(app.url("/v1/auth/tiktok/login"))
        .query(&[
            ("return_to", format!("{}/x", app.origin())),
            ("mode", "code".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422, "code mode needs a code_challenge");

    // Denied consent comes back to return_to with error=access_denied.
    let return_to = format!("{}/app", app.origin());
    let location = app
        .walk_login(
            &browser,
            &return_to,
            "",
            "&sandbox_auto=deny&sandbox_user=denier",
        )
        .await;
    let (error, description) = login_error(&location);
    assert!(location.starts_with(&format!("{return_to}?error=access_denied&")));
    assert_eq!(error, "access_denied");
    assert!(description.contains("did not allow"), "{description}");

    // A callback replayed (same state twice) is refused: states are single-use.
    let login = browser
        .get(app.url("/v1/auth/tiktok/login"))
        .query(&[("return_to", &return_to)])
        .send()
        .await
        .unwrap();
    let to_tiktok = login.headers()["location"].to_str().unwrap().to_owned();
    let consent = browser
        .get(format!(
            "{to_tiktok}&sandbox_auto=approve&sandbox_user=replayer"
        ))
        .send()
        .await
        .unwrap();
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    // Another browser (with its own binding cookie) presenting this callback is refused...
    let foreign = app.browser();
    let own_login = foreign
        .get(app.url("/v1/auth/tiktok/login"))
        .query(&[("return_to", &return_to)])
        .send()
        .await
        .unwrap();
    assert_eq!(own_login.status(), 302);
    let foreign = foreign.get(&callback).send().await.unwrap();
    assert_eq!(foreign.status(), 302);
    let (error, _) = login_error(foreign.headers()["location"].to_str().unwrap());
    assert_eq!(
        error, "invalid_state",
        "login CSRF: a state from another browser"
    );
    // ...and having been presented once, the state is spent even for its own browser.
    let again = browser.get(&callback).send().await.unwrap();
    assert_eq!(
        problem_code(again).await,
        (400, "invalid_login_state".into())
    );

    // Bad one-time codes.
    let res = app
        .http
        .post(app.url("/v1/auth/token"))
        .json(&json!({"grant_type": "authorization_code", "code": "made-up", "code_verifier": "x".repeat(43)}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem_code(res).await, (400, "invalid_grant".into()));

    let verifier = "v".repeat(64);
    let challenge = postiqo_e2e::s256(&verifier);
    let code = app
        .authorize(
            &app.browser(),
            &return_to,
            &format!("&mode=code&code_challenge={challenge}"),
            "coder",
        )
        .await
        .unwrap();
    let exchange = |v: String| {
        let app = &app;
        let code = code.clone();
        async move {
            app.http
                .post(app.url("/v1/auth/token"))
                .json(
                    &json!({"grant_type": "authorization_code", "code": code, "code_verifier": v}),
                )
                .send()
                .await
                .unwrap()
        }
    };
    // A wrong verifier burns the code (single use), so the right one then fails too.
    assert_eq!(
        problem_code(exchange("w".repeat(64)).await).await,
        (400, "invalid_grant".into())
    );
    assert_eq!(exchange(verifier).await.status(), 400);
}

#[tokio::test]
async fn expired_tiktok_token_is_refreshed_once_under_concurrency() {
    // Twenty syncs at once by one user: above the per-user sync budget on purpose.
    let app = postiqo_e2e::TestAppBuilder::new()
        .env("POSTIQO_RATE_LIMIT_ACCOUNT_PER_MIN", "1000")
        .spawn()
        .await;
    let user = app.new_user().await;
    let ddb = postiqo_e2e::ddb_client().await;
    let vault_version = || {
        let ddb = ddb.clone();
        let table = app.table.clone();
        let pk = format!("USER#{}", user.id);
        async move {
            let item = ddb
                .get_item()
                .table_name(table)
                .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(pk))
                .key(
                    "SK",
                    aws_sdk_dynamodb::types::AttributeValue::S("TIKTOK_TOKENS".into()),
                )
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item
                .unwrap();
            item["version"].as_n().unwrap().parse::<u64>().unwrap()
        }
    };
    assert_eq!(vault_version().await, 1);

    app.sandbox(
        Method::POST,
        "/tokens/expire",
        Some(json!({"user": user.username})),
    )
    .await;
    let calls = (0..20).map(|_| {
        app.http
            .post(app.url("/v1/me/sync"))
            .bearer_auth(&user.token)
            .send()
    });
    let results = futures_util::future::join_all(calls).await;
    for r in results {
        let r = r.unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        if status != 200 {
            let warnings: Vec<_> = app
                .process
                .lines()
                .into_iter()
                .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("TikTok"))
                .collect();
            panic!("{status} {body}\n{}", warnings.join("\n"));
        }
    }
    // One lease (+1) and one replacement (+1): exactly one refresh happened.
    assert_eq!(vault_version().await, 3);

    // The stored refresh token is the newest: TikTok (which rotates them) accepts it again.
    app.sandbox(
        Method::POST,
        "/tokens/expire",
        Some(json!({"user": user.username})),
    )
    .await;
    let res = app
        .http
        .post(app.url("/v1/me/sync"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(vault_version().await, 5);
}

#[tokio::test]
async fn revoked_tiktok_access_asks_for_a_new_sign_in() {
    // Without webhooks: we learn of the revocation only when TikTok refuses our tokens.
    let app = postiqo_e2e::TestAppBuilder::new()
        .env("SANDBOX_WEBHOOK_URL", "")
        .spawn()
        .await;
    let user = app.new_user().await;
    // The user removes the app on TikTok's side: every grant is revoked.
    app.sandbox(
        Method::POST,
        &format!("/users/{}/disconnect", user.username),
        Some(json!({})),
    )
    .await;
    let res = app
        .http
        .post(app.url("/v1/me/sync"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        problem_code(res).await,
        (403, "tiktok_reauth_required".into())
    );
    let me: Value = app.get_json("/v1/me", &user.token).await;
    assert_eq!(me["tiktok"], "reauth_required");
    // Signing in again reconnects the same account.
    let again = app.sign_in(&user.username).await;
    assert_eq!(again.id, user.id);
    let me: Value = app.get_json("/v1/me", &again.token).await;
    assert_eq!(me["tiktok"], "connected");
}

/// Every string of at least 16 characters found in `v` (keys and values).
fn strings(v: &Value, out: &mut HashSet<String>) {
    match v {
        Value::String(s) if s.len() >= 16 => {
            out.insert(s.clone());
        }
        Value::Object(m) => {
            for (k, v) in m {
                if k.len() >= 16 {
                    out.insert(k.clone());
                }
                strings(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn no_secret_reaches_logs_responses_or_the_table_in_clear() {
    let app = TestApp::spawn().await;
    let mut bodies = Vec::new();
    let (browser, csrf) = app.sign_in_browser("secret_keeper").await;
    for path in ["/v1/me", "/v1/auth/csrf", "/v1/videos"] {
        bodies.push(
            browser
                .get(app.url(path))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    let res = browser
        .post(app.url("/v1/auth/refresh"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    bodies.push(res.text().await.unwrap());
    app.sandbox(
        Method::POST,
        "/tokens/expire",
        Some(json!({"user": "secret_keeper"})),
    )
    .await;
    let res = browser
        .post(app.url("/v1/me/sync"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    bodies.push(res.text().await.unwrap());
    let bearer = app.new_user().await;
    bodies.push(
        app.http
            .get(app.url("/v1/me"))
            .bearer_auth(&bearer.token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );

    // TikTok's tokens as the sandbox issued them: its stats are keyed by access token.
    let stats = app.sandbox(Method::GET, "/stats", None).await;
    let mut tiktok_tokens = HashSet::new();
    strings(&stats["rate_limits"], &mut tiktok_tokens);
    tiktok_tokens.retain(|t| !t.starts_with('/'));
    assert!(
        !tiktok_tokens.is_empty(),
        "the sandbox reported the tokens it issued: {stats}"
    );

    let mut secrets: Vec<String> = tiktok_tokens.into_iter().collect();
    secrets.push(std::env::var("POSTIQO_TIKTOK_CLIENT_SECRET").unwrap());
    for var in ["POSTIQO_JWT_KEYS", "POSTIQO_TOKEN_ENCRYPTION_KEY"] {
        for entry in std::env::var(var).unwrap().split(',') {
            secrets.push(entry.split_once(':').unwrap().1.to_owned());
        }
    }
    let logs = app
        .process
        .lines_after("signed in with TikTok", 1)
        .join("\n");
    assert!(
        logs.contains("signed in with TikTok"),
        "the logs were captured"
    );
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret appears in the logs"
        );
        for body in &bodies {
            assert!(
                !body.contains(secret.as_str()),
                "a secret appears in a response: {body}"
            );
        }
    }

    // The table holds ciphertext only.
    let ddb = postiqo_e2e::ddb_client().await;
    let scan = ddb.scan().table_name(&app.table).send().await.unwrap();
    let dump = format!("{:?}", scan.items());
    assert!(dump.contains("access_ct"), "token items were scanned");
    for secret in &secrets {
        assert!(
            !dump.contains(secret.as_str()),
            "a secret is stored in clear"
        );
    }
}
