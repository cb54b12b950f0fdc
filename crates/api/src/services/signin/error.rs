//! Why signing in or a token operation failed.

use postiqo_storage::RepoError;
use url::Url;

/// Why a sign-in did not complete, as the browser is told (each is one documented `error`
/// value of the redirect back to the SPA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInFailure {
    /// The sign-in state is unknown, used, expired, or another browser's.
    InvalidState,
    /// The callback came without the cookie set when the sign-in started.
    StateCookieMissing,
    /// The user did not allow the sign-in on TikTok.
    AccessDenied,
    /// TikTok did not complete the sign-in (an error, no code, a failed exchange).
    TikTok,
    /// Our side failed (storage, sealing).
    Server,
}

/// A failed callback: where to send the browser (if anywhere is safe) and why.
pub struct LoginFailure {
    pub return_to: Option<Url>,
    pub error: SignInFailure,
}

/// What can go wrong signing in or handling our sessions' tokens.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// `return_to` is not an absolute http(s) URL on an allowed origin.
    #[error("return_to is not on an allowed origin")]
    ReturnToNotAllowed { allowed: Vec<String> },
    #[error("code_challenge is not a base64url S256 challenge")]
    InvalidCodeChallenge,
    /// A one-time login code that is unknown, used, expired or does not match its verifier.
    #[error("the login code is invalid")]
    InvalidGrant,
    #[error("the refresh token is invalid or expired")]
    InvalidRefreshToken,
    /// A refresh token used again after its reuse interval: the session has been ended.
    #[error("the refresh token was already used")]
    RefreshTokenReused,
    #[error("a secret could not be sealed or encoded")]
    Sealing(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Storage(#[from] RepoError),
}
