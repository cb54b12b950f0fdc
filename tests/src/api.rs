use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::process::{ChildProcess, bin_path};

/// A signed-in test user: an id of ours and an access token for it.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub token: String,
}

#[derive(Clone)]
pub struct TestAppBuilder {
    env: HashMap<String, String>,
}

/// One running `postiqo-api` with its own table and bucket.
pub struct TestApp {
    pub base_url: String,
    pub table: String,
    pub bucket: String,
    pub http: reqwest::Client,
    pub process: ChildProcess,
    env: HashMap<String, String>,
}

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
        env.insert("POSTIQO_BIND".into(), "127.0.0.1:0".into());
        env.insert("RUST_LOG".into(), "info".into());
        Self { env }
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.into(), value.into());
        self
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

    pub async fn spawn_without_bootstrap(self) -> TestApp {
        let mut cmd = Command::new(bin_path("postiqo-api"));
        cmd.envs(&self.env);
        let mut process = ChildProcess::spawn(cmd);
        let line = process.wait_for_line("\"listening\"", Duration::from_secs(30));
        let parsed: Value = serde_json::from_str(&line).expect("listening line is JSON");
        let addr = parsed["address"].as_str().expect("address").to_owned();
        TestApp {
            base_url: format!("http://{addr}"),
            table: self.env["POSTIQO_TABLE"].clone(),
            bucket: self.env["POSTIQO_BUCKET"].clone(),
            http: reqwest::Client::builder()
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

    /// A new user id with an access token signed like the API's own (same key, kid, iss, aud).
    pub fn new_user(&self) -> TestUser {
        let id = uuid::Uuid::now_v7().hyphenated().to_string();
        let token = self.mint_token(&id, 900, None);
        TestUser { id, token }
    }

    fn var(&self, name: &str) -> String {
        self.env
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
            .unwrap_or_else(|| panic!("{name} must be set for the tests (scripts/test sets it)"))
    }

    /// Signs a token for `sub` valid for `ttl_secs` (negative: already expired).
    pub fn mint_token(&self, sub: &str, ttl_secs: i64, audience: Option<&str>) -> String {
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
            "sid": "test-session",
            "iat": now,
            "nbf": now,
            "exp": now + ttl_secs,
        });
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret)).unwrap()
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
