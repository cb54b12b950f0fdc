//! Creator info, and TikTok's per-user rate windows that every TikTok call of publishing
//! goes through (kept in storage, so they hold across instances).

use std::time::Duration;

use postiqo_domain::{CREATOR_INFO_WINDOW, CreatorOptions, RateWindow, UserId};
use postiqo_storage::RepoError;
use postiqo_tiktok::CreatorInfo;

use super::{PublishError, PublishService};
use crate::services::ports::TikTokCallError;

/// What the posting rules need from TikTok's creator info.
pub fn creator_options(info: &CreatorInfo) -> CreatorOptions {
    CreatorOptions {
        privacy_level_options: info
            .privacy_level_options
            .iter()
            .map(|o| o.as_str().to_owned())
            .collect(),
        comment_disabled: info.comment_disabled,
        duet_disabled: info.duet_disabled,
        stitch_disabled: info.stitch_disabled,
    }
}

impl PublishService {
    /// Records one call in the user's window, or says how long to wait.
    pub(super) async fn acquire(
        &self,
        user: UserId,
        w: RateWindow,
    ) -> Result<Result<(), Duration>, RepoError> {
        self.store
            .rates
            .try_acquire(user, w.name, w.limit, w.window, self.now())
            .await
    }

    /// TikTok's creator info, fresh, within TikTok's 20 calls a minute.
    pub async fn creator_info(&self, user: UserId) -> Result<CreatorInfo, PublishError> {
        let profile = self
            .store
            .users
            .get(user)
            .await?
            .ok_or(PublishError::AccountGone)?;
        if !profile.has_scope("video.publish") {
            return Err(PublishError::ScopeMissing);
        }
        if let Err(wait) = self.acquire(user, CREATOR_INFO_WINDOW).await? {
            return Err(PublishError::TikTokRateLimited { retry_after: wait });
        }
        match self.tiktok.creator_info(user).await {
            Ok(info) => Ok(info),
            Err(TikTokCallError::TikTok(e)) if e.cannot_post_now() => {
                Err(PublishError::CannotPostNow {
                    code: e.code().unwrap_or_default().to_owned(),
                })
            }
            Err(e) => Err(e.into()),
        }
    }
}
