use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a video is in its life. Stored and sent as the SCREAMING_SNAKE_CASE spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum VideoStatus {
    /// Created; waiting for the client to upload the bytes to S3.
    Pending,
    /// The object is in S3 and was verified.
    Uploaded,
    /// A publish is scheduled for `scheduled_at`; nothing was sent to TikTok yet.
    Scheduled,
    /// A TikTok publish is in flight.
    Publishing,
    /// A draft is in the creator's TikTok inbox, to be finished in the TikTok app.
    SentToInbox,
    /// TikTok published the post.
    Published,
    /// The last publish attempt failed; the video may be published again.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown video status")]
pub struct VideoStatusParseError;

impl VideoStatus {
    pub const ALL: [VideoStatus; 7] = [
        VideoStatus::Pending,
        VideoStatus::Uploaded,
        VideoStatus::Scheduled,
        VideoStatus::Publishing,
        VideoStatus::SentToInbox,
        VideoStatus::Published,
        VideoStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VideoStatus::Pending => "PENDING",
            VideoStatus::Uploaded => "UPLOADED",
            VideoStatus::Scheduled => "SCHEDULED",
            VideoStatus::SentToInbox => "SENT_TO_INBOX",
            VideoStatus::Publishing => "PUBLISHING",
            VideoStatus::Published => "PUBLISHED",
            VideoStatus::Failed => "FAILED",
        }
    }
}

impl fmt::Display for VideoStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for VideoStatus {
    type Err = VideoStatusParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or(VideoStatusParseError)
    }
}

/// What a caller tried to do to a video; named in transition errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoAction {
    CompleteUpload,
    RequestUploadParts,
    EditTitle,
    Delete,
    StartPublish,
    Schedule,
    Reschedule,
    CancelSchedule,
    StartScheduled,
    RecordPublishId,
    MarkSentToInbox,
    MarkPublished,
    MarkFailed,
    NoteVisibility,
}

impl fmt::Display for VideoAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VideoAction::CompleteUpload => "complete the upload",
            VideoAction::RequestUploadParts => "request upload URLs",
            VideoAction::EditTitle => "edit the title",
            VideoAction::Delete => "delete the video",
            VideoAction::StartPublish => "publish",
            VideoAction::Schedule => "schedule a publish",
            VideoAction::Reschedule => "move the schedule",
            VideoAction::CancelSchedule => "cancel the schedule",
            VideoAction::StartScheduled => "start the scheduled publish",
            VideoAction::MarkSentToInbox => "mark as sent to the inbox",
            VideoAction::RecordPublishId => "record the publish id",
            VideoAction::MarkPublished => "mark as published",
            VideoAction::MarkFailed => "mark as failed",
            VideoAction::NoteVisibility => "note the post's visibility",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_spelling_round_trips() {
        for s in VideoStatus::ALL {
            assert_eq!(s.as_str().parse::<VideoStatus>(), Ok(s));
            assert_eq!(
                serde_json::to_string(&s).expect("serialize"),
                format!("\"{}\"", s.as_str())
            );
        }
        assert!("pending".parse::<VideoStatus>().is_err());
    }
}
