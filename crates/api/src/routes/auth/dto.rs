use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoginQuery {
    /// Where to send the browser afterwards; must be on an allowed origin.
    pub return_to: String,
    /// `cookie` (default, for the SPA) or `code` (third-party clients: a one-time `code` is
    /// appended to `return_to`, to exchange at `POST /v1/auth/token`).
    #[param(inline)]
    pub mode: Option<LoginModeParam>,
    /// With `mode=code`: base64url(SHA-256(code_verifier)), 43 characters.
    #[param(pattern = "^[A-Za-z0-9_-]{43}$")]
    pub code_challenge: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginModeParam {
    Cookie,
    Code,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub scopes: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Exchange the one-time code from a `mode=code` sign-in. A struct rather than an enum tagged
/// by `grant_type`: the document then says that unknown fields are refused, as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub grant_type: GrantType,
    pub code: String,
    pub code_verifier: String,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// Bearer clients send their refresh token; the SPA sends nothing (its cookie is used).
    pub refresh_token: Option<String>,
}

/// Always `bearer`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BearerKind {
    Bearer,
}

/// Always `cookie`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CookieKind {
    Cookie,
}

/// Tokens for a bearer client.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    #[schema(inline)]
    pub kind: BearerKind,
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
    /// Rotates: every refresh returns a new one; store it before using the new access token.
    /// Presented again within `POSTIQO_REFRESH_REUSE_INTERVAL_SECS` of its rotation it yields
    /// the same successor again; later, it ends the session (`refresh_token_reused`).
    pub refresh_token: String,
}

impl TokenResponse {
    pub fn bearer(access_token: String, expires_in: i64, refresh_token: String) -> Self {
        Self {
            kind: BearerKind::Bearer,
            access_token,
            token_type: "Bearer",
            expires_in,
            refresh_token,
        }
    }
}

/// Answer of a cookie-based refresh: the tokens are in the Set-Cookie headers.
#[derive(Debug, Serialize, ToSchema)]
pub struct CookieSessionResponse {
    #[schema(inline)]
    pub kind: CookieKind,
    /// Seconds until the new access cookie expires.
    #[schema(example = 900)]
    pub expires_in: i64,
    /// Send as `X-CSRF-Token` on unsafe requests authenticated by cookie.
    pub csrf_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CsrfResponse {
    /// Send as `X-CSRF-Token` on unsafe requests authenticated by cookie.
    pub csrf_token: String,
}

/// What `POST /v1/auth/refresh` answers, chosen by `kind`: tokens for bearer clients
/// (`bearer`), or (`cookie`) the new lifetime and CSRF token while the tokens travel in
/// Set-Cookie.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(discriminator(property_name = "kind", mapping(
    ("bearer" = "#/components/schemas/TokenResponse"),
    ("cookie" = "#/components/schemas/CookieSessionResponse")
)))]
pub enum RefreshResponse {
    Bearer(TokenResponse),
    Cookie(CookieSessionResponse),
}
