use std::time::Duration;

use postiqo_tiktok::{
    AuthorizationCallback, CallbackError, PkceMode, SecretString, TikTokClient, TikTokConfig,
    TokenSet, parse_authorization_callback,
};
use postiqo_tiktok_sandbox::{
    RunningSandbox, Sandbox, SandboxConfig,
    testkit::{MediaServer, WebhookSink, auto_authorize},
};
use serde_json::Value;
use url::Url;

pub const SECRET: &str = "sbx_client_secret";

pub struct Harness {
    pub sandbox: RunningSandbox,
    pub media: MediaServer,
    pub sink: WebhookSink,
    pub admin: reqwest::Client,
}

pub async fn spawn() -> Harness {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(adjust: impl FnOnce(&mut SandboxConfig)) -> Harness {
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
    Harness {
        sandbox: Sandbox::start(config).await.unwrap(),
        media,
        sink,
        admin: reqwest::Client::new(),
    }
}

impl Harness {
    pub fn config(&self, pkce: PkceMode) -> TikTokConfig {
        let base = self.sandbox.base_url();
        let mut cfg = TikTokConfig::new(
            "sbx_client_key",
            SecretString::from(SECRET),
            Url::parse("https://app.example.com/auth/tiktok/callback").unwrap(),
        );
        cfg.auth_url = Url::parse(&format!("{base}/v2/auth/authorize/")).unwrap();
        cfg.api_base = Url::parse(&base).unwrap();
        cfg.pkce = pkce;
        cfg
    }

    pub fn client(&self) -> TikTokClient {
        TikTokClient::new(self.config(PkceMode::S256)).unwrap()
    }

    /// Runs the browser part of the login with the sandbox's test-approval flag.
    pub async fn callback(
        &self,
        client: &TikTokClient,
        user: &str,
        decision: &str,
        challenge: Option<&postiqo_tiktok::PkceChallenge>,
    ) -> Result<AuthorizationCallback, CallbackError> {
        let url = client.authorize_url("state-123", challenge);
        let location = auto_authorize(url.as_str(), decision, user).await.unwrap();
        parse_authorization_callback(location.query().unwrap_or_default())
    }

    /// Full login (S256 PKCE) as `user`.
    pub async fn login(&self, client: &TikTokClient, user: &str) -> TokenSet {
        let (verifier, challenge) = postiqo_tiktok::Pkce::generate(PkceMode::S256).unwrap();
        let cb = self
            .callback(client, user, "approve", Some(&challenge))
            .await
            .unwrap();
        use postiqo_tiktok::ExposeSecret;
        client
            .exchange_code(cb.code.expose_secret(), Some(verifier.secret()))
            .await
            .unwrap()
    }

    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.admin.request(
            method,
            format!("{}/_sandbox{path}", self.sandbox.base_url()),
        );
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        assert!(
            resp.status().is_success(),
            "admin {path}: {}",
            resp.status()
        );
        resp.json().await.unwrap_or(Value::Null)
    }

    pub async fn stop(self) {
        self.sandbox.stop().await;
        self.media.stop().await;
        self.sink.stop().await;
    }
}
