//! Valid TikTok access tokens for a user: opened from the vault, refreshed shortly before
//! they expire. A refresh lease (a conditional write) makes concurrent callers on any number
//! of instances cause one refresh; the others wait for its result. TikTok rotates refresh
//! tokens, so the new one is stored before anyone uses the new access token.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use postiqo_domain::{TikTokLink, UserId};
use postiqo_storage::{RepoError, Storage, StoredTokens};
use postiqo_tiktok::{SecretString, TikTokClient, TikTokError, TokenSet};
use tracing::{error, info, warn};

use crate::crypto::{CryptoError, TokenCipher};

/// Refresh when fewer than this many seconds of the access token remain.
const REFRESH_MARGIN_SECS: i64 = 120;
/// Longer than a TikTok call may take (its timeout is 15 s), so a lease never expires under
/// a caller that is still refreshing.
const LEASE_SECS: i64 = 30;
/// How long a caller waits for someone else's refresh before giving up.
const WAIT_FOR_REFRESH: Duration = Duration::from_secs(20);

pub fn token_aad(user: UserId, field: &str) -> String {
    format!("{user}:{field}")
}

/// Why no TikTok call could be made, or how it failed, in this module's words. The HTTP edge
/// (`routes::errors`) turns it into a problem document.
#[derive(Debug, thiserror::Error)]
pub enum TikTokAccessError {
    /// No TikTok tokens are stored for the user (never connected, or disconnected).
    #[error("TikTok is not connected for this user")]
    NotConnected,
    /// TikTok refused our refresh token: only a new sign-in helps.
    #[error("TikTok refused the refresh token; the user must sign in again")]
    ReauthRequired,
    /// Another caller's refresh did not finish in time.
    #[error("waited too long for another caller's token refresh")]
    RefreshBusy,
    /// TikTok failed the call (or the refresh before it).
    #[error(transparent)]
    TikTok(TikTokError),
    #[error("TikTok tokens could not be sealed or opened")]
    Crypto(#[source] CryptoError),
    #[error(transparent)]
    Storage(#[from] RepoError),
}

fn expiry(from: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    from + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero())
}

/// Seals a token set for the vault, granted now (a sign-in); a refresh keeps the grant time
/// of the tokens it replaces.
pub fn seal_token_set(
    cipher: &TokenCipher,
    user: UserId,
    tokens: &TokenSet,
    version: u64,
) -> Result<StoredTokens, TikTokAccessError> {
    let at = Utc::now();
    let seal = |secret: &SecretString, field: &str| {
        cipher
            .seal(secret, &token_aad(user, field))
            .map_err(TikTokAccessError::Crypto)
    };
    Ok(StoredTokens {
        key_id: cipher.current_key_id().to_owned(),
        access_ciphertext: seal(&tokens.access_token, "access")?,
        refresh_ciphertext: seal(&tokens.refresh_token, "refresh")?,
        access_expires_at: expiry(at, tokens.expires_in),
        refresh_expires_at: expiry(at, tokens.refresh_expires_in),
        scopes: tokens.scope.clone(),
        granted_at: Some(at),
        version,
        lease_until: None,
    })
}

/// An open access token and the vault version it came from.
pub struct AccessToken {
    pub token: SecretString,
    pub version: u64,
}

#[derive(Clone)]
pub struct TikTokAccess {
    storage: Storage,
    tiktok: Arc<TikTokClient>,
    cipher: Arc<TokenCipher>,
}

impl TikTokAccess {
    pub fn new(storage: Storage, tiktok: Arc<TikTokClient>, cipher: Arc<TokenCipher>) -> Self {
        Self {
            storage,
            tiktok,
            cipher,
        }
    }

    pub fn client(&self) -> &TikTokClient {
        &self.tiktok
    }

    fn open(
        &self,
        user: UserId,
        stored: &StoredTokens,
        field: &str,
    ) -> Result<SecretString, TikTokAccessError> {
        let sealed = if field == "access" {
            &stored.access_ciphertext
        } else {
            &stored.refresh_ciphertext
        };
        self.cipher
            .open(&stored.key_id, sealed, &token_aad(user, field))
            .map_err(TikTokAccessError::Crypto)
    }

    /// Runs `call` with a valid access token; if TikTok says the token is invalid anyway
    /// (revoked or expired early), refreshes once and runs it again.
    pub async fn with_token<T, F, Fut>(&self, user: UserId, call: F) -> Result<T, TikTokAccessError>
    where
        F: Fn(SecretString) -> Fut,
        Fut: std::future::Future<Output = Result<T, TikTokError>>,
    {
        self.with_token_raw(user, call)
            .await?
            .map_err(TikTokAccessError::TikTok)
    }

    /// Like [`Self::with_token`], but hands TikTok's own error back (the outer error is ours:
    /// no tokens, storage, or a refresh TikTok refused), for callers that branch on its code.
    pub async fn with_token_raw<T, F, Fut>(
        &self,
        user: UserId,
        call: F,
    ) -> Result<Result<T, TikTokError>, TikTokAccessError>
    where
        F: Fn(SecretString) -> Fut,
        Fut: std::future::Future<Output = Result<T, TikTokError>>,
    {
        let first = self.token(user, None).await?;
        match call(first.token).await {
            Err(e) if e.needs_token_refresh() => {
                info!(user_id = %user, "TikTok refused the access token; refreshing once");
                let second = self.token(user, Some(first.version)).await?;
                info!(user_id = %user, stale = first.version, fresh = second.version, "retrying the TikTok call");
                Ok(call(second.token).await)
            }
            other => Ok(other),
        }
    }

    /// A valid access token. With `stale = Some(v)`, the token of vault version `v` is known
    /// to be bad: it is refreshed unless someone already replaced it.
    pub async fn token(
        &self,
        user: UserId,
        stale: Option<u64>,
    ) -> Result<AccessToken, TikTokAccessError> {
        let started = std::time::Instant::now();
        loop {
            let stored = self
                .storage
                .tokens
                .get(user)
                .await?
                .ok_or(TikTokAccessError::NotConnected)?;
            let now = Utc::now();
            let fresh =
                stored.access_expires_at > now + chrono::Duration::seconds(REFRESH_MARGIN_SECS);
            let known_bad = stale.is_some_and(|v| v >= stored.version);
            // While someone refreshes, the stored access token is the one being replaced
            // (the lease bumps the version but not the token): wait for the new one.
            if stored.lease_until.is_some_and(|l| l > now) {
                if started.elapsed() > WAIT_FOR_REFRESH {
                    return Err(TikTokAccessError::RefreshBusy);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            if fresh && !known_bad {
                return Ok(AccessToken {
                    token: self.open(user, &stored, "access")?,
                    version: stored.version,
                });
            }
            let until = now + chrono::Duration::seconds(LEASE_SECS);
            match self
                .storage
                .tokens
                .acquire_lease(user, stored.version, until, now)
                .await
            {
                Ok(leased) => return self.refresh(user, &stored, leased).await,
                // Someone else changed the tokens first; look again.
                Err(RepoError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn refresh(
        &self,
        user: UserId,
        stored: &StoredTokens,
        leased: u64,
    ) -> Result<AccessToken, TikTokAccessError> {
        let refresh_token = self.open(user, stored, "refresh")?;
        match self.tiktok.refresh(&refresh_token).await {
            Ok(tokens) => {
                let mut sealed = seal_token_set(&self.cipher, user, &tokens, leased + 1)?;
                // Same grant, new tokens: an `authorization.removed` is judged against the
                // sign-in, not the refresh.
                sealed.granted_at = stored.granted_at;
                match self.storage.tokens.replace(user, &sealed, leased).await {
                    Ok(()) => {
                        info!(user_id = %user, "TikTok tokens refreshed");
                        Ok(AccessToken {
                            token: tokens.access_token,
                            version: leased + 1,
                        })
                    }
                    Err(e) => {
                        // TikTok has rotated the refresh token but we could not store it:
                        // the user will have to sign in again when this access token ends.
                        error!(user_id = %user, error = ?e, "refreshed TikTok tokens could not be stored");
                        Err(e.into())
                    }
                }
            }
            Err(e) if e.needs_reauthorization() => {
                warn!(user_id = %user, error = %e, "TikTok refused the refresh token; sign-in needed");
                self.storage.tokens.delete(user).await?;
                self.storage
                    .users
                    .set_tiktok_link(user, TikTokLink::ReauthRequired, Utc::now())
                    .await?;
                Err(TikTokAccessError::ReauthRequired)
            }
            Err(e) => {
                if let Err(release) = self.storage.tokens.release_lease(user, leased).await {
                    warn!(user_id = %user, error = ?release, "refresh lease not released; it expires by itself");
                }
                Err(TikTokAccessError::TikTok(e))
            }
        }
    }
}
