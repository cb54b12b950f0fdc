//! Client for TikTok's Login Kit (OAuth 2.0), User Info and Content Posting APIs.
//!
//! Everything here follows the behaviour of *real* TikTok as written down in
//! `shared/docs/tiktok-api.md` (the "fact sheet"); section numbers in comments refer to it.
//! The local `postiqo-tiktok-sandbox` imitates the same behaviour, so the integration tests
//! of this crate run against it.
//!
//! Entry point: [`TikTokClient`], built from a [`TikTokConfig`]. Webhook helpers
//! ([`verify_webhook_signature`], [`parse_webhook_event`]) are free functions because the
//! API server calls them without a client.

mod callback;
mod client;
mod config;
mod de;
mod envelope;
mod error;
mod ids;
mod oauth;
pub mod observe;
mod pkce;
mod posting;
mod token;
mod user;
mod webhook;

pub use callback::{AuthorizationCallback, CallbackError, parse_authorization_callback};
pub use client::TikTokClient;
pub use config::{
    DEFAULT_API_BASE, DEFAULT_AUTH_URL, DEFAULT_REQUEST_TIMEOUT, DEFAULT_SCOPES, PkceMode,
    PkceModeParseError, TikTokConfig, parse_scopes,
};
pub use error::{ApiErrorCode, DecodeError, OAuthErrorCode, TikTokError};
pub use ids::{OpenId, PostId, PublishId};
pub use pkce::{Pkce, PkceChallenge};
pub use posting::{CreatorInfo, FailReason, PostInfo, PrivacyLevel, PublishState, PublishStatus};
pub use token::TokenSet;
pub use user::{UserField, UserInfo};
pub use webhook::{
    AuthorizationRemovedReason, SignatureWindow, Webhook, WebhookError, WebhookEvent,
    parse_webhook_event, verify_webhook_signature,
};

/// Re-exported so callers generate `state` and keep PKCE verifiers with the same types
/// this crate uses; both redact their value in `Debug`.
pub use oauth2::{CsrfToken, PkceCodeVerifier};
/// Re-exported because tokens and the client secret cross this crate's API as `SecretString`.
pub use secrecy::{ExposeSecret, SecretString};
