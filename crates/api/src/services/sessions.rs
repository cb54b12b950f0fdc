//! Our sessions as a caller meets them: proving an access token belongs to a live session, and
//! the CSRF check of cookie-authenticated changes.
//!
//! Ending sessions happens in the services whose use case ends them (logout and a reused
//! refresh token in `auth`, disconnect and deletion in `account`); each tells the shared
//! [`SessionCache`] at once, so no handler has to remember to.

use std::sync::Arc;

use postiqo_domain::{SessionId, UserId};
use postiqo_storage::{RepoError, SessionRepository};

use crate::config::AllowedOrigin;
use crate::credentials::JwtCodec;
use crate::credentials::session_cache::SessionCache;
use crate::services::ports::Clock;

/// Why a caller is not authenticated, or a change not allowed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the access token is invalid or expired")]
    InvalidToken(#[source] Option<crate::credentials::jwt::TokenError>),
    /// The session the token belongs to was ended (logout, disconnect, deletion, reuse).
    #[error("the session has ended")]
    Ended,
    #[error("the request's Origin is not an allowed origin")]
    OriginNotAllowed,
    #[error("the CSRF token is missing or wrong")]
    CsrfMismatch,
    #[error(transparent)]
    Storage(#[from] RepoError),
}

/// The caller of a request, proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    pub session_id: SessionId,
}

#[derive(Clone)]
pub struct SessionService {
    sessions: Arc<dyn SessionRepository>,
    jwt: Arc<JwtCodec>,
    cache: Arc<SessionCache>,
    allowed_origins: Arc<[AllowedOrigin]>,
    clock: Arc<dyn Clock>,
}

impl SessionService {
    pub fn new(
        sessions: Arc<dyn SessionRepository>,
        jwt: Arc<JwtCodec>,
        cache: Arc<SessionCache>,
        allowed_origins: Vec<AllowedOrigin>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            sessions,
            jwt,
            cache,
            allowed_origins: allowed_origins.into(),
            clock,
        }
    }

    /// The caller an access token proves, if its session is still alive.
    pub async fn authenticate(&self, token: &str) -> Result<Caller, SessionError> {
        let caller = self.verify(token)?;
        self.ensure_live(&caller).await?;
        Ok(caller)
    }

    /// Who an access token names, by its signature and expiry alone (no I/O).
    pub fn verify(&self, token: &str) -> Result<Caller, SessionError> {
        let (user_id, claims) = self
            .jwt
            .verify(token)
            .map_err(|e| SessionError::InvalidToken(Some(e)))?;
        let session_id = SessionId::parse(&claims.sid).ok_or(SessionError::InvalidToken(None))?;
        Ok(Caller {
            user_id,
            session_id,
        })
    }

    /// Logout, disconnect and account deletion end sessions at once, not when the access
    /// token expires: every request checks that its session still exists (or was found alive
    /// here moments ago).
    pub async fn ensure_live(&self, caller: &Caller) -> Result<(), SessionError> {
        let Caller {
            user_id,
            session_id,
        } = caller;
        if self.cache.is_live(*user_id, session_id) {
            return Ok(());
        }
        // Before the read: an ending landing between the read and `remember` wins.
        let ticket = self.cache.ticket();
        if self
            .sessions
            .get(*user_id, session_id, self.clock.now())
            .await?
            .is_none()
        {
            return Err(SessionError::Ended);
        }
        self.cache.remember(ticket, *user_id, session_id);
        Ok(())
    }

    /// A cookie-authenticated change needs the session's CSRF token and, when the browser
    /// sends one, an allowed `Origin`: a cookie alone never authorises a change.
    pub fn check_csrf(
        &self,
        session: &SessionId,
        origin: Option<&str>,
        presented: Option<&str>,
    ) -> Result<(), SessionError> {
        if let Some(origin) = origin
            && !self.allowed_origins.iter().any(|o| o.as_str() == origin)
        {
            return Err(SessionError::OriginNotAllowed);
        }
        match presented {
            Some(p) if !p.is_empty() && self.jwt.csrf_matches(session.as_str(), p) => Ok(()),
            _ => Err(SessionError::CsrfMismatch),
        }
    }

    /// The CSRF token of a session, for the SPA.
    pub fn csrf_token(&self, session: &SessionId) -> String {
        self.jwt.csrf_token(session.as_str())
    }
}
