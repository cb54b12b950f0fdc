use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::process::{ChildProcess, bin_path};

/// A signed-in test user: our id, its TikTok username, and bearer tokens.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub username: String,
    pub token: String,
    pub refresh_token: String,
    pub session_id: String,
}

#[derive(Clone)]
pub struct TestAppBuilder {
    env: HashMap<String, String>,
}

/// One running `postiqo-api` with its own table, bucket and TikTok sandbox.
pub struct TestApp {
    pub base_url: String,
    pub sandbox_url: String,
    pub table: String,
    pub bucket: String,
    pub http: reqwest::Client,
    pub process: ChildProcess,
    pub sandbox: ChildProcess,
    env: HashMap<String, String>,
}

/// Below actix's 5 s keep-alive: a pooled connection the API is closing as idle is never
/// reused (that race is a client's error, not the API's).
const IDLE: Duration = Duration::from_secs(3);

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

impl Default for TestAppBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TestAppBuilder {
    pub fn new() -> Self {
        let mut env = HashMap::new();
        env.insert("POSTIQO_TABLE".into(), unique("postiqo-test"));
        env.insert("POSTIQO_BUCKET".into(), unique("postiqo-test"));
        // The API's address must be known before it starts: it is in the OAuth redirect URI.
        let port = crate::free_port();
        env.insert("POSTIQO_BIND".into(), format!("127.0.0.1:{port}"));
        env.insert(
            "POSTIQO_PUBLIC_URL".into(),
            format!("http://127.0.0.1:{port}"),
        );
        env.insert("RUST_LOG".into(), "info".into());
        // Fast tracking so publishes finish within a test.
        env.insert("POSTIQO_WORKER_INTERVAL_MS".into(), "200".into());
        // Jobs another process saved (a killed instance's, a separate worker's) are found
        // within this; the idle backoff itself stays on.
        env.insert("POSTIQO_WORKER_IDLE_MAX_MS".into(), "1000".into());
        env.insert("POSTIQO_POLL_INITIAL_MS".into(), "300".into());
        env.insert("POSTIQO_POLL_MAX_MS".into(), "2000".into());
        env.insert("POSTIQO_WORKER_LEASE_SECS".into(), "4".into());
        Self { env }
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// A variable this app will run with (e.g. the `POSTIQO_BIND` chosen for it).
    pub fn var(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }

    /// Runs `postiqo-api bootstrap` with this app's variables.
    pub fn bootstrap(&self) -> std::process::Output {
        Command::new(bin_path("postiqo-api"))
            .arg("bootstrap")
            .envs(&self.env)
            .output()
            .expect("run bootstrap")
    }

    pub async fn spawn(self) -> TestApp {
        let out = self.bootstrap();
        assert!(
            out.status.success(),
            "bootstrap failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self.spawn_without_bootstrap().await
    }

    pub async fn spawn_without_bootstrap(mut self) -> TestApp {
        let public = self.env["POSTIQO_PUBLIC_URL"].clone();
        let mut sandbox_cmd = Command::new(bin_path("tiktok-sandbox"));
        sandbox_cmd
            .env("SANDBOX_BIND", "127.0.0.1:0")
            .env(
                "SANDBOX_CLIENT_KEY",
                std::env::var("POSTIQO_TIKTOK_CLIENT_KEY").unwrap_or_default(),
            )
            .env(
                "SANDBOX_CLIENT_SECRET",
                std::env::var("POSTIQO_TIKTOK_CLIENT_SECRET").unwrap_or_default(),
            )
            .env(
                "SANDBOX_VERIFIED_URL_PREFIXES",
                format!("{public}/v1/media/"),
            )
            .env(
                "SANDBOX_WEBHOOK_URL",
                format!("{public}/v1/webhooks/tiktok"),
            )
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        for (k, v) in &self.env {
            if k.starts_with("SANDBOX_") {
                sandbox_cmd.env(k, v);
            }
        }
        let mut sandbox = ChildProcess::spawn(sandbox_cmd);
        let line = sandbox.wait_for_line("base_url", Duration::from_secs(30));
        let sandbox_url = strip_ansi(&line)
            .split("base_url=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("sandbox base_url")
            .trim_end_matches('/')
            .to_owned();
        self.env.insert(
            "POSTIQO_TIKTOK_AUTH_URL".into(),
            format!("{sandbox_url}/v2/auth/authorize/"),
        );
        self.env
            .insert("POSTIQO_TIKTOK_API_URL".into(), sandbox_url.clone());

        let mut cmd = Command::new(bin_path("postiqo-api"));
        cmd.envs(&self.env);
        let mut process = ChildProcess::spawn(cmd);
        let line = process.wait_for_line("\"listening\"", Duration::from_secs(30));
        let parsed: Value = serde_json::from_str(&line).expect("listening line is JSON");
        let addr = parsed["address"].as_str().expect("address").to_owned();
        TestApp {
            base_url: format!("http://{addr}"),
            sandbox_url,
            sandbox,
            table: self.env["POSTIQO_TABLE"].clone(),
            bucket: self.env["POSTIQO_BUCKET"].clone(),
            http: reqwest::Client::builder()
                .pool_idle_timeout(IDLE)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            process,
            env: self.env,
        }
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        TestAppBuilder::new().spawn().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The first allowed browser origin (where sign-ins return to).
    pub fn origin(&self) -> String {
        self.var("POSTIQO_ALLOWED_ORIGINS")
            .split(',')
            .next()
            .unwrap()
            .trim()
            .to_owned()
    }

    /// A fresh TikTok test user signed in through the real flow (bearer tokens).
    pub async fn new_user(&self) -> TestUser {
        let username = format!("user_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        self.sign_in(&username).await
    }

    /// Signs `username` in as a third-party client: login with `mode=code` and a PKCE
    /// challenge, TikTok (sandbox) approves, the callback returns a one-time code, and
    /// `POST /v1/auth/token` trades it for tokens.
    pub async fn sign_in(&self, username: &str) -> TestUser {
        let verifier = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let challenge = crate::s256(&verifier);
        let browser = self.browser();
        let return_to = format!("{}/signed-in", self.origin());
        let code = self
            .authorize(
                &browser,
                &return_to,
                &format!("&mode=code&code_challenge={challenge}"),
                username,
            )
            .await
            .expect("a code on return_to");
        let res = self
            .http
            .post(self.url("/v1/auth/token"))
            .json(&json!({"grant_type": "authorization_code", "code": code, "code_verifier": verifier}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            200,
            "token exchange: {}",
            res.text().await.unwrap()
        );
        let tokens: Value = res.json().await.unwrap();
        let token = tokens["access_token"].as_str().unwrap().to_owned();
        let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
        let me: Value = self
            .http
            .get(self.url("/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session_id = refresh_token.split('.').nth(1).unwrap().to_owned();
        TestUser {
            id: me["id"].as_str().unwrap().to_owned(),
            username: username.to_owned(),
            token,
            refresh_token,
            session_id,
        }
    }

    /// A client with a cookie jar and no automatic redirects: a browser we can step through.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .pool_idle_timeout(IDLE)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Walks login → TikTok (auto-approve as `username`) → callback with `browser`; returns
    /// the final `Location` (on `return_to`) parsed for `code`, or panics on another outcome.
    pub async fn authorize(
        &self,
        browser: &reqwest::Client,
        return_to: &str,
        extra: &str,
        username: &str,
    ) -> Option<String> {
        let location = self
            .walk_login(
                browser,
                return_to,
                extra,
                &format!("&sandbox_auto=approve&sandbox_user={username}"),
            )
            .await;
        let url = reqwest::Url::parse(&location).unwrap();
        url.query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
    }

    /// The three redirects of a sign-in; returns where the callback sent the browser.
    pub async fn walk_login(
        &self,
        browser: &reqwest::Client,
        return_to: &str,
        extra: &str,
        tiktok_extra: &str,
    ) -> String {
        let login = browser
            .get(self.url(&format!(
                "/v1/auth/tiktok/login?return_to={}{extra}",
                urlencode(return_to)
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(
            login.status(),
            302,
            "login: {}",
            login.text().await.unwrap()
        );
        let to_tiktok = login.headers()["location"].to_str().unwrap().to_owned();
        let consent = browser
            .get(format!("{to_tiktok}{tiktok_extra}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            consent.status(),
            302,
            "sandbox consent: {}",
            consent.text().await.unwrap()
        );
        let to_callback = consent.headers()["location"].to_str().unwrap().to_owned();
        let callback = browser.get(&to_callback).send().await.unwrap();
        assert_eq!(
            callback.status(),
            302,
            "callback: {}",
            callback.text().await.unwrap()
        );
        callback.headers()["location"].to_str().unwrap().to_owned()
    }

    /// Signs in like the SPA (cookie mode); returns the browser holding the session cookies
    /// and the session's CSRF token.
    pub async fn sign_in_browser(&self, username: &str) -> (reqwest::Client, String) {
        let browser = self.browser();
        let return_to = format!("{}/app", self.origin());
        let location = self
            .walk_login(
                &browser,
                &return_to,
                "",
                &format!("&sandbox_auto=approve&sandbox_user={username}"),
            )
            .await;
        assert_eq!(location, return_to, "back on return_to without an error");
        let csrf: Value = browser
            .get(self.url("/v1/auth/csrf"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (browser, csrf["csrf_token"].as_str().unwrap().to_owned())
    }

    fn var(&self, name: &str) -> String {
        self.env
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
            .unwrap_or_else(|| panic!("{name} must be set for the tests (scripts/test sets it)"))
    }

    /// Signs a token like the API's own (same key, kid, iss) for `sub` and session `sid`,
    /// valid for `ttl_secs` (negative: already expired).
    pub fn mint_token(
        &self,
        sub: &str,
        sid: &str,
        ttl_secs: i64,
        audience: Option<&str>,
    ) -> String {
        let keys = self.var("POSTIQO_JWT_KEYS");
        let first = keys.split(',').next().unwrap();
        let (kid, secret) = first.split_once(':').unwrap();
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret)
            .unwrap();
        let public = self.var("POSTIQO_PUBLIC_URL");
        let iss = public.trim_end_matches('/');
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": iss,
            "aud": audience.unwrap_or("postiqo-api"),
            "sub": sub,
            "sid": sid,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_secs,
        });
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret)).unwrap()
    }

    /// A sandbox admin call (`/_sandbox/...`).
    pub async fn sandbox(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}/_sandbox{path}", self.sandbox_url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        assert!(
            res.status().is_success(),
            "sandbox {path}: {}",
            res.status()
        );
        res.json().await.unwrap_or(Value::Null)
    }

    pub async fn create_video(
        &self,
        user: &TestUser,
        title: &str,
        content_type: &str,
        size: u64,
    ) -> reqwest::Response {
        self.http
            .post(self.url("/v1/videos"))
            .bearer_auth(&user.token)
            .json(&json!({"title": title, "content_type": content_type, "size_bytes": size}))
            .send()
            .await
            .unwrap()
    }

    /// Creates a video and returns the response body (asserting 201).
    pub async fn create_video_ok(
        &self,
        user: &TestUser,
        title: &str,
        content_type: &str,
        size: u64,
    ) -> Value {
        let res = self.create_video(user, title, content_type, size).await;
        assert_eq!(
            res.status(),
            201,
            "create failed: {}",
            res.text().await.unwrap()
        );
        res.json().await.unwrap()
    }

    /// Sends `body` with a presigned request description (`method`, `url`, `headers`).
    pub async fn send_presigned(&self, req: &Value, body: Vec<u8>) -> reqwest::Response {
        let method =
            reqwest::Method::from_bytes(req["method"].as_str().unwrap().as_bytes()).unwrap();
        let mut builder = self.http.request(method, req["url"].as_str().unwrap());
        if let Some(headers) = req["headers"].as_object() {
            for (k, v) in headers {
                // reqwest sets Content-Length itself from the body.
                if !k.eq_ignore_ascii_case("content-length") {
                    builder = builder.header(k, v.as_str().unwrap());
                }
            }
        }
        builder.body(body).send().await.unwrap()
    }

    pub async fn complete_upload(
        &self,
        user: &TestUser,
        video_id: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.url(&format!("/v1/videos/{video_id}/upload-complete")))
            .bearer_auth(&user.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    pub async fn get_video(&self, user: &TestUser, video_id: &str) -> reqwest::Response {
        self.http
            .get(self.url(&format!("/v1/videos/{video_id}")))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap()
    }

    /// `GET path` with a bearer token, as JSON (whatever the status).
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Polls the video until it reaches `status` (or fails the test after `secs`).
    pub async fn wait_for_status(
        &self,
        user: &TestUser,
        video_id: &str,
        status: &str,
        secs: u64,
    ) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let v: Value = self.get_video(user, video_id).await.json().await.unwrap();
            if v["status"] == status {
                return v;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "video never reached {status}: {v}\n{}",
                self.process
                    .lines()
                    .into_iter()
                    .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `POST /v1/videos/{id}/publish` with an idempotency key and settings.
    pub async fn publish(
        &self,
        user: &TestUser,
        video_id: &str,
        key: &str,
        body: Value,
    ) -> reqwest::Response {
        self.http
            .post(self.url(&format!("/v1/videos/{video_id}/publish")))
            .bearer_auth(&user.token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `GET /metrics` on this app's `POSTIQO_METRICS_BIND` (set it with `.env`), checked to be
    /// a valid Prometheus text exposition.
    pub async fn scrape(&self) -> crate::Scrape {
        let addr = self
            .env
            .get("POSTIQO_METRICS_BIND")
            .expect("this app was built with POSTIQO_METRICS_BIND");
        let res = self
            .http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        let text = res.text().await.unwrap();
        crate::Scrape::parse(&text)
            .unwrap_or_else(|e| panic!("not a valid exposition: {e}\n{text}"))
    }

    /// Kills the API (SIGKILL: no graceful anything) and starts it again with the same
    /// settings, table, bucket and address.
    pub async fn restart_api(&mut self) {
        self.process.kill();
        let mut cmd = Command::new(bin_path("postiqo-api"));
        cmd.envs(&self.env);
        let mut process = ChildProcess::spawn(cmd);
        process.wait_for_line("\"listening\"", Duration::from_secs(30));
        self.process = process;
        // Pooled connections went to the dead process.
        self.http = reqwest::Client::builder()
            .pool_idle_timeout(IDLE)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
    }

    /// Another API instance on the same table, bucket and sandbox, on its own port.
    pub fn spawn_peer(&self) -> (ChildProcess, String) {
        self.spawn_peer_with(&[])
    }

    /// Another API instance like [`Self::spawn_peer`], with some variables of its own.
    pub fn spawn_peer_with(&self, vars: &[(&str, &str)]) -> (ChildProcess, String) {
        let port = crate::free_port();
        let mut cmd = self.command(vars);
        cmd.env("POSTIQO_BIND", format!("127.0.0.1:{port}"));
        let mut process = ChildProcess::spawn(cmd);
        process.wait_for_line("\"listening\"", Duration::from_secs(30));
        (process, format!("http://127.0.0.1:{port}"))
    }

    /// `postiqo-api worker` (the worker alone, no HTTP) on this app's table, bucket and
    /// sandbox, with some variables of its own.
    pub fn spawn_worker(&self, vars: &[(&str, &str)]) -> ChildProcess {
        let mut cmd = self.command(vars);
        cmd.arg("worker");
        let mut process = ChildProcess::spawn(cmd);
        process.wait_for_line("publish worker started", Duration::from_secs(30));
        process
    }

    fn command(&self, vars: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(bin_path("postiqo-api"));
        cmd.envs(&self.env);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd
    }

    /// Changes a variable for the processes started from now on (`restart_api`, peers).
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.insert(key.into(), value.into());
    }

    /// Creates a single-part MP4 video and uploads good bytes to it; returns the video id.
    pub async fn uploaded_video(&self, user: &TestUser, size: usize) -> String {
        let created = self
            .create_video_ok(user, "clip", "video/mp4", size as u64)
            .await;
        let id = created["video"]["id"].as_str().unwrap().to_owned();
        let put = self
            .send_presigned(&created["upload"], crate::mp4_bytes(size))
            .await;
        assert!(
            put.status().is_success(),
            "PUT failed: {}",
            put.text().await.unwrap()
        );
        let done = self.complete_upload(user, &id, None).await;
        assert_eq!(
            done.status(),
            200,
            "complete failed: {}",
            done.text().await.unwrap()
        );
        id
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
