//! Signing in with TikTok and our own sessions.
//!
//! Over 600 lines on purpose: the sign-in (state, callback, the account upsert) and our token
//! lifecycle (issue, refresh, the reuse interval, reuse ending the session) share the sealing
//! keys, the session policy and the one-time store, and read as one protocol; each half alone
//! would need the other's internals. Its in-process tests are in `services/tests/`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use postiqo_domain::{Profile, RefreshCheck, Session, SessionId, TikTokLink, User, UserId};
use postiqo_storage::{RepoError, Storage};
use postiqo_tiktok::{ExposeSecret, Pkce, SecretString, TikTokClient, TokenSet, UserField};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};
use url::Url;

use crate::config::AllowedOrigin;
use crate::credentials::JwtCodec;
use crate::credentials::secrets::{digest, random_bytes, random_token, s256, same};
use crate::credentials::session_cache::SessionCache;
use crate::crypto::TokenCipher;
use crate::services::account::purge;
use crate::services::ports::{Clock, SystemClock};
use crate::services::tiktok_access::seal_token_set;

const STATE_KIND: &str = "oauth_state";
const LOGIN_CODE_KIND: &str = "login_code";
const STATE_TTL_SECS: i64 = 600;
const LOGIN_CODE_TTL_SECS: i64 = 60;

/// How the client wants its tokens once TikTok said yes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum LoginMode {
    /// The SPA: HttpOnly cookies.
    Cookie,
    /// Third-party clients: a one-time code on `return_to`, exchanged with its PKCE verifier.
    Code { code_challenge: String },
}

#[derive(Serialize, Deserialize)]
struct StatePayload {
    return_to: String,
    binding_digest: String,
    login: LoginMode,
    /// TikTok PKCE verifier, sealed.
    pkce: Option<(String, String)>,
}

#[derive(Serialize, Deserialize)]
struct LoginCodePayload {
    user_id: String,
    code_challenge: String,
}

pub struct LoginStart {
    pub authorize_url: Url,
    /// Value of the browser-binding cookie.
    pub binding: String,
}

/// Our tokens for one session.
pub struct IssuedTokens {
    pub access_token: String,
    pub access_expires_in: i64,
    pub refresh_token: String,
    pub session_id: SessionId,
    pub csrf_token: String,
}

pub enum LoginOutcome {
    Cookie(IssuedTokens),
    Code(String),
}

pub struct LoginDone {
    pub return_to: Url,
    pub outcome: LoginOutcome,
}

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

/// What the TikTok callback carried.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub scopes: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// How our sessions behave.
#[derive(Debug, Clone)]
pub struct SessionPolicy {
    /// Origins a sign-in may return to (the SPA's).
    pub allowed_origins: Vec<AllowedOrigin>,
    /// Lifetime of a refresh token (restarts at every rotation).
    pub ttl: std::time::Duration,
    /// How long a retired refresh token still yields the current tokens (two tabs).
    pub reuse_interval: std::time::Duration,
}

pub struct SignInService {
    storage: Storage,
    tiktok: Arc<TikTokClient>,
    cipher: Arc<TokenCipher>,
    jwt: Arc<JwtCodec>,
    session_cache: Arc<SessionCache>,
    clock: Arc<dyn Clock>,
    allowed_origins: Vec<AllowedOrigin>,
    session_ttl: chrono::Duration,
    reuse_interval: chrono::Duration,
}

impl SignInService {
    pub fn new(
        storage: Storage,
        tiktok: Arc<TikTokClient>,
        cipher: Arc<TokenCipher>,
        jwt: Arc<JwtCodec>,
        session_cache: Arc<SessionCache>,
        policy: SessionPolicy,
    ) -> Self {
        Self {
            storage,
            tiktok,
            cipher,
            jwt,
            session_cache,
            clock: Arc::new(SystemClock),
            allowed_origins: policy.allowed_origins,
            session_ttl: chrono::Duration::from_std(policy.ttl)
                .unwrap_or(chrono::Duration::days(30)),
            reuse_interval: chrono::Duration::from_std(policy.reuse_interval)
                .unwrap_or(chrono::Duration::zero()),
        }
    }

    /// The same service on another clock (tests of expiry and reuse windows).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// `return_to` must be an absolute http(s) URL on an allowed origin: no open redirect.
    pub fn check_return_to(&self, raw: &str) -> Result<Url, SignInError> {
        let invalid = || SignInError::ReturnToNotAllowed {
            allowed: self
                .allowed_origins
                .iter()
                .map(|o| o.as_str().to_owned())
                .collect(),
        };
        let url = Url::parse(raw).map_err(|_| invalid())?;
        let origin = url.origin().ascii_serialization();
        let ok = matches!(url.scheme(), "http" | "https")
            && url.username().is_empty()
            && url.password().is_none()
            && self.allowed_origins.iter().any(|o| o.as_str() == origin);
        if ok { Ok(url) } else { Err(invalid()) }
    }

    pub async fn begin_login(
        &self,
        return_to: &str,
        login: LoginMode,
        existing_binding: Option<&str>,
    ) -> Result<LoginStart, SignInError> {
        let return_to = self.check_return_to(return_to)?;
        if let LoginMode::Code { code_challenge } = &login {
            let valid = code_challenge.len() == 43
                && code_challenge
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(SignInError::InvalidCodeChallenge);
            }
        }
        // One binding per browser: reuse it so two tabs signing in at once both succeed.
        let binding = existing_binding
            .filter(|b| {
                b.len() == 43
                    && b.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
            })
            .map(str::to_owned)
            .unwrap_or_else(|| random_token(32));
        let state = random_token(32);
        let pkce = Pkce::generate(self.tiktok.config().pkce);
        let sealed_verifier = match &pkce {
            Some((verifier, _)) => Some((
                self.cipher.current_key_id().to_owned(),
                self.cipher
                    .seal(&SecretString::from(verifier.secret().clone()), "pkce")
                    .map_err(|e| SignInError::Sealing(Box::new(e)))?,
            )),
            None => None,
        };
        let payload = StatePayload {
            return_to: return_to.to_string(),
            binding_digest: digest(&binding),
            login,
            pkce: sealed_verifier,
        };
        let payload =
            serde_json::to_string(&payload).map_err(|e| SignInError::Sealing(Box::new(e)))?;
        self.storage
            .one_time
            .put(
                STATE_KIND,
                &digest(&state),
                &payload,
                self.now() + chrono::Duration::seconds(STATE_TTL_SECS),
            )
            .await?;
        let challenge = pkce.as_ref().map(|(_, c)| c);
        Ok(LoginStart {
            authorize_url: self.tiktok.authorize_url(&state, challenge),
            binding,
        })
    }

    /// Handles TikTok's redirect back. Nothing is written unless every step succeeded.
    pub async fn complete_login(
        &self,
        params: CallbackParams,
        binding: Option<&str>,
        user_agent: Option<String>,
    ) -> Result<LoginDone, LoginFailure> {
        let no_return = |error| LoginFailure {
            return_to: None,
            error,
        };
        let state = params
            .state
            .as_deref()
            .ok_or(no_return(SignInFailure::InvalidState))?;
        let stored = match self
            .storage
            .one_time
            .take(STATE_KIND, &digest(state), self.now())
            .await
        {
            Ok(Some(p)) => p,
            Ok(None) => return Err(no_return(SignInFailure::InvalidState)),
            Err(e) => {
                warn!(error = ?e, "sign-in state could not be read");
                return Err(no_return(SignInFailure::Server));
            }
        };
        let payload: StatePayload =
            serde_json::from_str(&stored).map_err(|_| no_return(SignInFailure::InvalidState))?;
        let return_to =
            Url::parse(&payload.return_to).map_err(|_| no_return(SignInFailure::InvalidState))?;
        let fail = |error| LoginFailure {
            return_to: Some(return_to.clone()),
            error,
        };
        // The state must come back to the browser that asked for it (login CSRF).
        let Some(binding) = binding else {
            warn!(
                return_to = %return_to.origin().ascii_serialization(),
                "sign-in callback without the state cookie: the sign-in was started on another host than POSTIQO_PUBLIC_URL's, or the browser dropped the cookie"
            );
            return Err(fail(SignInFailure::StateCookieMissing));
        };
        if !same(&digest(binding), &payload.binding_digest) {
            warn!("sign-in callback with another browser's state cookie: refused (login CSRF)");
            return Err(fail(SignInFailure::InvalidState));
        }
        if let Some(error) = params.error.as_deref() {
            info!(tiktok_error = error, "TikTok sign-in not completed");
            return Err(fail(if error == "access_denied" {
                SignInFailure::AccessDenied
            } else {
                SignInFailure::TikTok
            }));
        }
        let code = params
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or(fail(SignInFailure::TikTok))?;
        let verifier = match &payload.pkce {
            Some((kid, sealed)) => Some(
                self.cipher
                    .open(kid, sealed, "pkce")
                    .map_err(|_| fail(SignInFailure::InvalidState))?,
            ),
            None => None,
        };
        let tokens = self
            .tiktok
            .exchange_code(code, verifier.as_ref().map(|v| v.expose_secret()))
            .await
            .map_err(|e| {
                warn!(error = %e, "TikTok code exchange failed");
                fail(SignInFailure::TikTok)
            })?;
        let user = self.upsert_user(&tokens).await.map_err(|e| {
            warn!(error = ?e, "sign-in could not be stored");
            fail(e)
        })?;
        let outcome = match payload.login {
            LoginMode::Cookie => LoginOutcome::Cookie(
                self.create_session(user.id, user_agent)
                    .await
                    .map_err(|_| fail(SignInFailure::Server))?,
            ),
            LoginMode::Code { code_challenge } => {
                let code = random_token(32);
                let p = serde_json::to_string(&LoginCodePayload {
                    user_id: user.id.to_string(),
                    code_challenge,
                })
                .map_err(|_| fail(SignInFailure::Server))?;
                self.storage
                    .one_time
                    .put(
                        LOGIN_CODE_KIND,
                        &digest(&code),
                        &p,
                        self.now() + chrono::Duration::seconds(LOGIN_CODE_TTL_SECS),
                    )
                    .await
                    .map_err(|_| fail(SignInFailure::Server))?;
                LoginOutcome::Code(code)
            }
        };
        info!(user_id = %user.id, "signed in with TikTok");
        Ok(LoginDone { return_to, outcome })
    }

    /// Creates the account on first sign-in, or refreshes its profile and tokens.
    async fn upsert_user(&self, tokens: &TokenSet) -> Result<User, SignInFailure> {
        let mut fields = UserField::BASIC.to_vec();
        if tokens.has_scope("user.info.profile") {
            fields.push(UserField::Username);
        }
        let info = self
            .tiktok
            .user_info(&tokens.access_token, &fields)
            .await
            .map_err(|e| {
                warn!(error = %e, "TikTok user info failed");
                SignInFailure::TikTok
            })?;
        let open_id = tokens.open_id.as_str().to_owned();
        let at = self.now();
        for _ in 0..3 {
            let existing = self
                .storage
                .users
                .find_by_open_id(&open_id)
                .await
                .map_err(|_| SignInFailure::Server)?;
            if let Some(old) = existing.as_ref().filter(|u| u.is_being_deleted()) {
                // The user asked for this account to be deleted and the deletion did not
                // finish: finish it now, then sign in to a new, empty account. Nothing is
                // revoked at TikTok: the user is granting access again right now.
                let purged = purge(&self.storage, old.id, Some(&old.open_id), None)
                    .await
                    .map_err(|e| {
                        warn!(user_id = %old.id, error = ?e, "pending account deletion could not be finished at sign-in");
                        SignInFailure::Server
                    })?;
                info!(user_id = %old.id, records = purged.records, objects = purged.objects, "pending account deletion finished at sign-in");
                continue;
            }
            let user = match &existing {
                Some(u) => User {
                    scopes: tokens.scope.clone(),
                    ..u.clone().with_profile(
                        Profile {
                            username: info.username.clone(),
                            display_name: info.display_name.clone(),
                            avatar_url: info.avatar_url.clone(),
                        },
                        at,
                    )
                },
                None => User {
                    id: UserId::new_v7(
                        u64::try_from(at.timestamp_millis()).unwrap_or(0),
                        random_bytes(),
                    ),
                    open_id: open_id.clone(),
                    username: info.username.clone(),
                    display_name: info.display_name.clone(),
                    avatar_url: info.avatar_url.clone(),
                    scopes: tokens.scope.clone(),
                    tiktok: TikTokLink::Connected,
                    created_at: at,
                    updated_at: at,
                    deletion_requested_at: None,
                },
            };
            let sealed = seal_token_set(&self.cipher, user.id, tokens, 1)
                .map_err(|_| SignInFailure::Server)?;
            let result = match existing {
                Some(_) => self.storage.users.update_with_tokens(&user, &sealed).await,
                None => self.storage.users.create_with_tokens(&user, &sealed).await,
            };
            match result {
                Ok(()) => return Ok(user),
                // A concurrent first sign-in of the same TikTok user won (use its account), or
                // a deletion was requested meanwhile (finish it): look again.
                Err(RepoError::Conflict) => continue,
                Err(_) => return Err(SignInFailure::Server),
            }
        }
        Err(SignInFailure::Server)
    }

    pub async fn create_session(
        &self,
        user: UserId,
        user_agent: Option<String>,
    ) -> Result<IssuedTokens, SignInError> {
        let at = self.now();
        let id = SessionId::from_random(random_bytes());
        let secret = random_token(32);
        let session = Session {
            id: id.clone(),
            user,
            created_at: at,
            last_used_at: at,
            user_agent: user_agent.map(|ua| ua.chars().take(256).collect()),
            expires_at: at + self.session_ttl,
            refresh_hash: digest(&secret),
            used_hashes: Vec::new(),
            previous: None,
        };
        self.storage.sessions.create(&session).await?;
        self.issue(user, &id, &secret, at)
    }

    fn issue(
        &self,
        user: UserId,
        id: &SessionId,
        secret: &str,
        at: DateTime<Utc>,
    ) -> Result<IssuedTokens, SignInError> {
        let access_token = self
            .jwt
            .issue(user, id.as_str(), at)
            .map_err(|e| SignInError::Sealing(Box::new(e)))?;
        Ok(IssuedTokens {
            access_token,
            access_expires_in: i64::try_from(self.jwt.ttl().as_secs()).unwrap_or(900),
            refresh_token: format!("{user}.{id}.{secret}"),
            session_id: id.clone(),
            csrf_token: self.jwt.csrf_token(id.as_str()),
        })
    }

    /// Third-party clients trade the one-time login code (and their PKCE verifier) for tokens.
    pub async fn exchange_login_code(
        &self,
        code: &str,
        verifier: &str,
        user_agent: Option<String>,
    ) -> Result<IssuedTokens, SignInError> {
        let invalid = || SignInError::InvalidGrant;
        let payload = self
            .storage
            .one_time
            .take(LOGIN_CODE_KIND, &digest(code), self.now())
            .await?
            .ok_or_else(invalid)?;
        let payload: LoginCodePayload = serde_json::from_str(&payload).map_err(|_| invalid())?;
        if !same(&s256(verifier), &payload.code_challenge) {
            return Err(invalid());
        }
        let user: UserId = payload.user_id.parse().map_err(|_| invalid())?;
        // The account may have been deleted (or its deletion started) since the code was
        // issued: a session must not be created in a partition that is being emptied.
        match self.storage.users.get(user).await? {
            Some(u) if !u.is_being_deleted() => {}
            _ => return Err(invalid()),
        }
        self.create_session(user, user_agent).await
    }

    /// Splits `user.session.secret`.
    pub fn parse_refresh_token(token: &str) -> Option<(UserId, SessionId, &str)> {
        let mut parts = token.splitn(3, '.');
        let user = parts.next()?.parse().ok()?;
        let session = SessionId::parse(parts.next()?)?;
        let secret = parts.next().filter(|s| !s.is_empty())?;
        Some((user, session, secret))
    }

    /// The session a refresh token currently belongs to, without rotating it; `None` for a
    /// spent, unknown or expired token.
    pub async fn session_of_refresh_token(
        &self,
        token: &str,
    ) -> Result<Option<SessionId>, SignInError> {
        let Some((user, id, secret)) = Self::parse_refresh_token(token) else {
            return Ok(None);
        };
        let at = self.now();
        Ok(match self.storage.sessions.get(user, &id, at).await? {
            Some(s)
                if matches!(
                    s.check_refresh(&digest(secret), at, self.reuse_interval),
                    RefreshCheck::Current | RefreshCheck::Reissue
                ) =>
            {
                Some(id)
            }
            _ => None,
        })
    }

    /// Rotates the refresh token. A token that was already used ends the whole session,
    /// unless it is the one the last rotation retired and that rotation is younger than the
    /// reuse interval: then it is a second tab or a retried request, and it gets the same
    /// successor the first use got.
    pub async fn refresh(&self, token: &str) -> Result<IssuedTokens, SignInError> {
        let invalid = || SignInError::InvalidRefreshToken;
        let (user, id, secret) = Self::parse_refresh_token(token).ok_or_else(invalid)?;
        let presented = digest(secret);
        // A lost race for the rotation is read again once: the winner's write is then there.
        for first_try in [true, false] {
            let at = self.now();
            let session = self
                .storage
                .sessions
                .get(user, &id, at)
                .await?
                .ok_or_else(invalid)?;
            match session.check_refresh(&presented, at, self.reuse_interval) {
                RefreshCheck::Current => {}
                RefreshCheck::Reissue => return self.reissue(&session, secret, at),
                RefreshCheck::Reused => return Err(self.end_reused(user, &id).await),
                RefreshCheck::Unknown | RefreshCheck::Expired => return Err(invalid()),
            }
            let new_secret = self.jwt.next_refresh_secret(secret);
            let rotated = session.rotated(digest(&new_secret), at, self.session_ttl);
            match self.storage.sessions.replace(&rotated, &presented).await {
                Ok(()) => return self.issue(user, &id, &new_secret, at),
                Err(RepoError::Conflict) if first_try => continue,
                Err(RepoError::Conflict) => return Err(self.end_reused(user, &id).await),
                Err(e) => return Err(e.into()),
            }
        }
        Err(invalid())
    }

    /// The current tokens for a retired refresh token presented within the reuse interval.
    fn reissue(
        &self,
        session: &Session,
        presented_secret: &str,
        at: DateTime<Utc>,
    ) -> Result<IssuedTokens, SignInError> {
        let current = self
            .jwt
            .next_refresh_secret_candidates(presented_secret)
            .into_iter()
            .find(|c| same(&digest(c), &session.refresh_hash));
        match current {
            Some(secret) => {
                info!(user_id = %session.user, "retired refresh token presented within the reuse interval: current tokens reissued");
                self.issue(session.user, &session.id, &secret, at)
            }
            // Rotated under a key that is no longer configured: nothing to hand out, and no
            // sign of theft either.
            None => Err(SignInError::InvalidRefreshToken),
        }
    }

    async fn end_reused(&self, user: UserId, id: &SessionId) -> SignInError {
        warn!(user_id = %user, "refresh token reused after the reuse interval: session ended");
        let ended = self.storage.sessions.delete(user, id).await;
        // This instance stops trusting it at once, whatever the delete said.
        self.session_cache.forget(user, id);
        match ended {
            Ok(()) => SignInError::RefreshTokenReused,
            Err(e) => e.into(),
        }
    }

    pub async fn logout(&self, user: UserId, session: &SessionId) -> Result<(), SignInError> {
        self.storage.sessions.delete(user, session).await?;
        self.session_cache.forget(user, session);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_parse_strictly() {
        let user = UserId::new_v7(1, [1; 10]);
        let sid = SessionId::from_random([2; 16]);
        let token = format!("{user}.{sid}.secret-part");
        let (u, s, secret) = SignInService::parse_refresh_token(&token).expect("parse");
        assert_eq!((u, s, secret), (user, sid.clone(), "secret-part"));
        assert!(SignInService::parse_refresh_token("garbage").is_none());
        assert!(SignInService::parse_refresh_token(&format!("{user}.{sid}.")).is_none());
        assert!(SignInService::parse_refresh_token(&format!("{user}.USER#x.secret")).is_none());
    }
}
