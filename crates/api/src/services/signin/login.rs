//! Signing in with TikTok: the OAuth state bound to the browser, the callback, the account
//! upsert, and the one-time login codes third-party clients exchange with their PKCE verifier.

use postiqo_domain::{Profile, TikTokLink, User, UserId};
use postiqo_storage::RepoError;
use postiqo_tiktok::{ExposeSecret, Pkce, SecretString, TokenSet, UserField};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};
use url::Url;

use super::{IssuedTokens, LoginFailure, SignInError, SignInFailure, SignInService};
use crate::credentials::secrets::{digest, random_bytes, random_token, s256, same};
use crate::services::account::purge;
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

pub enum LoginOutcome {
    Cookie(IssuedTokens),
    Code(String),
}

pub struct LoginDone {
    pub return_to: Url,
    pub outcome: LoginOutcome,
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

impl SignInService {
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
}
