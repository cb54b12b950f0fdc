//! Getting an access token for the benchmark user. All of it is in [`access_token`], so a
//! change in how the API signs people in is a change here only.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{Context, Result};

/// What the benchmark needs to know to get a token.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub base_url: String,
    /// `POSTIQO_JWT_KEYS`, only used while the API has no sign-in yet.
    pub jwt_keys: String,
    /// `POSTIQO_PUBLIC_URL`, whose origin is the tokens' issuer.
    pub public_url: String,
    /// An origin from `POSTIQO_ALLOWED_ORIGINS`, for `return_to`.
    pub app_origin: String,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    /// Our user id (the token's `sub`): the bare SDK calls address the same partition.
    pub user_id: String,
    /// How the token was obtained, for the report.
    pub how: &'static str,
}

/// An access token for the sandbox's TikTok user `username` (created on first use).
///
/// With sign-in (`/v1/auth/tiktok/login` exists): the PKCE code flow through the TikTok
/// sandbox, auto-approved, then `POST /v1/auth/token`. Before sign-in existed every route took
/// any token signed with the first key of `POSTIQO_JWT_KEYS`, so one is minted instead.
pub async fn access_token(cfg: &AuthConfig, username: &str) -> Result<Session> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("build sign-in client")?;

    let mut verifier_bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut verifier_bytes);
    let verifier = URL_SAFE_NO_PAD.encode(verifier_bytes);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let return_to = format!("{}/done", cfg.app_origin.trim_end_matches('/'));
    let login = reqwest::Url::parse_with_params(
        &format!("{}/v1/auth/tiktok/login", cfg.base_url),
        [
            ("return_to", return_to.as_str()),
            ("mode", "code"),
            ("code_challenge", challenge.as_str()),
        ],
    )
    .context("login URL")?;
    let res = http.get(login).send().await.context("GET login")?;
    if res.status() == reqwest::StatusCode::NOT_FOUND {
        let token = mint(cfg)?;
        return Ok(Session {
            user_id: subject(&token)?,
            token,
            how: "minted JWT (the API has no sign-in route)",
        });
    }
    // login → TikTok (sandbox) authorize page → our callback → return_to?code=...
    let authorize = redirect_target(&res, "login")?;
    let approve = format!("{authorize}&sandbox_auto=approve&sandbox_user={username}");
    let res = http
        .get(&approve)
        .send()
        .await
        .context("GET sandbox authorize")?;
    let callback = redirect_target(&res, "sandbox authorize")?;
    let res = http.get(&callback).send().await.context("GET callback")?;
    let back = reqwest::Url::parse(&redirect_target(&res, "callback")?).context("return_to")?;
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .context("the callback's redirect carries no code")?;
    let res = http
        .post(format!("{}/v1/auth/token", cfg.base_url))
        .json(&json!({
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
        }))
        .send()
        .await
        .context("POST /v1/auth/token")?;
    let status = res.status();
    let body: Value = res.json().await.context("token response")?;
    if !status.is_success() {
        return Err(format!("POST /v1/auth/token: {status}: {body}").into());
    }
    let token = body["access_token"]
        .as_str()
        .context("token response has no access_token")?
        .to_owned();
    Ok(Session {
        user_id: subject(&token)?,
        token,
        how: "TikTok sign-in (sandbox, PKCE code flow)",
    })
}

fn redirect_target(res: &reqwest::Response, step: &str) -> Result<String> {
    if !res.status().is_redirection() {
        return Err(format!("{step}: expected a redirect, got {}", res.status()).into());
    }
    let location = res
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .context(&format!("{step}: redirect without Location"))?;
    // A relative Location is resolved against the request's URL.
    res.url()
        .join(location)
        .map(|u| u.to_string())
        .context(&format!("{step}: bad Location"))
}

/// Signs a token the way the API signs its own (first key, its kid, iss, aud), valid 2 h.
fn mint(cfg: &AuthConfig) -> Result<String> {
    let first = cfg
        .jwt_keys
        .split(',')
        .next()
        .context("POSTIQO_JWT_KEYS is empty")?;
    let (kid, secret) = first
        .trim()
        .split_once(':')
        .context("POSTIQO_JWT_KEYS entry is not kid:secret")?;
    let secret = STANDARD
        .decode(secret)
        .or_else(|_| URL_SAFE_NO_PAD.decode(secret))
        .context("POSTIQO_JWT_KEYS secret is not base64")?;
    let issuer = reqwest::Url::parse(&cfg.public_url)
        .context("POSTIQO_PUBLIC_URL")?
        .origin()
        .ascii_serialization();
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": issuer,
        "aud": "postiqo-api",
        "sub": uuid::Uuid::now_v7().hyphenated().to_string(),
        "sid": "bench",
        "iat": now,
        "nbf": now,
        "exp": now + 7200,
    });
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret)).context("sign JWT")
}

/// The `sub` claim, read without verifying (the API verifies; we only need the id).
fn subject(token: &str) -> Result<String> {
    let payload = token.split('.').nth(1).context("token is not a JWT")?;
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(payload)
            .context("token payload is not base64url")?,
    )
    .context("token payload is not JSON")?;
    claims["sub"]
        .as_str()
        .map(str::to_owned)
        .context("token has no sub")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_carry_a_uuid_subject() {
        let cfg = AuthConfig {
            base_url: "http://127.0.0.1:1".into(),
            jwt_keys: "k:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into(),
            public_url: "http://127.0.0.1:8080".into(),
            app_origin: "http://127.0.0.1:5173".into(),
        };
        let token = mint(&cfg).expect("mint");
        let sub = subject(&token).expect("sub");
        assert!(uuid::Uuid::parse_str(&sub).is_ok());
    }
}
