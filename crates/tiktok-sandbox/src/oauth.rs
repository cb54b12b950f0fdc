//! Login Kit (fact sheet §1): authorize page, token endpoint, revoke.
//!
//! OAuth error statuses are not documented by TikTok (UNCONFIRMED); the sandbox uses the
//! RFC 6749 ones: `invalid_client` 401, everything else 400. The `error_as_200` fault
//! replays TikTok's observed HTTP-200 error answers.

use std::{collections::HashMap, time::Instant};

use actix_web::{
    HttpRequest, HttpResponse, get,
    http::{StatusCode, header},
    post, web,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::json;
use sha2::{Digest, Sha256};
use url::Url;

use crate::{
    config::PkceEncoding,
    consent, ids,
    model::{AuthCode, TestUser, UserSpec},
    respond::{Reject, oauth_error, pairs},
    state::{AppState, Inner},
};

pub(crate) const REQUIRED_SCOPE: &str = "user.info.basic";
const KNOWN_SCOPES: &[&str] = &[
    "user.info.basic",
    "user.info.profile",
    "user.info.stats",
    "video.publish",
    "video.upload",
    "video.list",
];

/// A validated authorize request.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizeRequest {
    pub client_key: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
}

/// Checks what TikTok checks before showing consent; `Err` names the offending parameter.
fn validate(
    state: &AppState,
    inner: &Inner,
    p: &HashMap<String, String>,
) -> Result<AuthorizeRequest, (&'static str, String)> {
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or_default();
    if get("client_key") != state.client_key {
        return Err(("client_key", "Unknown client_key.".into()));
    }
    let redirect_uri = get("redirect_uri");
    let parsed =
        Url::parse(redirect_uri).map_err(|_| ("redirect_uri", "Not an absolute URL.".into()))?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.fragment().is_some()
        || redirect_uri.len() >= 512
    {
        return Err((
            "redirect_uri",
            "Must be http(s), without fragment, < 512 chars.".into(),
        ));
    }
    let registered = &inner.settings.redirect_uris;
    if !registered.is_empty() && !registered.iter().any(|r| r == redirect_uri) {
        return Err(("redirect_uri", "Not a registered redirect URI.".into()));
    }
    if get("response_type") != "code" {
        return Err(("response_type", "Must be `code`.".into()));
    }
    let scopes: Vec<String> = get("scope")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() || scopes.iter().any(|s| !KNOWN_SCOPES.contains(&s.as_str())) {
        return Err((
            "scope",
            format!("Known scopes: {}.", KNOWN_SCOPES.join(",")),
        ));
    }
    let code_challenge = p.get("code_challenge").filter(|c| !c.is_empty()).cloned();
    match &code_challenge {
        Some(c) => {
            if get("code_challenge_method") != "S256" {
                return Err(("code_challenge_method", "Only S256 is supported.".into()));
            }
            let ok_chars = c
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if !(43..=128).contains(&c.len()) || !ok_chars {
                return Err(("code_challenge", "Malformed code_challenge.".into()));
            }
        }
        None if inner.settings.require_pkce => {
            return Err(("code_challenge", "PKCE is required for this app.".into()));
        }
        None => {}
    }
    Ok(AuthorizeRequest {
        client_key: state.client_key.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        state: p.get("state").cloned(),
        code_challenge,
    })
}

fn redirect(to: &str, params: &[(&str, &str)]) -> HttpResponse {
    let Ok(mut url) = Url::parse(to) else {
        return consent::error_page("redirect_uri", "Not an absolute URL.");
    };
    url.query_pairs_mut().extend_pairs(params);
    HttpResponse::Found()
        .insert_header((header::LOCATION, url.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

fn deny(req: &AuthorizeRequest) -> HttpResponse {
    let mut params = vec![
        ("error", "access_denied"),
        (
            "error_description",
            "The user denied the authorization request.",
        ),
    ];
    if let Some(s) = &req.state {
        params.push(("state", s));
    }
    redirect(&req.redirect_uri, &params)
}

/// Issues a code for `user` with the granted subset of the requested scopes.
fn approve(
    inner: &mut Inner,
    req: &AuthorizeRequest,
    open_id: String,
    granted: &[String],
) -> HttpResponse {
    let mut scopes: Vec<String> = req
        .scopes
        .iter()
        .filter(|s| s.as_str() == REQUIRED_SCOPE || granted.contains(s))
        .cloned()
        .collect();
    scopes.dedup();
    let code = ids::auth_code();
    inner.codes.insert(
        code.clone(),
        AuthCode {
            open_id,
            scopes: scopes.clone(),
            redirect_uri: req.redirect_uri.clone(),
            code_challenge: req.code_challenge.clone(),
            expires_at: Instant::now() + inner.settings.code_ttl(),
            used: false,
        },
    );
    let scopes = scopes.join(",");
    let mut params = vec![("code", code.as_str()), ("scopes", scopes.as_str())];
    if let Some(s) = &req.state {
        params.push(("state", s));
    }
    redirect(&req.redirect_uri, &params)
}

/// Finds the user, creating it from `spec` when missing.
fn ensure_user(inner: &mut Inner, username: &str, spec: UserSpec) -> String {
    if let Some(u) = inner.user(username) {
        return u.open_id.clone();
    }
    let mut user = TestUser::new(username, inner.settings.daily_post_cap);
    spec.apply(&mut user);
    let open_id = user.open_id.clone();
    inner.users.push(user);
    open_id
}

fn origin(uri: &str) -> String {
    Url::parse(uri)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

/// `GET /v2/auth/authorize/`: consent page, or an immediate answer with `sandbox_auto`.
#[get("/v2/auth/authorize/")]
async fn authorize_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let p = pairs(req.query_string().as_bytes());
    let mut inner = state.lock();
    let auth = match validate(&state, &inner, &p) {
        Ok(a) => a,
        Err((param, detail)) => return consent::error_page(param, &detail),
    };
    // The per-request flag wins; otherwise the sandbox-wide switch (SANDBOX_AUTO_APPROVE).
    let auto_user = inner.settings.auto_approve.clone();
    let decision = match p.get("sandbox_auto").map(String::as_str) {
        None | Some("") if auto_user.is_some() => Some("approve"),
        other => other,
    };
    match decision {
        None | Some("") => consent::page(&auth, &origin(&auth.redirect_uri), &inner.users),
        Some("deny") => deny(&auth),
        Some("approve") => {
            let username = p
                .get("sandbox_user")
                .filter(|u| !u.is_empty())
                .map(String::as_str)
                .or(auto_user.as_deref())
                .unwrap_or("demo_creator");
            let open_id = ensure_user(&mut inner, username, UserSpec::default());
            let granted = match p.get("sandbox_scopes") {
                Some(s) => s.split(',').map(|s| s.trim().to_owned()).collect(),
                None => auth.scopes.clone(),
            };
            approve(&mut inner, &auth, open_id, &granted)
        }
        Some(_) => consent::error_page("sandbox_auto", "Use approve or deny."),
    }
}

/// `POST /v2/auth/authorize/`: the consent form's submission.
#[post("/v2/auth/authorize/")]
async fn authorize_submit(body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let all: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let p: HashMap<String, String> = all.iter().cloned().collect();
    let mut inner = state.lock();
    let auth = match validate(&state, &inner, &p) {
        Ok(a) => a,
        Err((param, detail)) => return consent::error_page(param, &detail),
    };
    if p.get("decision").map(String::as_str) != Some("approve") {
        return deny(&auth);
    }
    let field = |k: &str| {
        p.get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let open_id = match p.get("user").map(String::as_str) {
        Some("__new__") => {
            let Some(username) = field("new_username") else {
                return consent::error_page("new_username", "A new user needs a username.");
            };
            let spec = UserSpec {
                display_name: field("new_display_name"),
                avatar_url: field("new_avatar_url"),
                open_id: field("new_open_id"),
                ..UserSpec::default()
            };
            ensure_user(&mut inner, &username, spec)
        }
        Some(key) => match inner.user(key) {
            Some(u) => u.open_id.clone(),
            None => return consent::error_page("user", "No such test user."),
        },
        None => return consent::error_page("user", "Pick a test user."),
    };
    let granted: Vec<String> = all
        .into_iter()
        .filter(|(k, _)| k == "granted_scope")
        .map(|(_, v)| v)
        .collect();
    approve(&mut inner, &auth, open_id, &granted)
}

fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

fn bad(error: &str, description: &str) -> HttpResponse {
    oauth_error(StatusCode::BAD_REQUEST, error, description)
}

/// Checks the form and the client credentials shared by token and revoke.
fn client_form(
    req: &HttpRequest,
    body: &[u8],
    state: &AppState,
) -> Result<HashMap<String, String>, Reject> {
    if !is_form(req) {
        return Err(Reject::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded.",
        ));
    }
    let p = pairs(body);
    let key_ok = p.get("client_key").is_some_and(|k| *k == state.client_key);
    let secret_ok = p
        .get("client_secret")
        .is_some_and(|s| *s == state.client_secret);
    if !key_ok || !secret_ok {
        return Err(Reject::oauth(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client key or secret is invalid.",
        ));
    }
    Ok(p)
}

fn token_body(inner: &Inner, grant: u64, access: &str, refresh: &str) -> HttpResponse {
    let (open_id, scope) = inner
        .grants
        .get(&grant)
        .map(|g| (g.open_id.clone(), g.scopes.join(",")))
        .unwrap_or_default();
    HttpResponse::Ok().json(json!({
        "access_token": access,
        "expires_in": inner.settings.access_token_ttl_secs,
        "open_id": open_id,
        "refresh_expires_in": inner.settings.refresh_token_ttl_secs,
        "refresh_token": refresh,
        "scope": scope,
        "token_type": "Bearer",
    }))
}

/// Which encoding of SHA-256(verifier) the stored challenge used, if any allowed one matches.
fn pkce_match(challenge: &str, verifier: &str, policy: PkceEncoding) -> Option<&'static str> {
    let digest = Sha256::digest(verifier.as_bytes());
    if policy != PkceEncoding::Base64url && challenge.eq_ignore_ascii_case(&hex::encode(digest)) {
        return Some("hex");
    }
    if policy != PkceEncoding::Hex && challenge == URL_SAFE_NO_PAD.encode(digest) {
        return Some("base64url");
    }
    None
}

fn exchange_code(p: &HashMap<String, String>, inner: &mut Inner) -> HttpResponse {
    let Some(code) = p.get("code").filter(|c| !c.is_empty()) else {
        return bad("invalid_request", "code is required.");
    };
    let now = Instant::now();
    let Some(ac) = inner.codes.get(code).cloned() else {
        return bad("invalid_grant", "Authorization code is invalid.");
    };
    if ac.used {
        return bad("invalid_grant", "Authorization code has already been used.");
    }
    if now >= ac.expires_at {
        return bad("invalid_grant", "Authorization code is expired.");
    }
    if p.get("redirect_uri") != Some(&ac.redirect_uri) {
        return bad(
            "invalid_grant",
            "redirect_uri does not match the authorize request.",
        );
    }
    if let Some(challenge) = &ac.code_challenge {
        let Some(verifier) = p.get("code_verifier").filter(|v| !v.is_empty()) else {
            return bad("invalid_request", "code_verifier is required.");
        };
        match pkce_match(challenge, verifier, inner.settings.pkce_encoding) {
            Some(encoding) => *inner.pkce_matches.entry(encoding).or_default() += 1,
            None => {
                return bad(
                    "invalid_grant",
                    "code_verifier does not match code_challenge.",
                );
            }
        }
    }
    if let Some(stored) = inner.codes.get_mut(code) {
        stored.used = true;
    }
    let grant = inner.new_grant(ac.open_id, ac.scopes);
    let (access, refresh) = inner.issue_tokens(grant, now);
    token_body(inner, grant, &access, &refresh)
}

fn refresh_grant(p: &HashMap<String, String>, inner: &mut Inner) -> HttpResponse {
    let Some(token) = p.get("refresh_token").filter(|t| !t.is_empty()) else {
        return bad("invalid_request", "refresh_token is required.");
    };
    let now = Instant::now();
    let Some(rt) = inner.refresh.get(token).cloned() else {
        return bad("invalid_grant", "Refresh token is invalid.");
    };
    let revoked = inner.grants.get(&rt.grant).is_none_or(|g| g.revoked);
    if rt.rotated || revoked || now >= rt.expires_at {
        return bad("invalid_grant", "Refresh token is invalid or expired.");
    }
    if let Some(stored) = inner.refresh.get_mut(token) {
        stored.rotated = true;
    }
    let (access, refresh) = inner.issue_tokens(rt.grant, now);
    token_body(inner, rt.grant, &access, &refresh)
}

/// `POST /v2/oauth/token/`.
#[post("/v2/oauth/token/")]
async fn token_endpoint(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Reject> {
    let p = client_form(&req, &body, &state)?;
    let mut inner = state.lock();
    Ok(match p.get("grant_type").map(String::as_str) {
        Some("authorization_code") => exchange_code(&p, &mut inner),
        Some("refresh_token") => refresh_grant(&p, &mut inner),
        // Real TikTok issues client tokens for the Research API (§1.7); they open nothing here.
        Some("client_credentials") => HttpResponse::Ok().json(json!({
            "access_token": ids::client_token(),
            "expires_in": 7200,
            "token_type": "Bearer",
        })),
        _ => bad("unsupported_grant_type", "grant_type is not supported."),
    })
}

/// `POST /v2/oauth/revoke/`: ends the whole grant. Unknown tokens succeed (RFC 7009).
#[post("/v2/oauth/revoke/")]
async fn revoke_endpoint(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Reject> {
    let p = client_form(&req, &body, &state)?;
    let Some(token) = p.get("token").filter(|t| !t.is_empty()) else {
        return Ok(bad("invalid_request", "token is required."));
    };
    let mut inner = state.lock();
    let grant = inner
        .access
        .get(token)
        .map(|t| t.grant)
        .or_else(|| inner.refresh.get(token).map(|t| t.grant));
    if let Some(g) = grant.and_then(|g| inner.grants.get_mut(&g)) {
        g.revoked = true;
    }
    Ok(HttpResponse::Ok().json(json!({})))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(authorize_page)
        .service(authorize_submit)
        .service(token_endpoint)
        .service(revoke_endpoint);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_accepts_both_encodings_per_policy() {
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let b64 = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        let hex = "13d31e961a1ad8ec2f16b10c4c982e0876a878ad6df144566ee1894acb70f9c3";
        assert_eq!(pkce_match(b64, v, PkceEncoding::Any), Some("base64url"));
        assert_eq!(pkce_match(hex, v, PkceEncoding::Any), Some("hex"));
        assert_eq!(pkce_match(hex, v, PkceEncoding::Base64url), None);
        assert_eq!(pkce_match(b64, v, PkceEncoding::Hex), None);
        assert_eq!(pkce_match(b64, "other", PkceEncoding::Any), None);
    }
}
