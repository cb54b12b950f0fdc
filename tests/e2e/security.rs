//! Hostile input: forged tokens, other users' ids, CSRF, open redirects, hostile JSON and
//! titles, header injection, webhook forgery and replay, CORS, security headers, rate limits.
//! Every route list here is taken from the served OpenAPI document, so a new route is covered
//! (or the test says what it lacks) without editing a list by hand.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use postiqo_e2e::{TestApp, TestAppBuilder, TestUser};
use reqwest::Method;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// helpers

async fn problem(res: reqwest::Response) -> (u16, String, Value) {
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if status >= 400 {
        assert_eq!(ct, "application/problem+json", "{status} {body}");
    }
    let code = body["code"].as_str().unwrap_or_default().to_owned();
    (status, code, body)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The API's signing key as scripts/test configures it: (kid, raw secret).
fn jwt_key() -> (String, Vec<u8>) {
    let keys = std::env::var("POSTIQO_JWT_KEYS").unwrap();
    let (kid, secret) = keys.split(',').next().unwrap().split_once(':').unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(secret)
        .unwrap();
    (kid.to_owned(), raw)
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha384(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha384>::new_from_slice(key).unwrap();
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha512(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key).unwrap();
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

/// A JWT from parts, signed by `sign` over `header.payload` (nothing signs: empty signature).
/// A signing function over the JWT's `header.payload` bytes.
type Signer<'a> = &'a dyn Fn(&[u8]) -> Vec<u8>;

fn jwt(header: &Value, claims: &Value, sign: Option<Signer>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = sign.map(|f| b64(&f(input.as_bytes()))).unwrap_or_default();
    format!("{input}.{sig}")
}

/// Claims exactly like the API's own for `user`, valid now.
fn good_claims(app: &TestApp, user: &TestUser) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": app.base_url, "aud": "postiqo-api", "sub": user.id, "sid": user.session_id,
        "iat": now, "nbf": now, "exp": now + 600,
    })
}

fn hmac_key(key: &[u8]) -> impl Fn(&[u8]) -> Vec<u8> + '_ {
    move |m| hmac_sha256(key, m)
}

fn hmac_sha256_hex(key: &str, msg: &str) -> String {
    hex::encode(hmac_sha256(key.as_bytes(), msg.as_bytes()))
}

fn public() -> Value {
    json!({"privacy_level": "PUBLIC_TO_EVERYONE", "disable_comment": false, "disable_duet": false,
           "disable_stitch": false, "brand_content_toggle": false, "brand_organic_toggle": false, "is_aigc": false})
}

async fn served_document(app: &TestApp) -> Value {
    app.http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `(method, path template, operation)` of every documented operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                out.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// A well-formed body (and extra headers) for the operations that need one, so a refusal is
/// about who asks, never about what was sent.
/// A request body and extra headers.
type Template = (Option<Value>, Vec<(&'static str, String)>);

fn valid_request(method: &str, path: &str) -> Option<Template> {
    let none = Vec::new;
    Some(match (method, path) {
        ("GET" | "DELETE", _) => (None, none()),
        ("PATCH", "/v1/videos/{id}") => (Some(json!({"title": "mine now"})), none()),
        ("PATCH", "/v1/videos/{id}/schedule") => (
            Some(
                json!({"scheduled_at": (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339()}),
            ),
            none(),
        ),
        ("POST", "/v1/videos") => (
            Some(json!({"title": "t", "content_type": "video/mp4", "size_bytes": 10})),
            none(),
        ),
        ("POST", "/v1/videos/{id}/upload-complete") => (Some(json!({})), none()),
        ("POST", "/v1/videos/{id}/upload-parts") => (Some(json!({"part_numbers": [1]})), none()),
        ("POST", "/v1/videos/{id}/upload-url") => (None, none()),
        ("POST", "/v1/videos/{id}/publish") => (
            Some(public()),
            vec![("idempotency-key", uuid::Uuid::new_v4().to_string())],
        ),
        ("POST", "/v1/videos/{id}/publish/cancel") => (None, none()),
        ("POST", "/v1/auth/logout" | "/v1/auth/tiktok/disconnect" | "/v1/me/sync") => {
            (None, none())
        }
        ("POST", "/v1/auth/refresh") => (None, none()),
        _ => return None,
    })
}

/// Sends `method path` with `client`; `prepare` adds credentials and headers.
async fn send(
    app: &TestApp,
    client: &reqwest::Client,
    method: &str,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, String)],
    prepare: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> reqwest::Response {
    let mut req = client.request(
        Method::from_bytes(method.as_bytes()).unwrap(),
        app.url(path),
    );
    if let Some(b) = body {
        req = req.json(b);
    }
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    prepare(req).send().await.unwrap()
}

/// One HTTP/1.1 exchange over a plain socket, for bytes reqwest refuses to send.
async fn raw_http(addr: &str, request: Vec<u8>) -> String {
    let addr = addr.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // The server may answer and close before reading everything (a 431, a 413).
        let _ = s.write_all(&request);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap()
}

fn header_lines<'a>(raw: &'a str, name: &str) -> Vec<&'a str> {
    let head = raw.split("\r\n\r\n").next().unwrap_or_default();
    head.lines()
        .skip(1)
        .filter(|l| {
            l.split_once(':')
                .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// tokens

#[tokio::test]
async fn forged_access_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let other = app.new_user().await;
    let (kid, secret) = jwt_key();
    let good = good_claims(&app, &user);
    let hs256 = json!({"alg": "HS256", "typ": "JWT", "kid": kid});
    let with = |changes: Value| {
        let mut c = good.clone();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let now = chrono::Utc::now().timestamp();
    let real = hmac_key(&secret);
    let wrong_secret = b"0123456789abcdef0123456789abcdef".to_vec();
    let wrong = hmac_key(&wrong_secret);
    // The configured secret's base64 text used as the key: a classic slip when copying keys.
    let b64_text = std::env::var("POSTIQO_JWT_KEYS").unwrap();
    let b64_text = b64_text
        .split(',')
        .next()
        .unwrap()
        .split_once(':')
        .unwrap()
        .1
        .as_bytes()
        .to_vec();
    let as_text = hmac_key(&b64_text);
    let sha384 = |m: &[u8]| hmac_sha384(&secret, m);
    let sha512 = |m: &[u8]| hmac_sha512(&secret, m);
    let valid = jwt(&hs256, &good, Some(&real));
    let (valid_head, _) = valid.rsplit_once('.').unwrap();
    let other_valid = jwt(&hs256, &good_claims(&app, &other), Some(&real));
    let other_payload = other_valid.split('.').nth(1).unwrap();

    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            jwt(
                &json!({"alg": "none", "typ": "JWT", "kid": kid}),
                &good,
                None,
            ),
        ),
        (
            "alg None",
            jwt(&json!({"alg": "None", "kid": kid}), &good, None),
        ),
        (
            "alg NONE",
            jwt(&json!({"alg": "NONE", "kid": kid}), &good, None),
        ),
        (
            "alg none keeping a real signature",
            format!(
                "{}.{}.{}",
                b64(json!({"alg": "none", "kid": kid}).to_string().as_bytes()),
                valid.split('.').nth(1).unwrap(),
                valid.split('.').nth(2).unwrap()
            ),
        ),
        // HS/RS confusion: an asymmetric alg in the header, signed with our HMAC secret (what
        // a server that trusts the header's alg would verify with the "public key" bytes).
        (
            "RS256 header, HMAC signature",
            jwt(&json!({"alg": "RS256", "kid": kid}), &good, Some(&real)),
        ),
        (
            "ES256 header, HMAC signature",
            jwt(&json!({"alg": "ES256", "kid": kid}), &good, Some(&real)),
        ),
        (
            "PS256 header, HMAC signature",
            jwt(&json!({"alg": "PS256", "kid": kid}), &good, Some(&real)),
        ),
        (
            "RS256 header, no signature",
            jwt(&json!({"alg": "RS256", "kid": kid}), &good, None),
        ),
        (
            "HS384 with the real key",
            jwt(&json!({"alg": "HS384", "kid": kid}), &good, Some(&sha384)),
        ),
        (
            "HS512 with the real key",
            jwt(&json!({"alg": "HS512", "kid": kid}), &good, Some(&sha512)),
        ),
        ("wrong key, right kid", jwt(&hs256, &good, Some(&wrong))),
        (
            "key's base64 text as the key",
            jwt(&hs256, &good, Some(&as_text)),
        ),
        (
            "unknown kid",
            jwt(
                &json!({"alg": "HS256", "kid": "attacker"}),
                &good,
                Some(&real),
            ),
        ),
        ("no kid", jwt(&json!({"alg": "HS256"}), &good, Some(&real))),
        (
            "path-like kid, empty key",
            jwt(
                &json!({"alg": "HS256", "kid": "../../../../dev/null"}),
                &good,
                Some(&hmac_key(b"")),
            ),
        ),
        (
            "embedded jwk",
            jwt(
                &json!({"alg": "HS256", "kid": kid, "jwk": {"kty": "oct", "k": b64(&wrong_secret)}}),
                &good,
                Some(&wrong),
            ),
        ),
        (
            "wrong issuer",
            jwt(
                &hs256,
                &with(json!({"iss": "https://evil.example"})),
                Some(&real),
            ),
        ),
        (
            "issuer with a trailing slash",
            jwt(
                &hs256,
                &with(json!({"iss": format!("{}/", app.base_url)})),
                Some(&real),
            ),
        ),
        (
            "audience list without ours",
            jwt(
                &hs256,
                &with(json!({"aud": ["other", "another"]})),
                Some(&real),
            ),
        ),
        (
            "expired past the leeway",
            jwt(&hs256, &with(json!({"exp": now - 60})), Some(&real)),
        ),
        (
            "not yet valid",
            jwt(&hs256, &with(json!({"nbf": now + 300})), Some(&real)),
        ),
        (
            "no exp",
            jwt(&hs256, &with(json!({"exp": null})), Some(&real)),
        ),
        (
            "no nbf",
            jwt(&hs256, &with(json!({"nbf": null})), Some(&real)),
        ),
        (
            "no iss",
            jwt(&hs256, &with(json!({"iss": null})), Some(&real)),
        ),
        (
            "no aud",
            jwt(&hs256, &with(json!({"aud": null})), Some(&real)),
        ),
        (
            "no sid",
            jwt(&hs256, &with(json!({"sid": null})), Some(&real)),
        ),
        (
            "exp as a string",
            jwt(
                &hs256,
                &with(json!({"exp": (now + 600).to_string()})),
                Some(&real),
            ),
        ),
        ("truncated signature", valid[..valid.len() - 3].to_owned()),
        ("no signature", format!("{valid_head}.")),
        ("two segments", valid_head.to_owned()),
        ("header only", valid.split('.').next().unwrap().to_owned()),
        ("extra segment", format!("{valid}.{}", b64(b"x"))),
        ("payload swapped under a valid signature", {
            let mut parts: Vec<&str> = valid.split('.').collect();
            parts[1] = other_payload;
            parts.join(".")
        }),
        ("empty", String::new()),
        ("whitespace inside", valid.replacen('.', ". ", 1)),
        ("oversized", format!("{}{}", valid, "A".repeat(6000))),
    ];
    for (name, token) in &cases {
        let res = app
            .http
            .get(app.url("/v1/me"))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            Some("Bearer"),
            "{name}"
        );
        let (status, code, body) = problem(res).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert!(
            code == "invalid_token" || (token.is_empty() && code == "unauthenticated"),
            "{name}: {code}"
        );
        if !token.is_empty() {
            assert!(
                !body.to_string().contains(token.as_str()),
                "{name}: token echoed"
            );
        }
    }

    // The same forgeries as the SPA's cookie are refused too.
    for (name, token) in cases.iter().take(6) {
        let res = app
            .http
            .get(app.url("/v1/me"))
            .header("cookie", format!("postiqo_access={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "cookie: {name}");
    }

    // A signature that is right, on a session that is someone else's, opens nothing: the
    // session is looked up under the token's own user.
    let crossed = jwt(&hs256, &with(json!({"sid": other.session_id})), Some(&real));
    let res = app
        .http
        .get(app.url("/v1/me"))
        .bearer_auth(&crossed)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await.1, "session_ended");

    // The genuine token still works: nothing above disturbed the session.
    let res = app
        .http
        .get(app.url("/v1/me"))
        .bearer_auth(&valid)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// other users' ids

#[tokio::test]
async fn another_users_ids_are_404_on_every_route() {
    let app = TestAppBuilder::new()
        .env("SANDBOX_WEBHOOK_URL", "")
        .spawn()
        .await;
    let alice = app.new_user().await;
    let bob = app.new_user().await;
    let uploaded = app.uploaded_video(&alice, 4096).await;
    let pending = app
        .create_video_ok(&alice, "alice pending", "video/mp4", 100)
        .await["video"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Bob has videos of his own, so a 404 cannot come from an empty account.
    let bobs = app.uploaded_video(&bob, 4096).await;
    let before: Vec<Value> =
        futures_util::future::join_all([&uploaded, &pending].map(|id| async {
            app.get_video(&alice, id)
                .await
                .json::<Value>()
                .await
                .unwrap()
        }))
        .await;

    let doc = served_document(&app).await;
    let mut tried = 0;
    for (method, path, _) in operations(&doc) {
        if !path.contains("{id}") {
            continue;
        }
        let mut answers = Vec::new();
        for id in [
            uploaded.as_str(),
            pending.as_str(),
            // A well-formed id nobody has: the answer must be the same, or it would tell
            // whether an id exists.
            "01a21650-0000-7000-8000-000000000000",
        ] {
            // Fresh per request: an Idempotency-Key is bound to the request it came with.
            let (body, headers) = valid_request(&method, &path)
                .unwrap_or_else(|| panic!("no request template for {method} {path}: add one"));
            let res = send(
                &app,
                &app.http,
                &method,
                &path.replace("{id}", id),
                body.as_ref(),
                &headers,
                |r| r.bearer_auth(&bob.token),
            )
            .await;
            let (status, code, mut body) = problem(res).await;
            assert_eq!(
                (status, code.as_str()),
                (404, "video_not_found"),
                "{method} {path} {id}: {body}"
            );
            body.as_object_mut().unwrap().remove("request_id");
            answers.push(body);
            tried += 1;
        }
        assert!(
            answers.windows(2).all(|w| w[0] == w[1]),
            "{method} {path}: {answers:?}"
        );
    }
    assert!(tried >= 24, "every id route tried ({tried})");

    // Listing with a cursor made from Alice's page shows Bob only his own videos.
    let page: Value = app
        .http
        .get(app.url("/v1/videos?limit=1"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cursor = page["next_cursor"].as_str().unwrap();
    let list: Value = app
        .http
        .get(app.url(&format!("/v1/videos?cursor={cursor}")))
        .bearer_auth(&bob.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for item in list["items"].as_array().unwrap() {
        assert_eq!(item["id"], bobs.as_str(), "only Bob's videos: {list}");
    }
    let export = app
        .http
        .get(app.url("/v1/me/export"))
        .bearer_auth(&bob.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!export.contains(&uploaded) && !export.contains(&pending));

    // Nothing of Alice's changed, and TikTok never heard of her video.
    let after: Vec<Value> = futures_util::future::join_all([&uploaded, &pending].map(|id| async {
        app.get_video(&alice, id)
            .await
            .json::<Value>()
            .await
            .unwrap()
    }))
    .await;
    assert_eq!(before, after);
    let stats = app.sandbox(Method::GET, "/stats", None).await;
    assert!(
        stats["inits_by_open_id"].as_object().unwrap().is_empty(),
        "no publish reached TikTok: {}",
        stats["inits_by_open_id"]
    );
}

// ---------------------------------------------------------------------------------------------
// CSRF

#[tokio::test]
async fn every_unsafe_cookie_request_needs_the_csrf_token_and_an_allowed_origin() {
    let app = TestApp::spawn().await;
    let (browser, csrf) = app.sign_in_browser("csrf_victim").await;
    let (_, other_csrf) = app.sign_in_browser("csrf_attacker").await;
    let created: Value = browser
        .post(app.url("/v1/videos"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"title": "keep me", "content_type": "video/mp4", "size_bytes": 10}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["video"]["id"].as_str().unwrap().to_owned();

    let doc = served_document(&app).await;
    let mut unsafe_routes: Vec<(String, String)> = operations(&doc)
        .into_iter()
        .filter(|(m, _, op)| m != "GET" && op.get("security").is_some())
        .map(|(m, p, _)| (m, p))
        .collect();
    // Refresh authenticates by its own cookie (no access token), with the same rule.
    unsafe_routes.push(("POST".into(), "/v1/auth/refresh".into()));
    assert!(unsafe_routes.len() >= 13, "{unsafe_routes:?}");

    let attempts: [(&str, Option<String>, Option<&str>); 4] = [
        ("no token", None, None),
        ("forged token", Some("forged".into()), None),
        ("another session's token", Some(other_csrf.clone()), None),
        (
            "right token, foreign Origin",
            Some(csrf.clone()),
            Some("https://evil.example"),
        ),
    ];
    let mut refused = 0;
    for (method, path) in &unsafe_routes {
        let (body, headers) = valid_request(method, path)
            .unwrap_or_else(|| panic!("no request template for {method} {path}: add one"));
        let path = path.replace("{id}", &id);
        for (name, token, origin) in &attempts {
            let mut h = headers.clone();
            if let Some(t) = token {
                h.push(("x-csrf-token", t.clone()));
            }
            if let Some(o) = origin {
                h.push(("origin", (*o).to_owned()));
            }
            let res = send(&app, &browser, method, &path, body.as_ref(), &h, |r| r).await;
            let (status, code, body) = problem(res).await;
            assert_eq!(
                (status, code.as_str()),
                (403, "csrf_failed"),
                "{method} {path} ({name}): {body}"
            );
            refused += 1;
        }
    }
    assert_eq!(refused, unsafe_routes.len() * attempts.len());

    // Nothing happened: same session, same video, same title.
    let me = browser.get(app.url("/v1/me")).send().await.unwrap();
    assert_eq!(me.status(), 200, "the session survived");
    let video: Value = browser
        .get(app.url(&format!("/v1/videos/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(video["title"], "keep me");
    // Reads need no token (they change nothing), and the right token still works.
    let res = browser
        .patch(app.url(&format!("/v1/videos/{id}")))
        .header("x-csrf-token", &csrf)
        .header("origin", app.origin())
        .json(&json!({"title": "changed by its owner"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// open redirects

#[tokio::test]
async fn return_to_never_leads_off_an_allowed_origin() {
    // Many sign-ins from one address in a few seconds: lift the limiter for this one.
    let app = TestAppBuilder::new()
        .env("POSTIQO_RATE_LIMIT_SIGNIN_PER_MIN", "10000")
        .spawn()
        .await;
    let origin = app.origin(); // e.g. http://localhost:5173
    let host = origin.split("://").nth(1).unwrap().to_owned();
    let allowed: Vec<String> = std::env::var("POSTIQO_ALLOWED_ORIGINS")
        .unwrap()
        .split(',')
        .map(|o| o.trim().to_owned())
        .collect();
    let candidates = vec![
        format!("{origin}/app"),
        format!("{origin}"),
        format!("https://{host}/app"),
        format!("http://{host}.evil.example/"),
        format!("http://{host}@evil.example/"),
        format!("http://evil.example@{host}/"),
        format!("http://{host}\\@evil.example/"),
        format!("http://{host}%2f%2fevil.example/"),
        format!("http://{host}%40evil.example/"),
        format!("{origin}/%0d%0aSet-Cookie:%20x=y"),
        format!("{origin}/\r\nSet-Cookie: x=y"),
        format!("{origin}/#@evil.example"),
        format!("{origin}:80/"),
        format!("{origin}0/"),
        format!(" {origin}/"),
        format!("{}/", origin.to_uppercase()),
        "//evil.example/".to_owned(),
        "///evil.example/".to_owned(),
        "\\\\evil.example/".to_owned(),
        "http:/evil.example/".to_owned(),
        "http:\\\\evil.example/".to_owned(),
        "https://evil.example/".to_owned(),
        "data:text/html,<script>alert(1)</script>".to_owned(),
        "javascript://%0aalert(1)".to_owned(),
        "http://xn--e1afmkfd.xn--p1ai/".to_owned(),
        "http://localhost.evil.example/".to_owned(),
        "http://[::1]:5173/".to_owned(),
        "http://127.0.0.1:5173/".replace("5173", "1"),
        String::new(),
    ];
    let mut redirected = 0;
    for candidate in &candidates {
        let browser = app.browser();
        let res = browser
            .get(app.url("/v1/auth/tiktok/login"))
            .query(&[("return_to", candidate)])
            .send()
            .await
            .unwrap();
        if res.status() != 302 {
            let (status, code, _) = problem(res).await;
            assert_eq!(
                (status, code.as_str()),
                (400, "invalid_return_to"),
                "{candidate:?}"
            );
            continue;
        }
        // Accepted: TikTok is the next hop, and wherever the flow ends (here: a denied consent),
        // the browser lands on an allowed origin, on a Location that is one clean URL.
        let to_tiktok = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            to_tiktok.starts_with(&app.sandbox_url),
            "{candidate:?} → {to_tiktok}"
        );
        let consent = browser
            .get(format!(
                "{to_tiktok}&sandbox_auto=deny&sandbox_user=redirected"
            ))
            .send()
            .await
            .unwrap();
        let callback = consent.headers()["location"].to_str().unwrap().to_owned();
        let back = browser.get(&callback).send().await.unwrap();
        assert_eq!(back.status(), 302, "{candidate:?}");
        let location = back.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            !location.contains(['\r', '\n']),
            "{candidate:?} → {location:?}"
        );
        let url = reqwest::Url::parse(&location).unwrap();
        let landed = url.origin().ascii_serialization();
        assert!(allowed.contains(&landed), "{candidate:?} → {location}");
        assert!(
            url.username().is_empty() && url.password().is_none(),
            "{location}"
        );
        for cookie in back.headers().get_all("set-cookie") {
            assert!(!cookie.to_str().unwrap().starts_with("x="), "{candidate:?}");
        }
        redirected += 1;
    }
    assert!(redirected >= 2, "the allowed forms still work");
}

// ---------------------------------------------------------------------------------------------
// hostile bodies

#[tokio::test]
async fn oversized_and_deeply_nested_json_is_refused_quickly() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let id = app.create_video_ok(&user, "nested", "video/mp4", 100).await["video"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deep_arrays = format!(
        "{{\"title\": {}{}, \"content_type\": \"video/mp4\", \"size_bytes\": 10}}",
        "[".repeat(30_000),
        "]".repeat(30_000)
    );
    let deep_objects = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let secret = std::env::var("POSTIQO_TIKTOK_CLIENT_SECRET").unwrap();
    // Typed bodies refuse nesting at the first level that has the wrong type (422); where a
    // parser does descend, serde_json's recursion limit ends it (400). Either is quick.
    let bodies: Vec<(&str, String, &str, Vec<u16>)> = vec![
        ("create: never closed", "[".repeat(60_000), "/v1/videos", vec![400, 422]),
        ("create: nested arrays", deep_arrays.clone(), "/v1/videos", vec![400, 422]),
        ("create: nested objects", deep_objects.clone(), "/v1/videos", vec![400, 422]),
        ("create: 60 KB title", json!({"title": "a".repeat(60_000), "content_type": "video/mp4", "size_bytes": 10}).to_string(), "/v1/videos", vec![422]),
        ("create: 1e400", r#"{"title": "t", "content_type": "video/mp4", "size_bytes": 1e400}"#.into(), "/v1/videos", vec![400, 422]),
        ("create: 2^64", r#"{"title": "t", "content_type": "video/mp4", "size_bytes": 18446744073709551616}"#.into(), "/v1/videos", vec![422]),
        ("create: negative", r#"{"title": "t", "content_type": "video/mp4", "size_bytes": -1}"#.into(), "/v1/videos", vec![422]),
        ("create: duplicate keys", r#"{"title": "a", "title": "b", "content_type": "video/mp4", "size_bytes": 10}"#.into(), "/v1/videos", vec![422]),
        ("create: a JSON string", "\"x\"".into(), "/v1/videos", vec![422]),
        ("complete: nested", deep_arrays.clone(), "/v1/videos/{id}/upload-complete", vec![400, 422]),
        ("complete: 9000 parts", json!({"parts": (1..=9000).map(|n| json!({"part_number": n, "etag": "\"e\""})).collect::<Vec<_>>()}).to_string(), "/v1/videos/{id}/upload-complete", vec![413]),
        ("refresh: nested", deep_objects.clone(), "/v1/auth/refresh", vec![400, 422]),
        ("token: nested", deep_objects.clone(), "/v1/auth/token", vec![400, 422]),
        ("parts: nested", deep_arrays.clone(), "/v1/videos/{id}/upload-parts", vec![400, 422]),
    ];
    for (name, body, path, statuses) in bodies {
        let started = Instant::now();
        let res = app
            .http
            .post(app.url(&path.replace("{id}", &id)))
            .bearer_auth(&user.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, code, problem_body) = problem(res).await;
        assert!(
            statuses.contains(&status),
            "{name}: {status} {problem_body}"
        );
        assert!(!code.is_empty(), "{name}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{name} answered quickly"
        );
        assert!(
            problem_body.to_string().len() < 2000,
            "{name}: nothing echoed at length"
        );
    }

    // A signed webhook is parsed after its signature: hostile JSON behind a valid one is
    // acknowledged and ignored, never a crash or a 5xx.
    for body in [
        deep_arrays.as_str(),
        deep_objects.as_str(),
        "\u{feff}{}",
        "{\"event\": 1e400}",
    ] {
        let t = chrono::Utc::now().timestamp();
        let res = app
            .http
            .post(app.url("/v1/webhooks/tiktok"))
            .header(
                "tiktok-signature",
                format!(
                    "t={t},s={}",
                    hmac_sha256_hex(&secret, &format!("{t}.{body}"))
                ),
            )
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    // Bytes that are not UTF-8, signed.
    let t = chrono::Utc::now().timestamp();
    let mut raw = format!("{t}.").into_bytes();
    raw.extend_from_slice(b"{\"event\": \"\xff\xfe\"}");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&raw);
    let sig = hex::encode(mac.finalize().into_bytes());
    let res = app
        .http
        .post(app.url("/v1/webhooks/tiktok"))
        .header("tiktok-signature", format!("t={t},s={sig}"))
        .header("content-type", "application/json")
        .body(b"{\"event\": \"\xff\xfe\"}".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Too large, announced or not (chunked): refused before it is read.
    let chunks =
        futures_util::stream::iter((0..64).map(|_| Ok::<_, std::io::Error>(vec![b' '; 16 * 1024])));
    let res = app
        .http
        .post(app.url("/v1/videos"))
        .bearer_auth(&user.token)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res).await.1, "payload_too_large");
    let raw = raw_http(
        &app.base_url,
        format!(
            "POST /v1/videos HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 10737418240\r\nConnection: close\r\n\r\n{{}}",
            user.token
        )
        .into_bytes(),
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");

    // Request headers far beyond any sane size are refused by the HTTP layer (431, before
    // anything of ours runs), and the server carries on.
    for size in [200_000, 2_000_000] {
        let mut req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ".to_vec();
        req.extend(std::iter::repeat_n(b'a', size));
        req.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
        let raw = raw_http(&app.base_url, req).await;
        assert!(
            raw.is_empty() || raw.starts_with("HTTP/1.1 431"),
            "{size}: {}",
            &raw[..raw.len().min(200)]
        );
    }
    let res = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200, "still serving");
}

#[tokio::test]
async fn titles_keep_every_legitimate_character_and_refuse_controls() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let kept = [
        ("right-to-left override", "abc\u{202E}fdp.exe\u{202C}"),
        (
            "isolates",
            "\u{2066}left\u{2069} \u{2067}right\u{2069} \u{2068}first\u{2069}",
        ),
        ("marks", "\u{200E}\u{200F}\u{061C}"),
        ("Arabic and Hebrew", "مرحبا שלום"),
        (
            "zero-width joiner family",
            "👨\u{200D}👩\u{200D}👧\u{200D}👦",
        ),
        ("combining marks", "e\u{0301}\u{0302}\u{0303}"),
        ("BOM and separators", "\u{FEFF}a\u{2028}b\u{2029}c"),
        ("line breaks and tabs", "line one\nline two\r\n\tindented"),
        ("HTML", "<script>alert(1)</script>&amp;"),
        ("JSON-looking", "\",\"status\":\"PUBLISHED"),
        ("noncharacters", "\u{FFFE}\u{FFFF}\u{10FFFF}"),
        (
            "exactly 2200 units: 2198 + a surrogate pair",
            &*format!("{}😀", "a".repeat(2198)),
        ),
        (
            "exactly 2200 units of combining pairs",
            &*"e\u{0301}".repeat(1100),
        ),
        ("exactly 2200 precomposed", &*"é".repeat(2200)),
    ];
    for (name, title) in kept {
        let created = app.create_video(&user, title, "video/mp4", 10).await;
        assert_eq!(created.status(), 201, "{name}");
        let id = created.json::<Value>().await.unwrap()["video"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let read: Value = app.get_video(&user, &id).await.json().await.unwrap();
        assert_eq!(
            read["title"], title,
            "{name}: stored and returned byte for byte"
        );
        // And the same through an edit.
        let patched = app
            .http
            .patch(app.url(&format!("/v1/videos/{id}")))
            .bearer_auth(&user.token)
            .json(&json!({"title": format!("{title}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(patched.status(), 200, "{name}");
    }

    let refused = [
        ("NUL in the middle", "a\u{0}b".to_owned()),
        ("escape", "\u{1B}[31mred".to_owned()),
        ("bell", "\u{7}".to_owned()),
        ("delete", "\u{7F}".to_owned()),
        ("C1 next line", "a\u{85}b".to_owned()),
        ("C1 CSI", "\u{9B}31m".to_owned()),
        ("vertical tab", "a\u{B}b".to_owned()),
        (
            "2201 units: 2199 + a surrogate pair (2200 characters)",
            format!("{}😀", "a".repeat(2199)),
        ),
        (
            "2201 combining units",
            format!("{}a", "e\u{0301}".repeat(1100)),
        ),
        ("2201 precomposed", "é".repeat(2201)),
    ];
    let id = app.create_video_ok(&user, "to edit", "video/mp4", 10).await["video"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (name, title) in &refused {
        let res = app.create_video(&user, title, "video/mp4", 10).await;
        let (status, code, body) = problem(res).await;
        assert_eq!(
            (status, code.as_str()),
            (422, "validation_failed"),
            "{name}: {body}"
        );
        assert_eq!(body["errors"][0]["field"], "title", "{name}");
        let res = app
            .http
            .patch(app.url(&format!("/v1/videos/{id}")))
            .bearer_auth(&user.token)
            .json(&json!({"title": title}))
            .send()
            .await
            .unwrap();
        assert_eq!(problem(res).await.0, 422, "edit: {name}");
    }

    // Text JSON cannot carry: lone surrogates and bytes that are not UTF-8.
    for raw in [
        br#"{"title": "\ud800", "content_type": "video/mp4", "size_bytes": 10}"#.to_vec(),
        br#"{"title": "\udc00x", "content_type": "video/mp4", "size_bytes": 10}"#.to_vec(),
        b"{\"title\": \"\xff\xfe\", \"content_type\": \"video/mp4\", \"size_bytes\": 10}".to_vec(),
        b"{\"title\": \"\xc0\xaf\", \"content_type\": \"video/mp4\", \"size_bytes\": 10}".to_vec(),
    ] {
        let res = app
            .http
            .post(app.url("/v1/videos"))
            .bearer_auth(&user.token)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        let (status, code, _) = problem(res).await;
        assert_eq!((status, code.as_str()), (400, "malformed_json"));
    }
    let still: Value = app.get_video(&user, &id).await.json().await.unwrap();
    assert_eq!(still["title"], "to edit");
}

// ---------------------------------------------------------------------------------------------
// header injection

#[tokio::test]
async fn request_ids_cannot_inject_headers_or_log_lines() {
    let app = TestApp::spawn().await;
    let request = |id_lines: &str| {
        format!("GET /v1/nothing-here HTTP/1.1\r\nHost: x\r\n{id_lines}Connection: close\r\n\r\n")
            .into_bytes()
    };
    let long_ok = "a".repeat(128);
    let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        (
            "kept when sane",
            request("X-Request-Id: trace-1.2:3_4\r\n"),
            Some("trace-1.2:3_4"),
        ),
        (
            "128 characters kept",
            request(&format!("X-Request-Id: {long_ok}\r\n")),
            Some(long_ok.as_str()),
        ),
        (
            "129 characters",
            request(&format!("X-Request-Id: {}\r\n", "a".repeat(129))),
            None,
        ),
        (
            "percent-encoded CRLF",
            request("X-Request-Id: a%0d%0aSet-Cookie:%20x=y\r\n"),
            None,
        ),
        (
            "JSON breaking",
            request("X-Request-Id: a\",\"level\":\"ERROR\r\n"),
            None,
        ),
        ("spaces and tabs", request("X-Request-Id: a b\tc\r\n"), None),
        (
            "two of them",
            request("X-Request-Id: first\r\nX-Request-Id: second\r\n"),
            Some("first"),
        ),
        ("empty", request("X-Request-Id: \r\n"), None),
        (
            "obs-text bytes",
            {
                let mut r = b"GET /v1/nothing-here HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\xff\xfe\x80b\r\nConnection: close\r\n\r\n".to_vec();
                r.shrink_to_fit();
                r
            },
            None,
        ),
    ];
    for (name, req, expect) in cases {
        let raw = raw_http(&app.base_url, req).await;
        assert!(raw.starts_with("HTTP/1.1 404"), "{name}: {raw}");
        let ids = header_lines(&raw, "x-request-id");
        assert_eq!(ids.len(), 1, "{name}: exactly one id: {raw}");
        let id = ids[0].split_once(':').unwrap().1.trim();
        match expect {
            Some(e) => assert_eq!(id, e, "{name}"),
            None => assert!(
                id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
                "{name}: replaced by our own id, got {id:?}"
            ),
        }
        assert!(header_lines(&raw, "set-cookie").is_empty(), "{name}: {raw}");
        let body = raw.split("\r\n\r\n").nth(1).unwrap_or_default();
        assert!(
            body.contains(&format!("\"request_id\":\"{id}\"")),
            "{name}: {body}"
        );
    }

    // Raw CR or LF inside a value ends the header for the HTTP parser: either the request is
    // refused or the rest is a separate request header; it is never echoed as a response header.
    for smuggled in [
        b"X-Request-Id: a\rSet-Cookie: x=y\r\n".to_vec(),
        b"X-Request-Id: a\nSet-Cookie: x=y\r\n".to_vec(),
        b"X-Request-Id: a\r\n Set-Cookie: x=y\r\n".to_vec(),
        b"X-Request-Id: a\0b\r\n".to_vec(),
    ] {
        let mut req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n".to_vec();
        req.extend_from_slice(&smuggled);
        req.extend_from_slice(b"Connection: close\r\n\r\n");
        let raw = raw_http(&app.base_url, req).await;
        assert!(
            raw.starts_with("HTTP/1.1 400") || raw.starts_with("HTTP/1.1 200") || raw.is_empty(),
            "{raw}"
        );
        assert!(header_lines(&raw, "set-cookie").is_empty(), "{raw}");
        for id in header_lines(&raw, "x-request-id") {
            let id = id.split_once(':').unwrap().1.trim();
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)),
                "{id:?}"
            );
        }
    }

    // Every access line is still one JSON object, with an id that came through the filter.
    let lines = app.process.lines_after("\"target\":\"access\"", 9);
    let access: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("\"target\":\"access\""))
        .collect();
    assert!(access.len() >= 9, "{}", access.len());
    for line in access {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let id = v["span"]["request_id"].as_str().unwrap();
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)),
            "{line}"
        );
        assert_ne!(v["level"], "ERROR", "{line}");
    }
    let res = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// webhooks

#[tokio::test]
async fn forged_or_replayed_webhooks_change_nothing() {
    let app = TestAppBuilder::new()
        .env("SANDBOX_WEBHOOK_URL", "")
        .env("POSTIQO_WEBHOOK_TOLERANCE_SECS", "2")
        .spawn()
        .await;
    let user = app.new_user().await;
    let me: Value = app
        .http
        .get(app.url("/v1/me"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let open_id = me["open_id"].as_str().unwrap().to_owned();
    let id = app.uploaded_video(&user, 4096).await;
    let res = app.publish(&user, &id, "k1", public()).await;
    assert_eq!(res.status(), 202);
    let publish_id = res.json::<Value>().await.unwrap()["tiktok"]["publish_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_status(&user, &id, "PUBLISHED", 60).await;

    let secret = std::env::var("POSTIQO_TIKTOK_CLIENT_SECRET").unwrap();
    let key = std::env::var("POSTIQO_TIKTOK_CLIENT_KEY").unwrap();
    let event = |name: &str, content: Value| {
        json!({
            "client_key": key, "event": name, "create_time": chrono::Utc::now().timestamp(),
            "user_openid": open_id, "content": content.to_string(),
        })
        .to_string()
    };
    let failed = event(
        "post.publish.failed",
        json!({"publish_id": publish_id, "reason": "internal", "publish_type": "DIRECT_POST"}),
    );
    let removed = event("authorization.removed", json!({"reason": 1}));
    let sign = |t: &str, body: &str, key: &str| {
        format!("t={t},s={}", hmac_sha256_hex(key, &format!("{t}.{body}")))
    };
    let post = |sig: String, body: String| {
        let app = &app;
        async move {
            app.http
                .post(app.url("/v1/webhooks/tiktok"))
                .header("tiktok-signature", sig)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let now = || chrono::Utc::now().timestamp().to_string();
    let future = (chrono::Utc::now().timestamp() + 3600).to_string();
    let good_for_failed = sign(&now(), &failed, &secret);
    let forgeries: Vec<(&str, String, String)> = vec![
        (
            "body changed after signing",
            sign(&now(), &failed, &secret),
            failed.replace("internal", "auth_removed"),
        ),
        (
            "signed for another body",
            good_for_failed.clone(),
            removed.clone(),
        ),
        (
            "signed with the client key",
            sign(&now(), &removed, &key),
            removed.clone(),
        ),
        (
            "signed with an empty secret",
            sign(&now(), &removed, ""),
            removed.clone(),
        ),
        (
            "timestamp from the future",
            sign(&future, &removed, &secret),
            removed.clone(),
        ),
        (
            "timestamp changed after signing",
            {
                let t = now();
                let s = sign(&t, &removed, &secret);
                s.replacen(
                    &format!("t={t}"),
                    &format!("t={}", t.parse::<i64>().unwrap() + 1),
                    1,
                )
            },
            removed.clone(),
        ),
        (
            "truncated MAC",
            {
                let s = sign(&now(), &removed, &secret);
                s[..s.len() - 2].to_owned()
            },
            removed.clone(),
        ),
        (
            "MAC of the body alone",
            format!("t={},s={}", now(), hmac_sha256_hex(&secret, &removed)),
            removed.clone(),
        ),
        (
            "no timestamp",
            format!("s={}", hmac_sha256_hex(&secret, &format!(".{removed}"))),
            removed.clone(),
        ),
        (
            "huge timestamp",
            sign("99999999999999999999999", &removed, &secret),
            removed.clone(),
        ),
        (
            "many signatures, none right",
            format!("t={},{}", now(), "s=00,".repeat(2000)),
            removed.clone(),
        ),
        ("empty header", String::new(), removed.clone()),
    ];
    for (name, sig, body) in forgeries {
        let res = post(sig, body).await;
        let (status, code, _) = problem(res).await;
        assert_eq!(
            (status, code.as_str()),
            (401, "invalid_webhook_signature"),
            "{name}"
        );
    }

    // Replay within the window of an event older than the state: the state machine does not go
    // back (PUBLISHED stays PUBLISHED).
    for _ in 0..2 {
        assert_eq!(
            post(sign(&now(), &failed, &secret), failed.clone())
                .await
                .status(),
            200
        );
    }
    let video: Value = app.get_video(&user, &id).await.json().await.unwrap();
    assert_eq!(video["status"], "PUBLISHED", "{video}");
    assert!(video["tiktok"]["failure"].is_null(), "{video}");

    // A captured delivery replayed after the tolerance (2 s here) is refused, and the most
    // destructive event of all does nothing.
    let captured = sign(&now(), &removed, &secret);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let res = post(captured, removed.clone()).await;
    assert_eq!(problem(res).await.1, "invalid_webhook_signature");
    let me: Value = app
        .http
        .get(app.url("/v1/me"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["tiktok"], "connected", "{me}");
}

// ---------------------------------------------------------------------------------------------
// CORS and security headers

#[tokio::test]
async fn cors_gives_credentials_to_allowed_origins_only() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let allowed = app.origin();
    let check_no_cors = |res: &reqwest::Response, what: &str| {
        assert!(
            res.headers().get("access-control-allow-origin").is_none(),
            "{what}"
        );
        assert!(
            res.headers()
                .get("access-control-allow-credentials")
                .is_none(),
            "{what}"
        );
    };

    // Actual requests from the SPA's origin: exact origin echoed with credentials, also on
    // errors (the SPA must read problems), and Vary: Origin so caches keep them apart.
    for (path, token) in [
        ("/v1/me", Some(&user.token)),
        ("/v1/me", None),
        ("/v1/nothing", None),
    ] {
        let mut req = app.http.get(app.url(path)).header("origin", &allowed);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(
            res.headers()["access-control-allow-origin"],
            allowed.as_str(),
            "{path}"
        );
        assert_eq!(
            res.headers()["access-control-allow-credentials"],
            "true",
            "{path}"
        );
        let vary = res
            .headers()
            .get_all("vary")
            .iter()
            .map(|v| v.to_str().unwrap().to_lowercase())
            .collect::<Vec<_>>()
            .join(",");
        assert!(vary.contains("origin"), "{path}: {vary}");
        let expose = res.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        assert!(
            expose.contains("x-request-id") && expose.contains("retry-after"),
            "{expose}"
        );
    }

    // Everyone else: no CORS grant at all, whatever the spelling.
    let foreign = [
        "https://evil.example".to_owned(),
        "null".to_owned(),
        format!("{allowed}/"),
        format!("{allowed}.evil.example"),
        allowed.replace("http://", "https://"),
        allowed.to_uppercase(),
        format!("{allowed}:80"),
        "*".to_owned(),
    ];
    for origin in &foreign {
        let res = app
            .http
            .get(app.url("/v1/me"))
            .bearer_auth(&user.token)
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        check_no_cors(&res, origin);
        let res = app
            .http
            .request(Method::OPTIONS, app.url("/v1/videos"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        check_no_cors(&res, origin);
        assert!(
            res.status().is_client_error(),
            "preflight from {origin}: {}",
            res.status()
        );
    }

    // Preflights from the SPA: the methods and headers it needs, nothing else, cached an hour.
    let preflight = |method: &str, headers: &str| {
        let app = &app;
        let allowed = allowed.clone();
        let (method, headers) = (method.to_owned(), headers.to_owned());
        async move {
            let mut req = app
                .http
                .request(Method::OPTIONS, app.url("/v1/videos/x"))
                .header("origin", &allowed)
                .header("access-control-request-method", method);
            if !headers.is_empty() {
                req = req.header("access-control-request-headers", headers);
            }
            req.send().await.unwrap()
        }
    };
    let res = preflight(
        "PATCH",
        "content-type,x-csrf-token,idempotency-key,x-request-id",
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        allowed.as_str()
    );
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    assert_eq!(res.headers()["access-control-max-age"], "3600");
    let methods = res.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    for m in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    for (method, headers) in [
        ("PUT", ""),
        ("TRACE", ""),
        ("POST", "x-evil"),
        ("POST", "cookie"),
    ] {
        let res = preflight(method, headers).await;
        assert!(
            res.status().is_client_error(),
            "{method} {headers}: {}",
            res.status()
        );
        assert_ne!(
            res.headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap()),
            Some("*")
        );
    }
}

/// The headers every response of ours carries.
fn assert_security_headers(res: &reqwest::Response, what: &str) {
    let h = res.headers();
    let get = |n: &str| {
        h.get(n)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert_eq!(get("referrer-policy"), "no-referrer", "{what}");
    assert!(
        get("cache-control").contains("no-store"),
        "{what}: {}",
        get("cache-control")
    );
    let csp = get("content-security-policy");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{what}: {csp}"
    );
    assert!(!csp.contains("unsafe-eval"), "{what}: {csp}");
    assert_ne!(get("access-control-allow-origin"), "*", "{what}");
    assert!(h.get("server").is_none(), "{what}: no server banner");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestAppBuilder::new()
        .env("SANDBOX_WEBHOOK_URL", "")
        // The upload below is the first creation, "create" the second, the third is a 429.
        .env("POSTIQO_RATE_LIMIT_CREATE_PER_MIN", "2")
        .spawn()
        .await;
    let user = app.new_user().await;
    let uploaded = app.uploaded_video(&user, 4096).await;
    let bearer = |r: reqwest::RequestBuilder| r.bearer_auth(&user.token);
    let create = json!({"title": "t", "content_type": "video/mp4", "size_bytes": 10});
    let mut seen = std::collections::BTreeSet::new();
    let requests: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("healthz", app.http.get(app.url("/healthz"))),
        ("readyz", app.http.get(app.url("/readyz"))),
        ("document", app.http.get(app.url("/openapi.json"))),
        ("me", bearer(app.http.get(app.url("/v1/me")))),
        ("export", bearer(app.http.get(app.url("/v1/me/export")))),
        ("list", bearer(app.http.get(app.url("/v1/videos")))),
        (
            "create",
            bearer(app.http.post(app.url("/v1/videos"))).json(&create),
        ),
        (
            "create again: 429",
            bearer(app.http.post(app.url("/v1/videos"))).json(&create),
        ),
        ("csrf", bearer(app.http.get(app.url("/v1/auth/csrf")))),
        (
            "login redirect",
            app.http.get(app.url(&format!(
                "/v1/auth/tiktok/login?return_to={}/x",
                app.origin()
            ))),
        ),
        (
            "bad login",
            app.http
                .get(app.url("/v1/auth/tiktok/login?return_to=https://evil.example")),
        ),
        ("no token", app.http.get(app.url("/v1/me"))),
        ("no route", app.http.get(app.url("/nothing"))),
        ("wrong method", app.http.put(app.url("/v1/videos"))),
        (
            "not json",
            bearer(app.http.post(app.url("/v1/videos")))
                .header("content-type", "text/plain")
                .body("{}"),
        ),
        (
            "too large",
            bearer(app.http.post(app.url("/v1/videos")))
                .header("content-type", "application/json")
                .body(vec![b' '; 200_000]),
        ),
        (
            "invalid body",
            bearer(app.http.post(app.url("/v1/videos"))).json(&json!({"title": 1})),
        ),
        (
            "bad query",
            bearer(app.http.get(app.url("/v1/videos?limit=0"))),
        ),
        (
            "conflict",
            bearer(
                app.http
                    .post(app.url(&format!("/v1/videos/{uploaded}/upload-url"))),
            ),
        ),
        ("media", app.http.get(app.url("/v1/media/not-a-token"))),
        (
            "webhook",
            app.http.post(app.url("/v1/webhooks/tiktok")).body("{}"),
        ),
        (
            "preflight",
            app.http
                .request(Method::OPTIONS, app.url("/v1/videos"))
                .header("origin", app.origin())
                .header("access-control-request-method", "POST"),
        ),
        (
            "delete",
            bearer(app.http.delete(app.url(&format!("/v1/videos/{uploaded}")))),
        ),
    ];
    for (what, req) in requests {
        let res = req.send().await.unwrap();
        seen.insert(res.status().as_u16());
        assert_security_headers(&res, what);
    }
    for s in [
        200, 201, 204, 302, 400, 401, 404, 405, 409, 413, 415, 422, 429,
    ] {
        assert!(seen.contains(&s), "a {s} was checked: {seen:?}");
    }

    // Swagger UI: a strict CSP that still lets its own scripts run.
    for path in [
        "/swagger-ui/",
        "/swagger-ui/index.html",
        "/swagger-ui/swagger-ui-bundle.js",
    ] {
        let res = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        let script_src = csp
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap();
        assert_eq!(script_src.trim(), "script-src 'self'", "{path}: {csp}");
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-eval") && !csp.contains('*'), "{csp}");
    }

    // The sandbox's consent and error pages (the HTML a developer's browser sees).
    let consent = app
        .http
        .get(format!(
            "{}/v2/auth/authorize/?client_key={}&response_type=code&scope=user.info.basic&redirect_uri={}&state=s",
            app.sandbox_url,
            std::env::var("POSTIQO_TIKTOK_CLIENT_KEY").unwrap(),
            app.url("/v1/auth/tiktok/callback")
        ))
        .send()
        .await
        .unwrap();
    let error_page = app
        .http
        .get(format!(
            "{}/v2/auth/authorize/?client_key=nope",
            app.sandbox_url
        ))
        .send()
        .await
        .unwrap();
    for (what, res) in [("consent", consent), ("error", error_page)] {
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.starts_with("default-src 'none'"), "{what}: {csp}");
        assert!(
            !csp.contains("script-src") && !csp.contains("unsafe-eval"),
            "{what}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        assert_eq!(res.headers()["x-frame-options"], "DENY");
        assert!(res.text().await.unwrap().contains("<!doctype html>"));
    }

    // No HSTS over plain HTTP (it would pin a local browser to HTTPS)...
    let res = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert!(res.headers().get("strict-transport-security").is_none());
    // ...and HSTS on every answer when the public URL is HTTPS (TLS ends at a proxy).
    let port = postiqo_e2e::free_port();
    let https = TestAppBuilder::new()
        .env("POSTIQO_BIND", &format!("127.0.0.1:{port}"))
        .env("POSTIQO_PUBLIC_URL", &format!("https://127.0.0.1:{port}"))
        .spawn()
        .await;
    for path in ["/healthz", "/nothing", "/v1/me", "/swagger-ui/"] {
        let res = https.http.get(https.url(path)).send().await.unwrap();
        let hsts = res.headers()["strict-transport-security"].to_str().unwrap();
        let max_age: u64 = hsts
            .split(';')
            .find_map(|d| d.trim().strip_prefix("max-age="))
            .unwrap()
            .parse()
            .unwrap();
        assert!(max_age >= 31_536_000, "{path}: {hsts}");
    }
}

// ---------------------------------------------------------------------------------------------
// rate limits

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in whole seconds")
}

async fn assert_rate_limited(res: reqwest::Response, what: &str) {
    assert_eq!(res.status(), 429, "{what}");
    let wait = retry_after(&res);
    assert!((1..=60).contains(&wait), "{what}: Retry-After {wait}");
    let (_, code, body) = problem(res).await;
    assert_eq!(code, "rate_limited", "{what}: {body}");
    assert_eq!(body["status"], 429);
    assert!(body["request_id"].is_string());
}

#[tokio::test]
async fn sign_in_is_limited_per_client_ip() {
    // Each sign-in is three limited requests (login, callback, token exchange).
    let app = TestAppBuilder::new()
        .env("POSTIQO_RATE_LIMIT_SIGNIN_PER_MIN", "4")
        .spawn()
        .await;
    let user = app.new_user().await;
    let login = || {
        app.http
            .get(app.url(&format!(
                "/v1/auth/tiktok/login?return_to={}/x",
                app.origin()
            )))
            .send()
    };
    assert_eq!(login().await.unwrap().status(), 302, "the fourth");
    assert_rate_limited(login().await.unwrap(), "fifth login").await;
    let res = app
        .http
        .post(app.url("/v1/auth/token"))
        .json(&json!({"grant_type": "authorization_code", "code": "x", "code_verifier": "y"}))
        .send()
        .await
        .unwrap();
    assert_rate_limited(res, "token exchange shares the budget").await;
    // Refreshing has budgets of its own (per session, tests/e2e/deploy.rs): sign-ins from a
    // busy address never end the sessions behind it.
    let res = app
        .http
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({"refresh_token": user.refresh_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "refresh is not in the sign-in budget");
    // Everything else is untouched, and the session that exists keeps working.
    let res = app
        .http
        .get(app.url("/v1/me"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.create_video(&user, "t", "video/mp4", 10).await.status(),
        201
    );
}

#[tokio::test]
async fn video_creation_and_publishing_are_limited_per_user_and_per_ip() {
    let app = TestAppBuilder::new()
        .env("SANDBOX_WEBHOOK_URL", "")
        .env("POSTIQO_RATE_LIMIT_CREATE_PER_MIN", "3")
        .env("POSTIQO_RATE_LIMIT_PUBLISH_PER_MIN", "1")
        .env("POSTIQO_RATE_LIMIT_PER_IP_PER_MIN", "5")
        .spawn()
        .await;
    let alice = app.new_user().await;
    let bob = app.new_user().await;
    // Per user: Alice's fourth creation in a minute is refused (before the address is counted)...
    let mut created = Vec::new();
    for _ in 0..3 {
        created.push(app.create_video_ok(&alice, "a", "video/mp4", 4096).await);
    }
    assert_rate_limited(
        app.create_video(&alice, "a", "video/mp4", 10).await,
        "alice's fourth",
    )
    .await;
    // ...while Bob, from the same address, goes on: the address has made 4 of its 5.
    app.create_video_ok(&bob, "b", "video/mp4", 10).await;
    app.create_video_ok(&bob, "b", "video/mp4", 10).await;
    // Per address: the sixth creation from 127.0.0.1 is refused, though Bob made only 3.
    assert_rate_limited(
        app.create_video(&bob, "b", "video/mp4", 10).await,
        "the address's sixth",
    )
    .await;

    // Publishing: one per minute per user; the refusal comes before TikTok is asked.
    let mut uploaded = Vec::new();
    for c in created.iter().take(2) {
        let put = app
            .send_presigned(&c["upload"], postiqo_e2e::mp4_bytes(4096))
            .await;
        assert!(put.status().is_success());
        let id = c["video"]["id"].as_str().unwrap().to_owned();
        assert_eq!(app.complete_upload(&alice, &id, None).await.status(), 200);
        uploaded.push(id);
    }
    assert_eq!(
        app.publish(&alice, &uploaded[0], "p1", public())
            .await
            .status(),
        202
    );
    assert_rate_limited(
        app.publish(&alice, &uploaded[1], "p2", public()).await,
        "alice's second publish",
    )
    .await;
    let v: Value = app
        .get_video(&alice, &uploaded[1])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "UPLOADED", "a refused publish changes nothing");
    let stats = app.sandbox(Method::GET, "/stats", None).await;
    let inits: u64 = stats["inits_by_open_id"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(inits, 1, "TikTok saw one publish");
    // Reads are never limited.
    for _ in 0..20 {
        let res = app
            .http
            .get(app.url("/v1/videos"))
            .bearer_auth(&bob.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
}

#[tokio::test]
async fn rate_limits_can_be_switched_off() {
    let app = TestAppBuilder::new()
        .env("POSTIQO_RATE_LIMIT", "off")
        .env("POSTIQO_RATE_LIMIT_SIGNIN_PER_MIN", "1")
        .env("POSTIQO_RATE_LIMIT_CREATE_PER_MIN", "1")
        .env("POSTIQO_RATE_LIMIT_PER_IP_PER_MIN", "1")
        .spawn()
        .await;
    let user = app.new_user().await;
    let again = app.sign_in(&user.username).await;
    for _ in 0..10 {
        assert_eq!(
            app.create_video(&again, "t", "video/mp4", 10)
                .await
                .status(),
            201
        );
    }
}
