//! Login Kit for Web (§1).
//!
//! Why the `oauth2` crate only supplies PKCE/CSRF primitives here: its `Client` sends
//! `client_id` (TikTok wants `client_key`), joins scopes with spaces (TikTok wants commas),
//! requires the standard token response (TikTok's adds `open_id`, `refresh_expires_in` and a
//! comma-separated `scope`) and only treats non-2xx answers as errors, while TikTok has
//! answered token errors with HTTP 200 (§1.5). So URLs and token requests are built here
//! and every answer is judged by its body.

use reqwest::header::{ACCEPT, CACHE_CONTROL};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::observe::{Endpoint, observed};
use crate::{
    PkceChallenge, TikTokClient, TikTokError, TokenSet, client::Repeat, envelope::parse_empty_ok,
    token::parse_token_response,
};

impl TikTokClient {
    /// The URL to send the browser to (§1.3). `state` must be unguessable and checked on
    /// the callback; pass the challenge from [`crate::Pkce::generate`] unless PKCE is off.
    pub fn authorize_url(&self, state: &str, pkce_challenge: Option<&PkceChallenge>) -> Url {
        let cfg = &self.config;
        let mut url = cfg.auth_url.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_key", &cfg.client_key)
                .append_pair("scope", &cfg.scopes.join(","))
                .append_pair("redirect_uri", cfg.redirect_uri.as_str())
                .append_pair("state", state)
                .append_pair("response_type", "code");
            if let Some(challenge) = pkce_challenge {
                // TikTok documents only S256, whatever the digest encoding (§1.4).
                q.append_pair("code_challenge", challenge.as_str())
                    .append_pair("code_challenge_method", "S256");
            }
        }
        url
    }

    /// Exchanges the callback's `code` (already URL-decoded) for tokens. Pass the verifier
    /// stored for this `state` whenever a challenge was sent.
    pub async fn exchange_code(
        &self,
        code: &str,
        code_verifier: Option<&str>,
    ) -> Result<TokenSet, TikTokError> {
        let cfg = &self.config;
        let mut form = vec![
            ("client_key", cfg.client_key.as_str()),
            ("client_secret", cfg.client_secret.expose_secret()),
            ("code", code),
            ("grant_type", "authorization_code"),
            ("redirect_uri", cfg.redirect_uri.as_str()),
        ];
        if let Some(verifier) = code_verifier {
            form.push(("code_verifier", verifier));
        }
        observed(Endpoint::TokenExchange, self.token_request(&form)).await
    }

    /// Gets a new access token. TikTok rotates refresh tokens (§1.5): store the returned
    /// `refresh_token` before using the access token, and never refresh one account twice
    /// concurrently.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet, TikTokError> {
        let cfg = &self.config;
        let form = [
            ("client_key", cfg.client_key.as_str()),
            ("client_secret", cfg.client_secret.expose_secret()),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
        ];
        observed(Endpoint::TokenRefresh, self.token_request(&form)).await
    }

    /// Revokes the user's authorization (§1.6); the app leaves the user's connected apps.
    pub async fn revoke(&self, access_token: &SecretString) -> Result<(), TikTokError> {
        let cfg = &self.config;
        let form = [
            ("client_key", cfg.client_key.as_str()),
            ("client_secret", cfg.client_secret.expose_secret()),
            ("token", access_token.expose_secret()),
        ];
        let req = self
            .http
            .post(self.endpoint("/v2/oauth/revoke/"))
            .header(ACCEPT, "application/json")
            .form(&form);
        // Revoking twice leaves the same result: the grant is gone.
        observed(Endpoint::Revoke, async {
            let (status, body) = self.send(req, Repeat::Safe).await?;
            parse_empty_ok(status, &body)
        })
        .await
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenSet, TikTokError> {
        let req = self
            .http
            .post(self.endpoint("/v2/oauth/token/"))
            .header(ACCEPT, "application/json")
            .header(CACHE_CONTROL, "no-cache")
            .form(form);
        let (status, body) = self.send(req, Repeat::Never).await?;
        let result = parse_token_response(status, &body);
        if let Err(e) = &result {
            tracing::warn!(status, log_id = e.log_id(), error = %e, "TikTok token request failed");
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Pkce, PkceMode, TikTokConfig};
    use std::collections::HashMap;

    fn client() -> TikTokClient {
        let cfg = TikTokConfig::new(
            "ck",
            SecretString::from("cs"),
            Url::parse("https://app.example.com/auth/tiktok/callback").expect("url"),
        );
        TikTokClient::new(cfg).expect("client")
    }

    fn query(url: &Url) -> HashMap<String, String> {
        url.query_pairs().into_owned().collect()
    }

    #[test]
    fn authorize_url_without_pkce() {
        let url = client().authorize_url("st&ate", None);
        assert!(
            url.as_str()
                .starts_with("https://www.tiktok.com/v2/auth/authorize/?")
        );
        let q = query(&url);
        assert_eq!(q["client_key"], "ck");
        assert_eq!(
            q["scope"],
            "user.info.basic,user.info.profile,video.publish,video.upload"
        );
        assert_eq!(
            q["redirect_uri"],
            "https://app.example.com/auth/tiktok/callback"
        );
        assert_eq!(q["state"], "st&ate");
        assert_eq!(q["response_type"], "code");
        assert!(!q.contains_key("code_challenge"));
        assert!(!url.as_str().contains("client_id"));
    }

    #[test]
    fn authorize_url_with_pkce() {
        for mode in [PkceMode::S256, PkceMode::S256Hex] {
            let (_, challenge) = Pkce::generate(mode).expect("on");
            let q = query(&client().authorize_url("s", Some(&challenge)));
            assert_eq!(q["code_challenge"], challenge.as_str());
            assert_eq!(q["code_challenge_method"], "S256");
        }
    }

    #[test]
    fn endpoint_keeps_base_path() {
        let mut c = client();
        c.config.api_base = Url::parse("http://127.0.0.1:9090/tiktok/").expect("url");
        assert_eq!(
            c.endpoint("/v2/oauth/token/").as_str(),
            "http://127.0.0.1:9090/tiktok/v2/oauth/token/"
        );
        c.config.api_base = Url::parse("https://open.tiktokapis.com").expect("url");
        assert_eq!(
            c.endpoint("/v2/user/info/").as_str(),
            "https://open.tiktokapis.com/v2/user/info/"
        );
    }
}
