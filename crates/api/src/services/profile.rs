//! The signed-in user's profile: read it, and re-read it from TikTok (display names change,
//! avatar URLs expire).

use std::sync::Arc;

use postiqo_domain::{Profile, User, UserId};
use postiqo_storage::{RepoError, UserRepository};
use postiqo_tiktok::UserField;

use crate::services::ports::Clock;
use crate::services::tiktok_access::{TikTokAccess, TikTokAccessError};

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The account is gone (deleted while the caller's session lived).
    #[error("the account no longer exists")]
    AccountGone,
    #[error(transparent)]
    TikTok(#[from] TikTokAccessError),
    #[error(transparent)]
    Storage(#[from] RepoError),
}

#[derive(Clone)]
pub struct ProfileService {
    users: Arc<dyn UserRepository>,
    tiktok: TikTokAccess,
    clock: Arc<dyn Clock>,
}

impl ProfileService {
    pub fn new(
        users: Arc<dyn UserRepository>,
        tiktok: TikTokAccess,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            users,
            tiktok,
            clock,
        }
    }

    pub async fn get(&self, user: UserId) -> Result<User, ProfileError> {
        self.users.get(user).await?.ok_or(ProfileError::AccountGone)
    }

    /// Asks TikTok for the profile now and keeps it (the username only with
    /// `user.info.profile`, TikTok's scope for it).
    pub async fn sync(&self, user: UserId) -> Result<User, ProfileError> {
        let current = self.get(user).await?;
        let mut fields = UserField::BASIC.to_vec();
        if current.has_scope("user.info.profile") {
            fields.push(UserField::Username);
        }
        let client = self.tiktok.client().clone();
        let info = self
            .tiktok
            .with_token(user, |token| {
                let client = client.clone();
                let fields = fields.clone();
                async move { client.user_info(&token, &fields).await }
            })
            .await?;
        let updated = current.with_profile(
            Profile {
                username: info.username,
                display_name: info.display_name,
                avatar_url: info.avatar_url,
            },
            self.clock.now(),
        );
        self.users.update_profile(&updated).await?;
        Ok(updated)
    }
}
