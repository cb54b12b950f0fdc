//! Drafts in the creator's TikTok inbox: the `video.upload` scope and TikTok's cap of 5
//! unposted drafts per creator in 24 h, which Postiqo enforces before TikTok does.

use std::time::Duration;

use postiqo_domain::{INBOX_PENDING_LIMIT, INBOX_PENDING_WINDOW, UserId, Video, VideoStatus};
use postiqo_storage::VideoQuery;

use super::{PublishError, PublishService};

/// TikTok's refusal when the inbox holds its maximum of drafts (§3.4).
pub const TIKTOK_PENDING_SHARES: &str = "spam_risk_too_many_pending_share";

/// When TikTok said the inbox is full but our records show room (drafts sent outside
/// Postiqo count too), ask to wait this long.
const UNKNOWN_WAIT: Duration = Duration::from_secs(3600);

/// Listing stops here; a creator never has more drafts in flight than the cap allows.
const PAGE: u32 = 100;

impl PublishService {
    /// A draft may be sent now: the user granted `video.upload` and the inbox has room.
    pub(super) async fn check_draft(&self, user: UserId) -> Result<(), PublishError> {
        let profile = self
            .store
            .users
            .get(user)
            .await?
            .ok_or(PublishError::AccountGone)?;
        if !profile.has_scope("video.upload") {
            return Err(PublishError::UploadScopeMissing);
        }
        let pending = self.pending_drafts(user).await?;
        if pending.len() >= INBOX_PENDING_LIMIT {
            return Err(PublishError::InboxFull {
                retry_after: self.inbox_wait(&pending),
            });
        }
        Ok(())
    }

    /// The start times of the user's drafts TikTok has (or is getting) and the creator has
    /// not posted, within TikTok's 24 h, oldest first.
    async fn pending_drafts(
        &self,
        user: UserId,
    ) -> Result<Vec<chrono::DateTime<chrono::Utc>>, PublishError> {
        let now = self.now();
        let since = now
            - chrono::Duration::from_std(INBOX_PENDING_WINDOW)
                .unwrap_or(chrono::Duration::hours(24));
        let mut started = Vec::new();
        for status in [VideoStatus::Publishing, VideoStatus::SentToInbox] {
            let page = self
                .store
                .videos
                .list(VideoQuery {
                    owner: user,
                    status: Some(status),
                    limit: PAGE,
                    after: None,
                    now,
                })
                .await?;
            started.extend(
                page.videos
                    .iter()
                    .filter(|v| v.is_draft())
                    .filter_map(|v| v.tiktok.as_ref().map(|t| t.started_at))
                    .filter(|at| *at > since),
            );
        }
        started.sort();
        Ok(started)
    }

    /// Until the oldest pending draft leaves TikTok's 24 h window.
    fn inbox_wait(&self, pending: &[chrono::DateTime<chrono::Utc>]) -> Duration {
        let window =
            chrono::Duration::from_std(INBOX_PENDING_WINDOW).unwrap_or(chrono::Duration::hours(24));
        pending
            .first()
            .and_then(|oldest| (*oldest + window - self.now()).to_std().ok())
            .filter(|d| !d.is_zero())
            .unwrap_or(UNKNOWN_WAIT)
    }

    /// A draft TikTok refused because the inbox is full is answered as our own refusal
    /// (429 with Retry-After); the video keeps the failure, so it shows what happened.
    pub(super) async fn refused_as_inbox_full(
        &self,
        user: UserId,
        video: Video,
    ) -> Result<Video, PublishError> {
        let full = video
            .tiktok
            .as_ref()
            .and_then(|t| t.failure.as_ref())
            .is_some_and(|f| f.code == postiqo_domain::PublishFailure::inbox_full().code);
        if video.status != VideoStatus::Failed || !full {
            return Ok(video);
        }
        let pending = self.pending_drafts(user).await.unwrap_or_default();
        Err(PublishError::InboxFull {
            retry_after: self.inbox_wait(&pending),
        })
    }
}
