//! TikTok's media limits, checked before TikTok is called: by every publish (one function,
//! whoever starts it), and by `publish-check`, which reports every problem at once without
//! publishing.

use postiqo_domain::{
    MediaProblem, PublishMode, PublishSettings, TransitionError, UserId, Video, VideoAction,
    VideoId, VideoStatus, draft_media_problems, media_problems,
};
use postiqo_tiktok::CreatorInfo;
use tracing::info;

use super::{PublishError, PublishService};

/// The video's duration against the creator's maximum, its frame rate, picture size and
/// codec, and the cover timestamp, against fresh creator info. Every path that calls TikTok's
/// init for a new publish goes through this first.
pub fn check_media_rules(
    video: &Video,
    settings: &PublishSettings,
    creator: &CreatorInfo,
) -> Result<(), PublishError> {
    let problems = media_problems(
        video.media.as_ref(),
        settings.video_cover_timestamp_ms,
        creator.max_video_post_duration_sec,
    );
    refuse(video, problems)
}

/// A draft meets TikTok's limits on the media too (its duration against the API's maximum:
/// see [`draft_media_problems`]), checked before the inbox init.
pub fn check_draft_media_rules(video: &Video) -> Result<(), PublishError> {
    refuse(video, draft_media_problems(video.media.as_ref()))
}

/// What can be known when a publish is scheduled: everything for a draft; for a direct post
/// all but the duration, whose limit is the creator's of the due time (checked then against
/// fresh creator info). The container's facts do not change meanwhile, so a video TikTok
/// will refuse is refused now, not at the due time when nobody is waiting for the answer.
pub fn check_media_when_scheduling(
    video: &Video,
    mode: PublishMode,
    settings: &PublishSettings,
) -> Result<(), PublishError> {
    match mode {
        PublishMode::Draft => check_draft_media_rules(video),
        PublishMode::Direct => refuse(
            video,
            media_problems(
                video.media.as_ref(),
                settings.video_cover_timestamp_ms,
                None,
            ),
        ),
    }
}

fn refuse(video: &Video, problems: Vec<MediaProblem>) -> Result<(), PublishError> {
    if problems.is_empty() {
        Ok(())
    } else {
        info!(video_id = %video.id, problems = ?problems, "publish refused before TikTok: media outside its limits");
        Err(PublishError::Media(problems))
    }
}

/// What a publish of this video would meet now.
pub struct PublishCheck {
    pub video: Video,
    pub creator: CreatorInfo,
    /// Empty when TikTok's documented limits all hold.
    pub problems: Vec<MediaProblem>,
}

impl PublishService {
    /// Every problem a publish of this video (with this cover) would be refused for, against
    /// fresh creator info, without publishing. Only for videos that can be published.
    pub async fn publish_check(
        &self,
        user: UserId,
        id: VideoId,
        cover_ms: Option<u32>,
    ) -> Result<PublishCheck, PublishError> {
        let video = self
            .store
            .videos
            .get(user, id, self.now())
            .await?
            .ok_or(PublishError::VideoNotFound)?;
        if !matches!(video.status, VideoStatus::Uploaded | VideoStatus::Failed) {
            return Err(TransitionError {
                current: video.status,
                action: VideoAction::StartPublish,
            }
            .into());
        }
        let creator = self.creator_info(user).await?;
        let problems = media_problems(
            video.media.as_ref(),
            cover_ms,
            creator.max_video_post_duration_sec,
        );
        Ok(PublishCheck {
            video,
            creator,
            problems,
        })
    }
}
