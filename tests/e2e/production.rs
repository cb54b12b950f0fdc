//! What a production deployment needs: real client addresses behind a TLS-terminating proxy,
//! keys nobody else knows, prefixed session cookies over https, per-session and per-user
//! limits, and a logout that no request in flight can undo.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use postiqo_e2e::{ChildProcess, TestApp, TestAppBuilder, bin_path};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---------------------------------------------------------------------------------------------
// helpers

async fn status_and_code(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

/// `GET /v1/auth/tiktok/login` as a proxy forwarding a client: `forwarded` is the header's
/// (name, value), `id` the request id to find its access line by.
async fn login_via(app: &TestApp, forwarded: Option<(&str, &str)>, id: &str) -> u16 {
    let mut req = app
        .http
        .get(app.url(&format!(
            "/v1/auth/tiktok/login?return_to={}/x",
            app.origin()
        )))
        .header("x-request-id", id);
    if let Some((name, value)) = forwarded {
        req = req.header(name, value);
    }
    req.send().await.unwrap().status().as_u16()
}

/// The `client_ip` of the access line of request `id`.
async fn logged_client_ip(app: &TestApp, id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = app
            .process
            .lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["target"] == "access" && v["span"]["request_id"] == id)
            .map(|v| v["client_ip"].as_str().unwrap_or_default().to_owned());
        if let Some(ip) = found {
            return ip;
        }
        assert!(Instant::now() < deadline, "no access line for {id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The value of cookie `name` among `Set-Cookie` lines.
fn cookie_value(lines: &[String], name: &str) -> Option<String> {
    lines.iter().find_map(|l| {
        l.strip_prefix(&format!("{name}="))
            .map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
    })
}

fn cookie_line<'a>(lines: &'a [String], name: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {lines:?}"))
}

fn attributes(line: &str) -> Vec<String> {
    line.split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// real client addresses

#[tokio::test]
async fn a_trusted_proxy_forwarding_two_clients_gets_them_limited_separately() {
    // The test's own connections come from 127.0.0.1: the proxy, for this app.
    let app = TestAppBuilder::new()
        .env("POSTIQO_TRUSTED_PROXIES", "127.0.0.1/32")
        .env("POSTIQO_RATE_LIMIT_SIGNIN_PER_MIN", "3")
        .spawn()
        .await;
    let xff = |v: &'static str| Some(("x-forwarded-for", v));
    for i in 0..3 {
        assert_eq!(
            login_via(&app, xff("203.0.113.7"), &format!("a{i}")).await,
            302
        );
    }
    assert_eq!(login_via(&app, xff("203.0.113.7"), "a3").await, 429);
    // What the client writes itself sits left of what the proxy appended: no escape.
    assert_eq!(
        login_via(&app, xff("198.51.100.1, 203.0.113.7"), "a4").await,
        429
    );
    // The other client behind the same proxy has its whole budget.
    for i in 0..3 {
        assert_eq!(
            login_via(&app, xff("203.0.113.8"), &format!("b{i}")).await,
            302
        );
    }
    assert_eq!(login_via(&app, xff("203.0.113.8"), "b3").await, 429);
    // So has the proxy itself (its health checks forward nobody).
    assert_eq!(login_via(&app, None, "p0").await, 302);

    // IPv6 clients are counted per /64: another address of the same /64 is the same client.
    for i in 0..3 {
        let v = format!("2001:db8:1:2::{}", i + 1);
        let status = login_via(&app, Some(("x-forwarded-for", &v)), &format!("v6-{i}")).await;
        assert_eq!(status, 302);
    }
    let v6 = |addr: &'static str| Some(("x-forwarded-for", addr));
    assert_eq!(
        login_via(&app, v6("2001:db8:1:2:ffff::9"), "v6-3").await,
        429
    );
    assert_eq!(login_via(&app, v6("2001:db8:1:3::1"), "v6-4").await, 302);

    // The access log names the clients, not the proxy.
    assert_eq!(logged_client_ip(&app, "a0").await, "203.0.113.7");
    assert_eq!(logged_client_ip(&app, "a4").await, "203.0.113.7");
    assert_eq!(logged_client_ip(&app, "b0").await, "203.0.113.8");
    assert_eq!(logged_client_ip(&app, "p0").await, "127.0.0.1");
    assert_eq!(logged_client_ip(&app, "v6-3").await, "2001:db8:1:2:ffff::9");
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    // Trusting a network the test's connections do not come from, and the default (nobody),
    // behave the same: the socket peer is the client.
    for trusted in ["10.0.0.0/8", ""] {
        let app = TestAppBuilder::new()
            .env("POSTIQO_TRUSTED_PROXIES", trusted)
            .env("POSTIQO_RATE_LIMIT_SIGNIN_PER_MIN", "3")
            .spawn()
            .await;
        let claims = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"];
        for (i, claim) in claims.iter().take(3).enumerate() {
            let id = format!("u{i}");
            assert_eq!(
                login_via(&app, Some(("x-forwarded-for", claim)), &id).await,
                302
            );
        }
        assert_eq!(
            login_via(&app, Some(("x-forwarded-for", claims[3])), "u3").await,
            429,
            "a new X-Forwarded-For buys nothing (trusted: {trusted:?})"
        );
        assert_eq!(
            login_via(&app, Some(("forwarded", "for=203.0.113.5")), "u4").await,
            429
        );
        for id in ["u0", "u3", "u4"] {
            assert_eq!(logged_client_ip(&app, id).await, "127.0.0.1", "{trusted:?}");
        }
    }
}

#[tokio::test]
async fn rfc_7239_forwarded_when_the_proxies_write_it() {
    let app = TestAppBuilder::new()
        .env("POSTIQO_TRUSTED_PROXIES", "127.0.0.1")
        .env("POSTIQO_FORWARDED_HEADER", "forwarded")
        .env("POSTIQO_RATE_LIMIT_SIGNIN_PER_MIN", "2")
        .spawn()
        .await;
    let fwd = |v: &'static str| Some(("forwarded", v));
    assert_eq!(
        login_via(&app, fwd("for=203.0.113.7;proto=https"), "f0").await,
        302
    );
    assert_eq!(
        login_via(&app, fwd("for=\"[2001:db8::7]:4711\""), "f1").await,
        302
    );
    assert_eq!(login_via(&app, fwd("for=203.0.113.7"), "f2").await, 302);
    assert_eq!(login_via(&app, fwd("for=203.0.113.7"), "f3").await, 429);
    // X-Forwarded-For is what a client would forge here: it changes nothing.
    let res = app
        .http
        .get(app.url(&format!(
            "/v1/auth/tiktok/login?return_to={}/x",
            app.origin()
        )))
        .header("forwarded", "for=203.0.113.7")
        .header("x-forwarded-for", "203.0.113.99")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(logged_client_ip(&app, "f1").await, "2001:db8::7");
}

// ---------------------------------------------------------------------------------------------
// per-session and per-user limits

async fn refresh_bearer(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({"refresh_token": token}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn refresh_is_limited_per_session_so_a_noisy_address_ends_nobody_elses() {
    // Every client here comes from 127.0.0.1: one address, as behind a NAT.
    let app = TestAppBuilder::new()
        .env("POSTIQO_RATE_LIMIT_SIGNIN_PER_MIN", "12")
        .env("POSTIQO_RATE_LIMIT_REFRESH_PER_MIN", "3")
        .spawn()
        .await;
    let alice = app.new_user().await;
    let bob = app.new_user().await;

    // Alice's client refreshes in a loop: her session's budget runs out...
    let mut token = alice.refresh_token.clone();
    for _ in 0..3 {
        let res = refresh_bearer(&app, &token).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        token = body["refresh_token"].as_str().unwrap().to_owned();
    }
    let (status, code) = status_and_code(refresh_bearer(&app, &token).await).await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));

    // Bob, from the same address, refreshes as usual.
    let res = refresh_bearer(&app, &bob.refresh_token).await;
    assert_eq!(res.status(), 200);
    let bob_token = res.json::<Value>().await.unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // A browser session: forged CSRF never spends its budget.
    let (browser, csrf) = app
        .sign_in_browser(&format!("carol_{}", std::process::id()))
        .await;
    for _ in 0..5 {
        let res = browser
            .post(app.url("/v1/auth/refresh"))
            .header("x-csrf-token", "forged")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
    }
    for i in 0..3 {
        let res = browser
            .post(app.url("/v1/auth/refresh"))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "cookie refresh {i}");
    }
    let res = browser
        .post(app.url("/v1/auth/refresh"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);

    // Sign-ins from the address flood until refused; refreshes are not in that budget.
    let mut refused = false;
    for i in 0..20 {
        if login_via(&app, None, &format!("flood{i}")).await == 429 {
            refused = true;
            break;
        }
    }
    assert!(refused, "the sign-in budget ran out");
    let res = refresh_bearer(&app, &bob_token).await;
    assert_eq!(res.status(), 200, "Bob's session lives on");
    let bob_token = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = app.get_json("/v1/me", &bob_token).await;
    assert_eq!(me["id"], bob.id.as_str());
}

#[tokio::test]
async fn profile_sync_and_export_are_limited_per_user() {
    let app = TestAppBuilder::new()
        .env("POSTIQO_RATE_LIMIT_ACCOUNT_PER_MIN", "2")
        .spawn()
        .await;
    let alice = app.new_user().await;
    let bob = app.new_user().await;
    let export = |token: String| {
        app.http
            .get(app.url("/v1/me/export"))
            .bearer_auth(token)
            .send()
    };
    let sync = |token: String| {
        app.http
            .post(app.url("/v1/me/sync"))
            .bearer_auth(token)
            .send()
    };
    for _ in 0..2 {
        assert_eq!(export(alice.token.clone()).await.unwrap().status(), 200);
    }
    let res = export(alice.token.clone()).await.unwrap();
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(status_and_code(res).await.1, "rate_limited");
    // Sync has a budget of its own.
    for _ in 0..2 {
        assert_eq!(sync(alice.token.clone()).await.unwrap().status(), 200);
    }
    assert_eq!(sync(alice.token.clone()).await.unwrap().status(), 429);
    // Per user: Bob, from the same address, is untouched.
    assert_eq!(export(bob.token.clone()).await.unwrap().status(), 200);
    assert_eq!(sync(bob.token.clone()).await.unwrap().status(), 200);
}

// ---------------------------------------------------------------------------------------------
// keys fit for production

/// The base64 secrets set for the JWT and token-encryption variables in a repository file, in
/// order (`kid:secret` entries, whatever the file's syntax around them).
fn keys_in(rel: &str) -> Vec<String> {
    let path = postiqo_e2e::crate_dir().join("..").join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut found = Vec::new();
    for line in text.lines() {
        let Some(pos) = ["POSTIQO_JWT_KEYS", "POSTIQO_TOKEN_ENCRYPTION_KEY"]
            .iter()
            .find_map(|var| line.find(var).map(|p| p + var.len()))
        else {
            continue;
        };
        let tokens =
            line[pos..].split(|c: char| !(c.is_ascii_alphanumeric() || "+/=_-:.,".contains(c)));
        for part in tokens.flat_map(|t| t.split([':', ','])) {
            let decoded = base64::engine::general_purpose::STANDARD.decode(part);
            if part.len() >= 40 && decoded.is_ok_and(|d| d.len() >= 32) {
                found.push(part.to_owned());
            }
        }
    }
    found
}

/// A key nobody has seen: 32 random bytes (two v4 UUIDs' worth of randomness).
fn fresh_key(kid: &str) -> String {
    let mut bytes = uuid::Uuid::new_v4().as_bytes().to_vec();
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    format!(
        "{kid}:{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The API started as a production deployment would be: public https URL, https origin.
fn production(overrides: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin_path("postiqo-api"));
    cmd.env("POSTIQO_BIND", "127.0.0.1:0")
        .env("POSTIQO_PUBLIC_URL", "https://api.example.com")
        .env("POSTIQO_ALLOWED_ORIGINS", "https://app.example.com")
        .env("POSTIQO_JWT_KEYS", fresh_key("k1"))
        .env("POSTIQO_TOKEN_ENCRYPTION_KEY", fresh_key("e1"))
        .env("POSTIQO_WORKER", "off");
    for (k, v) in overrides {
        cmd.env(k, v);
    }
    cmd
}

/// Runs `cmd`, which must stop at once: returns its stderr.
fn refused(mut cmd: Command, what: &str) -> String {
    let out = cmd.output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{what}: started");
    assert_eq!(stderr.lines().count(), 1, "{what}: one line: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

#[test]
fn every_key_published_in_the_repository_is_refused_with_a_public_url() {
    // The keys as the repository prints them, read from the files themselves.
    let mut published: Vec<String> = keys_in("scripts/local-env.sh")
        .into_iter()
        .chain(keys_in("docker-compose.yml"))
        .map(|secret| format!("pub:{secret}"))
        .collect();
    assert!(
        published.len() >= 4,
        "found the development keys: {published:?}"
    );
    // The list the API refuses, each as a key of its own.
    let listed = std::fs::read_to_string(
        postiqo_e2e::crate_dir().join("../crates/api/src/published_keys.txt"),
    )
    .unwrap();
    published.extend(
        listed
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| format!("listed:{l}")),
    );
    // And keys too weak to keep anything secret.
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    published.push(format!("weak:{}", b64(&[b'a'; 32])));
    published.push(format!("weak:{}", b64(&(0u8..32).collect::<Vec<_>>())));
    published.push(format!("weak:{}", b64(b"abcdefghijklmnopabcdefghijklmnop")));

    let mut refusals = 0;
    for var in ["POSTIQO_JWT_KEYS", "POSTIQO_TOKEN_ENCRYPTION_KEY"] {
        for key in &published {
            let (_, secret) = key.split_once(':').unwrap();
            // Behind a good key: every key of the ring is checked.
            let ring = format!("{},{key}", fresh_key("good"));
            let stderr = refused(production(&[(var, &ring)]), key);
            assert!(stderr.contains(var), "{key}: {stderr}");
            let raw = base64::engine::general_purpose::STANDARD
                .decode(secret)
                .unwrap();
            assert!(!stderr.contains(secret), "{stderr}");
            assert!(!stderr.contains(&secret[..20]), "{stderr}");
            assert!(
                !stderr.contains(String::from_utf8_lossy(&raw[..16]).as_ref()),
                "{stderr}"
            );
            refusals += 1;
        }
    }
    assert!(refusals >= 18, "{refusals}");

    // A plain-http origin other than localhost.
    let stderr = refused(
        production(&[(
            "POSTIQO_ALLOWED_ORIGINS",
            "https://app.example.com,http://app.example.com",
        )]),
        "http origin",
    );
    assert!(stderr.contains("POSTIQO_ALLOWED_ORIGINS"), "{stderr}");

    // The same deployment with keys of its own starts.
    let mut ok = ChildProcess::spawn(production(&[(
        "POSTIQO_ALLOWED_ORIGINS",
        "https://app.example.com,http://localhost:5173",
    )]));
    ok.wait_for_line("\"listening\"", Duration::from_secs(30));
    ok.kill();

    // On localhost the development keys still serve: every other test runs with them.
    let dev = keys_in("scripts/local-env.sh");
    let mut local = ChildProcess::spawn(production(&[
        ("POSTIQO_PUBLIC_URL", "http://localhost:8080"),
        ("POSTIQO_ALLOWED_ORIGINS", "http://localhost:5173"),
        ("POSTIQO_JWT_KEYS", &format!("dev:{}", dev[0])),
        ("POSTIQO_TOKEN_ENCRYPTION_KEY", &format!("dev:{}", dev[1])),
    ]));
    local.wait_for_line("\"listening\"", Duration::from_secs(30));
}

// ---------------------------------------------------------------------------------------------
// cookies over https

#[tokio::test]
async fn session_cookies_over_https_carry_the_host_and_secure_prefixes() {
    // TLS ends at a proxy: the API is https to the world and plain http to its proxy (here
    // the test). `127.0.0.1` is still a localhost URL, so the development keys serve.
    let port = postiqo_e2e::free_port();
    let app = TestAppBuilder::new()
        .env("POSTIQO_BIND", &format!("127.0.0.1:{port}"))
        .env("POSTIQO_PUBLIC_URL", &format!("https://127.0.0.1:{port}"))
        .spawn()
        .await;
    let return_to = format!("{}/app", app.origin());
    let login = app
        .http
        .get(app.url(&format!("/v1/auth/tiktok/login?return_to={return_to}")))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 302);
    let binding = cookie_value(&set_cookies(&login), "postiqo_oauth").expect("binding cookie");
    let to_tiktok = login.headers()["location"].to_str().unwrap().to_owned();
    let consent = app
        .http
        .get(format!(
            "{to_tiktok}&sandbox_auto=approve&sandbox_user=https_user_{}",
            std::process::id()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), 302);
    let callback = consent.headers()["location"].to_str().unwrap().to_owned();
    assert!(callback.starts_with("https://"), "{callback}");
    let callback = callback.replacen("https://", "http://", 1);
    let res = app
        .http
        .get(&callback)
        .header("cookie", format!("postiqo_oauth={binding}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], return_to.as_str());
    let cookies = set_cookies(&res);

    let access_line = cookie_line(&cookies, "__Host-postiqo_access");
    let attrs = attributes(access_line);
    for want in ["secure", "httponly", "path=/", "samesite=lax"] {
        assert!(attrs.iter().any(|a| a == want), "{want}: {access_line}");
    }
    assert!(
        !attrs.iter().any(|a| a.starts_with("domain")),
        "__Host- forbids Domain: {access_line}"
    );
    let refresh_line = cookie_line(&cookies, "__Secure-postiqo_refresh");
    let attrs = attributes(refresh_line);
    for want in ["secure", "httponly", "path=/v1/auth"] {
        assert!(attrs.iter().any(|a| a == want), "{want}: {refresh_line}");
    }
    assert!(
        !cookies
            .iter()
            .any(|c| c.starts_with("postiqo_access=") || c.starts_with("postiqo_refresh=")),
        "no bare names over https: {cookies:?}"
    );
    let access = cookie_value(&cookies, "__Host-postiqo_access").unwrap();
    let refresh = cookie_value(&cookies, "__Secure-postiqo_refresh").unwrap();

    // The prefixed cookie authenticates; the bare name (what a sibling subdomain or a
    // plain-http page could plant) does not.
    let me = |cookie: String| {
        app.http
            .get(app.url("/v1/me"))
            .header("cookie", cookie)
            .send()
    };
    assert_eq!(
        me(format!("__Host-postiqo_access={access}"))
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, code) =
        status_and_code(me(format!("postiqo_access={access}")).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (401, "unauthenticated"));

    // CSRF from the refresh cookie, then a cookie refresh: new prefixed cookies.
    let csrf: Value = app
        .http
        .get(app.url("/v1/auth/csrf"))
        .header("cookie", format!("__Secure-postiqo_refresh={refresh}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = csrf["csrf_token"].as_str().expect("csrf token").to_owned();
    let res = app
        .http
        .post(app.url("/v1/auth/refresh"))
        .header("cookie", format!("postiqo_refresh={refresh}"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_and_code(res).await,
        (401, "invalid_refresh_token".to_owned()),
        "the bare refresh name is not read over https"
    );
    let res = app
        .http
        .post(app.url("/v1/auth/refresh"))
        .header("cookie", format!("__Secure-postiqo_refresh={refresh}"))
        .header("x-csrf-token", &csrf)
        .header("origin", app.origin())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let rotated = set_cookies(&res);
    let access = cookie_value(&rotated, "__Host-postiqo_access").expect("new access cookie");
    assert!(cookie_value(&rotated, "__Secure-postiqo_refresh").is_some());

    // Logout clears the prefixed cookies.
    let res = app
        .http
        .post(app.url("/v1/auth/logout"))
        .header("cookie", format!("__Host-postiqo_access={access}"))
        .header("x-csrf-token", &csrf)
        .header("origin", app.origin())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let cleared = set_cookies(&res);
    for name in ["__Host-postiqo_access", "__Secure-postiqo_refresh"] {
        let line = cookie_line(&cleared, name);
        assert!(attributes(line).iter().any(|a| a == "max-age=0"), "{line}");
    }
    assert_eq!(
        me(format!("__Host-postiqo_access={access}"))
            .await
            .unwrap()
            .status(),
        401
    );
}

// ---------------------------------------------------------------------------------------------
// revocation racing a request

/// A TCP relay in front of the records store that can hold one answer back: the next request
/// sent after [`HoldingRelay::arm`] gets its response (already computed by the store) kept
/// until [`HoldingRelay::release`]. That freezes a request between its session read and what
/// it does with the answer, deterministically.
struct HoldingRelay {
    addr: SocketAddr,
    armed: Arc<AtomicBool>,
    holding: Arc<AtomicBool>,
    release: tokio::sync::watch::Sender<bool>,
}

impl HoldingRelay {
    /// Runs on a thread and runtime of its own: the harness blocks its caller's thread while
    /// it runs `bootstrap`, which goes through the relay.
    fn start(upstream: SocketAddr) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let armed = Arc::new(AtomicBool::new(false));
        let holding = Arc::new(AtomicBool::new(false));
        let (release, released) = tokio::sync::watch::channel(false);
        let (a, h) = (armed.clone(), holding.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        std::thread::spawn(move || {
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(store) = tokio::net::TcpStream::connect(upstream).await else {
                        continue;
                    };
                    let (mut client_rd, mut client_wr) = client.into_split();
                    let (mut store_rd, mut store_wr) = store.into_split();
                    let hold_next = Arc::new(AtomicBool::new(false));
                    let (armed, hold) = (a.clone(), hold_next.clone());
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 64 * 1024];
                        while let Ok(n) = client_rd.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                            if armed.swap(false, Ordering::SeqCst) {
                                hold.store(true, Ordering::SeqCst);
                            }
                            if store_wr.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    });
                    let (holding, mut released) = (h.clone(), released.clone());
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 64 * 1024];
                        while let Ok(n) = store_rd.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                            if hold_next.swap(false, Ordering::SeqCst) {
                                holding.store(true, Ordering::SeqCst);
                                let _ = released.wait_for(|r| *r).await;
                            }
                            if client_wr.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    });
                }
            })
        });
        Self {
            addr,
            armed,
            holding,
            release,
        }
    }

    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    async fn wait_holding(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.holding.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "no answer was held");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn release(&self) {
        let _ = self.release.send(true);
    }
}

#[tokio::test]
async fn a_request_that_read_the_session_before_logout_cannot_bring_it_back() {
    // The records store of this lane (DynamoDB Local in the second one, else ministack).
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .expect("AWS_ENDPOINT_URL (scripts/test)");
    let upstream: SocketAddr = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("the local store's host:port");
    let relay = HoldingRelay::start(upstream);
    let app = TestAppBuilder::new()
        .env(
            "AWS_ENDPOINT_URL_DYNAMODB",
            &format!("http://{}", relay.addr),
        )
        // Nothing but the requests below may talk to the store meanwhile.
        .env("POSTIQO_WORKER", "off")
        .env("POSTIQO_SESSION_CACHE_MS", "1500")
        .spawn()
        .await;
    let user = app.new_user().await;
    // The sign-in's own `GET /v1/me` cached the session: let that lapse, so the next request
    // reads it.
    tokio::time::sleep(Duration::from_millis(2000)).await;

    relay.arm();
    let racing = {
        let http = app.http.clone();
        let url = app.url("/v1/me");
        let token = user.token.clone();
        tokio::spawn(async move { http.get(url).bearer_auth(token).send().await })
    };
    // The racing request's session read has been answered "alive" by the store; the answer
    // is held on its way back while the session is ended.
    relay.wait_holding().await;
    let res = app
        .http
        .post(app.url("/v1/auth/logout"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    relay.release();
    let racing = racing.await.unwrap().unwrap();
    // It read the session before the logout: answering it is fine...
    assert_eq!(racing.status(), 200);
    // ...but it must not have put the session back in the cache: from now on every request
    // is refused, within the cache's lifetime as after it.
    for i in 0..5 {
        let res = app
            .http
            .get(app.url("/v1/me"))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            status_and_code(res).await,
            (401, "session_ended".to_owned()),
            "request {i} after the logout"
        );
    }
}
