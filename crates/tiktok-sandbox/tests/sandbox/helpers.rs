use std::{collections::HashMap, time::Duration};

use postiqo_tiktok_sandbox::{
    RunningSandbox, Sandbox, SandboxConfig,
    testkit::{MediaServer, WebhookSink},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub const KEY: &str = "sbx_client_key";
pub const SECRET: &str = "sbx_client_secret";
pub const REDIRECT: &str = "https://app.example.com/auth/tiktok/callback";
pub const ALL_SCOPES: &str = "user.info.basic,user.info.profile,video.publish,video.upload";

pub struct TestSandbox {
    pub sandbox: RunningSandbox,
    pub base: String,
    pub http: reqwest::Client,
    pub media: MediaServer,
    pub sink: WebhookSink,
}

/// A sandbox on a free port with media and webhook helpers wired in.
pub async fn spawn() -> TestSandbox {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(adjust: impl FnOnce(&mut SandboxConfig)) -> TestSandbox {
    let media = MediaServer::start().await.unwrap();
    let sink = WebhookSink::start().await.unwrap();
    let mut config = SandboxConfig {
        bind: "127.0.0.1:0".into(),
        workers: 1,
        verified_url_prefixes: vec![media.prefix()],
        webhook_url: Some(sink.url()),
        moderation_delay: Duration::from_millis(100),
        ..SandboxConfig::default()
    };
    adjust(&mut config);
    let sandbox = Sandbox::start(config).await.unwrap();
    let base = sandbox.base_url();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestSandbox {
        sandbox,
        base,
        http,
        media,
        sink,
    }
}

pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub open_id: String,
    pub body: Value,
}

impl TestSandbox {
    pub fn authorize_url(&self, extra: &[(&str, &str)]) -> String {
        let mut url = url::Url::parse(&format!("{}/v2/auth/authorize/", self.base)).unwrap();
        url.query_pairs_mut()
            .append_pair("client_key", KEY)
            .append_pair("scope", ALL_SCOPES)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("state", "st-1")
            .append_pair("response_type", "code");
        for (k, v) in extra {
            url.query_pairs_mut().append_pair(k, v);
        }
        url.to_string()
    }

    /// GET on an authorize URL; returns status and the Location's query pairs.
    pub async fn authorize(&self, url: &str) -> (StatusCode, HashMap<String, String>) {
        let resp = self.http.get(url).send().await.unwrap();
        let status = resp.status();
        let query = resp
            .headers()
            .get("location")
            .map(|l| {
                url::Url::parse(l.to_str().unwrap())
                    .unwrap()
                    .query_pairs()
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        (status, query)
    }

    /// Auto-approved code for `user`, optionally with a PKCE challenge.
    pub async fn code(&self, user: &str, extra: &[(&str, &str)]) -> String {
        let mut params = vec![("sandbox_auto", "approve"), ("sandbox_user", user)];
        params.extend_from_slice(extra);
        let (status, q) = self.authorize(&self.authorize_url(&params)).await;
        assert_eq!(status, StatusCode::FOUND);
        q["code"].clone()
    }

    pub async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}/v2/oauth/token/", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }

    pub async fn exchange(&self, code: &str, verifier: Option<&str>) -> (StatusCode, Value) {
        let mut form = vec![
            ("client_key", KEY),
            ("client_secret", SECRET),
            ("code", code),
            ("grant_type", "authorization_code"),
            ("redirect_uri", REDIRECT),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.token(&form).await
    }

    pub async fn login_with(&self, user: &str, scopes: &str) -> Tokens {
        let code = self.code(user, &[("sandbox_scopes", scopes)]).await;
        let (status, body) = self.exchange(&code, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        Tokens {
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().unwrap().to_owned(),
            open_id: body["open_id"].as_str().unwrap().to_owned(),
            body,
        }
    }

    pub async fn login(&self, user: &str) -> Tokens {
        self.login_with(user, ALL_SCOPES).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap())
    }

    /// JSON POST to a v2 API; returns status, parsed body and raw text.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value, String) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("Content-Type", "application/json; charset=UTF-8")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap(), text)
    }

    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}/_sandbox{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        assert!(
            resp.status().is_success(),
            "admin {path}: {}",
            resp.status()
        );
        let text = resp.text().await.unwrap();
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }

    pub async fn creator_info(&self, token: &str) -> (StatusCode, Value, String) {
        self.post("/v2/post/publish/creator_info/query/", token, json!({}))
            .await
    }

    pub async fn init(&self, token: &str, privacy: &str, video_url: &str) -> (StatusCode, Value) {
        let (status, body, _) = self
            .post(
                "/v2/post/publish/video/init/",
                token,
                json!({
                    "post_info": {
                        "title": "hello #sandbox", "privacy_level": privacy,
                        "disable_duet": false, "disable_comment": false, "disable_stitch": false,
                        "video_cover_timestamp_ms": 1000,
                        "brand_content_toggle": false, "brand_organic_toggle": false
                    },
                    "source_info": {"source": "PULL_FROM_URL", "video_url": video_url}
                }),
            )
            .await;
        (status, body)
    }

    pub async fn status(&self, token: &str, publish_id: &str) -> (StatusCode, Value, String) {
        self.post(
            "/v2/post/publish/status/fetch/",
            token,
            json!({ "publish_id": publish_id }),
        )
        .await
    }

    /// Waits (through the admin API, which is not rate limited) until the publish record
    /// satisfies `done`, then returns one real status fetch: body and raw text.
    pub async fn wait_status(
        &self,
        token: &str,
        publish_id: &str,
        done: impl Fn(&Value) -> bool,
    ) -> (Value, String) {
        for _ in 0..200 {
            let list = self.admin(reqwest::Method::GET, "/publishes", None).await;
            let record = list
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["publish_id"] == publish_id)
                .cloned()
                .unwrap();
            if done(&record) {
                let (status, body, text) = self.status(token, publish_id).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                return (body, text);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("publish {publish_id} never reached the expected state");
    }

    pub async fn stop(self) {
        self.sandbox.stop().await;
        self.media.stop().await;
        self.sink.stop().await;
    }
}

pub fn code_of(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}
