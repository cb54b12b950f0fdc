//! Our own tokens: issuing a session's, rotating the refresh token (with the reuse interval
//! for a second tab), ending a session whose refresh token was reused, logout.

use chrono::{DateTime, Utc};
use postiqo_domain::{RefreshCheck, Session, SessionId, UserId};
use postiqo_storage::RepoError;
use tracing::{info, warn};

use super::{SignInError, SignInService};
use crate::credentials::secrets::{digest, random_bytes, random_token, same};

/// Our tokens for one session.
pub struct IssuedTokens {
    pub access_token: String,
    pub access_expires_in: i64,
    pub refresh_token: String,
    pub session_id: SessionId,
    pub csrf_token: String,
}

impl SignInService {
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
