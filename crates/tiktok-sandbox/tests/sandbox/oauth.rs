use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::{KEY, REDIRECT, SECRET, spawn, spawn_with};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn b64_challenge() -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER))
}

fn hex_challenge() -> String {
    hex::encode(Sha256::digest(VERIFIER))
}

#[tokio::test]
async fn auto_approve_redirects_with_code_scopes_and_state() {
    let t = spawn().await;
    let url = t.authorize_url(&[
        ("sandbox_auto", "approve"),
        ("sandbox_user", "alice"),
        ("sandbox_scopes", "user.info.basic,video.publish"),
    ]);
    let (status, q) = t.authorize(&url).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["scopes"], "user.info.basic,video.publish");
    assert!(
        q["code"].contains("*0!"),
        "codes need URL-decoding like TikTok's"
    );
    // The user was created on the fly.
    let user = t.admin(Method::GET, "/users/alice", None).await;
    assert_eq!(user["username"], "alice");
    t.stop().await;
}

#[tokio::test]
async fn the_auto_approve_switch_answers_every_consent_for_scripts() {
    let t = spawn_with(|c| c.auto_approve = Some("scripted".into())).await;
    // A plain authorize URL, as the app sends it: approved at once as the configured user.
    let (status, q) = t.authorize(&t.authorize_url(&[])).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(q["state"], "st-1");
    assert!(!q["code"].is_empty());
    let user = t.admin(Method::GET, "/users/scripted", None).await;
    assert_eq!(user["username"], "scripted");
    // Per-request flags still win.
    let (_, q) = t
        .authorize(&t.authorize_url(&[("sandbox_auto", "deny")]))
        .await;
    assert_eq!(q["error"], "access_denied");
    // Switched off at runtime: the consent page again.
    t.admin(
        Method::PATCH,
        "/settings",
        Some(json!({"auto_approve": ""})),
    )
    .await;
    let page = t.http.get(t.authorize_url(&[])).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let settings = t
        .admin(
            Method::PATCH,
            "/settings",
            Some(json!({"auto_approve": "other"})),
        )
        .await;
    assert_eq!(settings["auto_approve"], "other");
    let (status, _) = t.authorize(&t.authorize_url(&[])).await;
    assert_eq!(status, StatusCode::FOUND);
    t.stop().await;
}

#[tokio::test]
async fn deny_redirects_with_access_denied() {
    let t = spawn().await;
    let (status, q) = t
        .authorize(&t.authorize_url(&[("sandbox_auto", "deny")]))
        .await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(q["error"], "access_denied");
    assert!(!q["error_description"].is_empty());
    assert_eq!(q["state"], "st-1");
    assert!(!q.contains_key("code"));
    t.stop().await;
}

#[tokio::test]
async fn authorize_rejects_bad_requests_without_redirect() {
    let t = spawn().await;
    let base = format!("{}/v2/auth/authorize/", t.base);
    for query in [
        format!("client_key=nope&scope=user.info.basic&redirect_uri={REDIRECT}&response_type=code"),
        format!(
            "client_key={KEY}&scope=user.info.basic&redirect_uri={REDIRECT}&response_type=token"
        ),
        format!(
            "client_key={KEY}&scope=user.info.everything&redirect_uri={REDIRECT}&response_type=code"
        ),
        format!(
            "client_key={KEY}&scope=user.info.basic&redirect_uri=https://a.example/cb%23frag&response_type=code"
        ),
        format!(
            "client_key={KEY}&scope=user.info.basic&redirect_uri={REDIRECT}&response_type=code&code_challenge=abc&code_challenge_method=S256"
        ),
    ] {
        let resp = t.http.get(format!("{base}?{query}")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(resp.headers().get("location").is_none());
        assert!(resp.text().await.unwrap().contains("correct the following"));
    }
    t.stop().await;
}

#[tokio::test]
async fn consent_page_and_form_flow() {
    let t = spawn().await;
    let resp = t.http.get(t.authorize_url(&[])).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.starts_with("default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https://app.example.com"), "{csp}");
    let html = resp.text().await.unwrap();
    assert!(html.contains("demo_creator") && html.contains("name=\"granted_scope\""));
    assert!(!html.contains("<script"));

    // Approve as a new user with video.publish unticked.
    let form = [
        ("client_key", KEY),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "user.info.basic,user.info.profile,video.publish"),
        ("state", "st-2"),
        ("user", "__new__"),
        ("new_username", "bob"),
        ("new_display_name", "Bob B"),
        ("granted_scope", "user.info.basic"),
        ("granted_scope", "user.info.profile"),
        ("decision", "approve"),
    ];
    let resp = t
        .http
        .post(format!("{}/v2/auth/authorize/", t.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(q["scopes"], "user.info.basic,user.info.profile");
    assert_eq!(q["state"], "st-2");
    let (status, body) = t.exchange(&q["code"], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["scope"], "user.info.basic,user.info.profile");
    let bob = t.admin(Method::GET, "/users/bob", None).await;
    assert_eq!(bob["display_name"], "Bob B");
    assert_eq!(body["open_id"], bob["open_id"]);
    t.stop().await;
}

#[tokio::test]
async fn token_response_is_flat_as_documented() {
    let t = spawn().await;
    let tokens = t.login("alice").await;
    let b = &tokens.body;
    let mut keys: Vec<_> = b.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "access_token",
            "expires_in",
            "open_id",
            "refresh_expires_in",
            "refresh_token",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(b["expires_in"], 7200);
    assert_eq!(b["refresh_expires_in"], 15_552_000);
    assert_eq!(b["token_type"], "Bearer");
    assert!(tokens.access.starts_with("act.") && tokens.refresh.starts_with("rft."));
    t.stop().await;
}

#[tokio::test]
async fn code_is_single_use() {
    let t = spawn().await;
    let code = t.code("alice", &[]).await;
    assert_eq!(t.exchange(&code, None).await.0, StatusCode::OK);
    let (status, body) = t.exchange(&code, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["log_id"].as_str().is_some_and(|l| !l.is_empty()));
    t.stop().await;
}

#[tokio::test]
async fn code_expires() {
    let t = spawn_with(|c| c.code_ttl = std::time::Duration::ZERO).await;
    let code = t.code("alice", &[]).await;
    let (status, body) = t.exchange(&code, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    t.stop().await;
}

#[tokio::test]
async fn code_is_bound_to_redirect_uri() {
    let t = spawn().await;
    let code = t.code("alice", &[]).await;
    let (status, body) = t
        .token(&[
            ("client_key", KEY),
            ("client_secret", SECRET),
            ("code", &code),
            ("grant_type", "authorization_code"),
            ("redirect_uri", "https://app.example.com/other"),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    t.stop().await;
}

#[tokio::test]
async fn pkce_accepts_hex_and_base64url_and_checks_verifier() {
    let t = spawn().await;
    for challenge in [b64_challenge(), hex_challenge()] {
        let extra = [
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let code = t.code("alice", &extra).await;
        let (status, body) = t.exchange(&code, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request"))
        );
        let (status, body) = t
            .exchange(&code, Some("wrong-verifier-wrong-verifier-wrong-verifier"))
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
        let (status, _) = t.exchange(&code, Some(VERIFIER)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let stats = t.admin(Method::GET, "/stats", None).await;
    assert_eq!(stats["pkce_matches"], json!({"base64url": 1, "hex": 1}));

    // Enforcing one encoding rejects the other.
    t.admin(
        Method::PATCH,
        "/settings",
        Some(json!({"pkce_encoding": "hex"})),
    )
    .await;
    let b64 = b64_challenge();
    let code = t
        .code(
            "alice",
            &[("code_challenge", &b64), ("code_challenge_method", "S256")],
        )
        .await;
    assert_eq!(
        t.exchange(&code, Some(VERIFIER)).await.1["error"],
        "invalid_grant"
    );
    t.stop().await;
}

#[tokio::test]
async fn pkce_can_be_required() {
    let t = spawn_with(|c| c.require_pkce = true).await;
    let (status, _) = t
        .authorize(&t.authorize_url(&[("sandbox_auto", "approve")]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    t.stop().await;
}

#[tokio::test]
async fn wrong_client_credentials_are_invalid_client() {
    let t = spawn().await;
    let code = t.code("alice", &[]).await;
    for (key, secret) in [(KEY, "nope"), ("nope", SECRET)] {
        let (status, body) = t
            .token(&[
                ("client_key", key),
                ("client_secret", secret),
                ("code", &code),
                ("grant_type", "authorization_code"),
                ("redirect_uri", REDIRECT),
            ])
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "invalid_client");
    }
    // The code survived the failed attempts.
    assert_eq!(t.exchange(&code, None).await.0, StatusCode::OK);
    t.stop().await;
}

#[tokio::test]
async fn unsupported_grant_and_wrong_content_type() {
    let t = spawn().await;
    let (status, body) = t
        .token(&[
            ("client_key", KEY),
            ("client_secret", SECRET),
            ("grant_type", "password"),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
    let resp = t
        .http
        .post(format!("{}/v2/oauth/token/", t.base))
        .json(&json!({"client_key": KEY}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    t.stop().await;
}

#[tokio::test]
async fn refresh_rotates_and_old_refresh_token_dies() {
    let t = spawn().await;
    let first = t.login("alice").await;
    let refresh = |token: String| {
        let t = &t;
        async move {
            t.token(&[
                ("client_key", KEY),
                ("client_secret", SECRET),
                ("grant_type", "refresh_token"),
                ("refresh_token", &token),
            ])
            .await
        }
    };
    let (status, second) = refresh(first.refresh.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(second["refresh_token"], first.body["refresh_token"]);
    assert_ne!(second["access_token"], first.body["access_token"]);
    assert_eq!(second["open_id"], first.body["open_id"]);
    assert_eq!(second["scope"], first.body["scope"]);

    let (status, body) = refresh(first.refresh.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, _) = refresh(second["refresh_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(status, StatusCode::OK);
    t.stop().await;
}

#[tokio::test]
async fn revoke_kills_every_token_of_the_grant() {
    let t = spawn().await;
    let tokens = t.login("alice").await;
    let resp = t
        .http
        .post(format!("{}/v2/oauth/revoke/", t.base))
        .form(&[
            ("client_key", KEY),
            ("client_secret", SECRET),
            ("token", &tokens.access),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap(), json!({}));

    let (status, body) = t.get("/v2/user/info/?fields=open_id", &tokens.access).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("access_token_invalid"))
    );
    let (_, body) = t
        .token(&[
            ("client_key", KEY),
            ("client_secret", SECRET),
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.refresh),
        ])
        .await;
    assert_eq!(body["error"], "invalid_grant");
    let stats = t.admin(Method::GET, "/stats", None).await;
    assert_eq!(stats["revoked_tokens"], json!([tokens.access]));
    t.stop().await;
}

#[tokio::test]
async fn error_as_200_fault_mimics_tiktok() {
    let t = spawn().await;
    t.admin(
        Method::POST,
        "/faults",
        Some(json!({"path": "/v2/oauth/token/", "kind": "error_as_200"})),
    )
    .await;
    let (status, body) = t
        .token(&[
            ("client_key", KEY),
            ("client_secret", "bad"),
            ("grant_type", "refresh_token"),
        ])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["error"], "invalid_client");
    // One-shot: the next error has its normal status again.
    let (status, _) = t
        .token(&[
            ("client_key", KEY),
            ("client_secret", "bad"),
            ("grant_type", "refresh_token"),
        ])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    t.stop().await;
}
