//! Accounts, their TikTok identities and tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use postiqo_domain::{TikTokLink, User, UserId};

use crate::RepoError;

/// A user's TikTok tokens as stored: ciphertexts only. Encryption happens above storage, so
/// this crate never holds a usable token.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredTokens {
    /// Which encryption key sealed the ciphertexts (keys rotate).
    pub key_id: String,
    pub access_ciphertext: String,
    pub refresh_ciphertext: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_expires_at: DateTime<Utc>,
    pub scopes: Vec<String>,
    /// When the user granted this access (the sign-in that stored it); refreshes keep it.
    /// `None` for tokens stored before it was recorded.
    pub granted_at: Option<DateTime<Utc>>,
    /// Increases with every write; conditional writes compare it.
    pub version: u64,
    /// While set and in the future, one caller is refreshing the tokens.
    pub lease_until: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTokens")
            .field("key_id", &self.key_id)
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("granted_at", &self.granted_at)
            .field("version", &self.version)
            .field("lease_until", &self.lease_until)
            .finish_non_exhaustive()
    }
}

/// Accounts, the TikTok identities that own them, and their TikTok tokens.
#[async_trait]
pub trait UserRepository: Send + Sync + 'static {
    async fn get(&self, id: UserId) -> Result<Option<User>, RepoError>;

    async fn find_by_open_id(&self, open_id: &str) -> Result<Option<User>, RepoError>;

    /// Creates the account, claims its open_id and stores its tokens in one transaction;
    /// [`RepoError::Conflict`] when the open_id already belongs to an account.
    async fn create_with_tokens(&self, user: &User, tokens: &StoredTokens)
    -> Result<(), RepoError>;

    /// Updates the profile and replaces the tokens (whatever their version) in one
    /// transaction: a new sign-in supersedes any earlier grant.
    async fn update_with_tokens(&self, user: &User, tokens: &StoredTokens)
    -> Result<(), RepoError>;

    async fn set_tiktok_link(
        &self,
        id: UserId,
        link: TikTokLink,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError>;

    /// Replaces the profile of an existing account.
    async fn update_profile(&self, user: &User) -> Result<(), RepoError>;
}

/// The TikTok tokens of one user, with a lease so that one caller refreshes at a time.
#[async_trait]
pub trait TokenVault: Send + Sync + 'static {
    async fn get(&self, user: UserId) -> Result<Option<StoredTokens>, RepoError>;

    /// Takes the refresh lease if the tokens are still at `version` and nobody holds an
    /// unexpired lease; returns the new version. [`RepoError::Conflict`] otherwise.
    async fn acquire_lease(
        &self,
        user: UserId,
        version: u64,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, RepoError>;

    /// Stores refreshed tokens if the vault is still at `expected_version` (the lease
    /// holder's); the lease is cleared.
    async fn replace(
        &self,
        user: UserId,
        tokens: &StoredTokens,
        expected_version: u64,
    ) -> Result<(), RepoError>;

    /// Gives the lease back without new tokens (the refresh failed).
    async fn release_lease(&self, user: UserId, version: u64) -> Result<(), RepoError>;

    async fn delete(&self, user: UserId) -> Result<(), RepoError>;
}
