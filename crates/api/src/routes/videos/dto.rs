//! Request and response bodies of the video endpoints.

use std::collections::BTreeMap;

use crate::services::videos::PresignedRequest;
use chrono::{DateTime, Utc};
use postiqo_domain::{ContentType, StatusChange, UploadPlan, Video, VideoId, VideoStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::services::videos::UploadInstructions;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVideoRequest {
    /// Caption sent to TikTok; at most 2200 UTF-16 code units, no control characters other
    /// than line breaks and tabs.
    #[schema(
        max_length = 2200,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$",
        example = "Morning run #running"
    )]
    pub title: String,
    pub content_type: ContentType,
    /// Exact size of the file in bytes; S3 refuses an upload of any other length. At most
    /// `POSTIQO_MAX_VIDEO_BYTES` (default 4 GiB, TikTok's own limit).
    #[schema(minimum = 1, maximum = 4294967296_u64, example = 10485760)]
    #[serde(deserialize_with = "crate::extract::integral::u64")]
    pub size_bytes: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateVideoRequest {
    /// Same rules as at creation.
    #[schema(
        max_length = 2200,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub title: String,
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct UploadedPart {
    #[validate(range(min = 1, max = 10000))]
    #[schema(minimum = 1, maximum = 10000)]
    #[serde(deserialize_with = "crate::extract::integral::u32")]
    pub part_number: u32,
    /// The `ETag` header S3 returned for this part's PUT.
    #[validate(length(min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub etag: String,
}

/// Body of `upload-complete`. Single uploads send `{}` (or no body); multipart uploads list
/// every part with the ETag S3 returned for it.
#[derive(Debug, Default, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CompleteUploadRequest {
    #[validate(length(min = 1, max = 10000), nested)]
    #[schema(min_items = 1, max_items = 10000)]
    pub parts: Option<Vec<UploadedPart>>,
}

#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PartUrlsRequest {
    /// Part numbers (1-based) to presign again.
    #[validate(length(min = 1, max = 1000))]
    #[schema(min_items = 1, max_items = 1000)]
    #[serde(deserialize_with = "crate::extract::integral::vec_u32")]
    pub part_numbers: Vec<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListVideosQuery {
    /// Only videos in this status.
    pub status: Option<VideoStatus>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Where the bytes are stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct StorageLocation {
    pub bucket: String,
    pub key: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UploadKind {
    Single,
    Multipart,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VideoResponse {
    pub id: VideoId,
    pub title: String,
    pub content_type: ContentType,
    pub size_bytes: u64,
    pub status: VideoStatus,
    pub upload_kind: UploadKind,
    #[serde(serialize_with = "postiqo_domain::rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "postiqo_domain::rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
    pub storage: StorageLocation,
    /// What the container says, read at upload-complete (absent before, and for videos
    /// verified before Postiqo kept it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<postiqo_domain::VideoMedia>,
    /// Every status the video has been in, oldest first; entries with an `event` record what
    /// TikTok reported about a published post without changing its status (a takedown).
    pub history: Vec<StatusChange>,
    /// When the scheduled publish is due; only while `SCHEDULED`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "postiqo_domain::rfc3339::option::serialize"
    )]
    pub scheduled_at: Option<DateTime<Utc>>,
    /// The current or last TikTok publish; absent until the first publish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tiktok: Option<TikTokPublishResponse>,
}

/// A TikTok publish as the API reports it. Ids are strings: post ids have 19 digits, more
/// than a JavaScript number holds exactly.
#[derive(Debug, Serialize, ToSchema)]
pub struct TikTokPublishResponse {
    pub attempt_id: String,
    /// `direct` (Direct Post) or `draft` (sent to the creator's TikTok inbox).
    pub mode: postiqo_domain::PublishMode,
    /// Empty for a draft: the creator chooses in the TikTok app.
    pub privacy_level: String,
    /// When it was scheduled for, if it was.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "postiqo_domain::rfc3339::option::serialize"
    )]
    pub scheduled_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "postiqo_domain::rfc3339::serialize")]
    pub started_at: DateTime<Utc>,
    /// TikTok's publish id, once its init answered.
    pub publish_id: Option<String>,
    /// TikTok's last reported processing status.
    pub tiktok_status: Option<String>,
    /// TikTok's id of the post: only public posts (`PUBLIC_TO_EVERYONE`) get one, after
    /// TikTok's moderation, possibly minutes after `PUBLISHED`.
    #[schema(example = "7301234567890123456")]
    pub post_id: Option<String>,
    /// The post's public URL, with `post_id`.
    #[schema(example = "https://www.tiktok.com/@alice/video/7301234567890123456")]
    pub post_url: Option<String>,
    /// A `post_id` (and `post_url`) is still to come: keep polling. False for private posts
    /// (`SELF_ONLY`, friends, followers: TikTok never gives their id), once the id is here,
    /// for failed publishes, and once Postiqo stopped asking (`POSTIQO_POST_ID_WAIT_SECS`
    /// after `PUBLISHED`). Poll while `status` is `PUBLISHING` or this is true; then nothing
    /// more changes until the client acts.
    pub post_id_expected: bool,
    pub failure: Option<postiqo_domain::PublishFailure>,
    /// Whether TikTok says the published post can be seen publicly: `false` after
    /// `post.publish.no_longer_publicaly_available` (taken down or made private), `true` after
    /// `publicly_available`; absent until TikTok said either. The video stays `PUBLISHED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publicly_available: Option<bool>,
    /// When `publicly_available` last changed.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "postiqo_domain::rfc3339::option::serialize"
    )]
    pub visibility_changed_at: Option<DateTime<Utc>>,
}

impl TikTokPublishResponse {
    fn new(t: postiqo_domain::TikTokPublish, post_id_expected: bool) -> Self {
        Self {
            attempt_id: t.attempt_id,
            mode: t.mode,
            privacy_level: t.settings.privacy_level,
            scheduled_at: t.scheduled_at,
            started_at: t.started_at,
            publish_id: t.publish_id,
            tiktok_status: t.tiktok_status,
            post_id: t.post_id,
            post_url: t.post_url,
            post_id_expected,
            failure: t.failure,
            publicly_available: t.publicly_available,
            visibility_changed_at: t.visibility_changed_at,
        }
    }
}

/// What rendering a stored video for a client needs besides the video.
#[derive(Debug, Clone)]
pub struct VideoView {
    pub bucket: String,
    /// How long Postiqo asks TikTok for a public post's id after it published
    /// (`POSTIQO_POST_ID_WAIT_SECS`).
    pub post_id_wait: std::time::Duration,
}

impl VideoResponse {
    /// About the bytes of this video's JSON, so its buffer is sized once
    /// ([`crate::routes::json`]): a fresh upload is ~450 bytes, each history entry ~60, a
    /// TikTok publish ~400, the media ~140.
    pub fn json_size_hint(&self) -> usize {
        512 + 64 * self.history.len()
            + if self.tiktok.is_some() { 512 } else { 0 }
            + if self.media.is_some() { 160 } else { 0 }
    }

    pub fn new(v: Video, view: &VideoView) -> Self {
        let wait =
            chrono::Duration::from_std(view.post_id_wait).unwrap_or(chrono::Duration::zero());
        let post_id_expected = v.post_id_expected(Utc::now(), wait);
        let bucket = view.bucket.as_str();
        let scheduled_at = v.scheduled_at();
        Self {
            id: v.id,
            title: v.title.into(),
            content_type: v.content_type,
            size_bytes: v.size.bytes(),
            status: v.status,
            upload_kind: match v.upload {
                UploadPlan::Single => UploadKind::Single,
                UploadPlan::Multipart { .. } => UploadKind::Multipart,
            },
            created_at: v.created_at,
            updated_at: v.updated_at,
            storage: StorageLocation {
                bucket: bucket.to_owned(),
                key: v.object_key.as_str().to_owned(),
            },
            media: v.media,
            history: v.history,
            scheduled_at,
            tiktok: v
                .tiktok
                .map(|t| TikTokPublishResponse::new(t, post_id_expected)),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VideoListResponse {
    /// Newest first.
    pub items: Vec<VideoResponse>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl VideoListResponse {
    pub fn json_size_hint(&self) -> usize {
        64 + self
            .items
            .iter()
            .map(VideoResponse::json_size_hint)
            .sum::<usize>()
    }
}

/// One presigned part upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartUpload {
    pub part_number: u32,
    /// The exact number of bytes this part must have (it is signed as `Content-Length`).
    pub size_bytes: u64,
    #[schema(example = "PUT")]
    pub method: String,
    pub url: String,
    /// Headers the signature binds (`content-length`): send them exactly as given. Read the
    /// `ETag` header of S3's answer for `upload-complete`.
    pub headers: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

/// Always `single`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SingleKind {
    Single,
}

/// Always `multipart`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MultipartKind {
    Multipart,
}

/// One presigned `PUT` of the whole file.
#[derive(Debug, Serialize, ToSchema)]
pub struct SingleUpload {
    #[schema(inline)]
    pub kind: SingleKind,
    #[schema(example = "PUT")]
    pub method: String,
    pub url: String,
    /// Headers the signature binds: `content-type` (the video's type), `content-length` (its
    /// exact size) and `x-amz-tagging` (marks the object pending until `upload-complete`).
    /// Send every one exactly as given (a browser sets `content-length` itself from the
    /// body). Without one, or with another value, S3 answers 403 with an XML
    /// `<Error><Code>SignatureDoesNotMatch</Code>`.
    pub headers: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
    /// Call this (POST, body `{}`) once the bytes are uploaded.
    #[schema(example = "/v1/videos/0190a0b0-0000-7000-8000-000000000001/upload-complete")]
    pub complete_url: String,
}

/// One presigned `PUT` per part (above the multipart threshold, 64 MiB by default).
#[derive(Debug, Serialize, ToSchema)]
pub struct MultipartUpload {
    #[schema(inline)]
    pub kind: MultipartKind,
    /// Every part but the last has this size: `POSTIQO_MULTIPART_PART_BYTES`, or more for large
    /// files, which never get more than 10 parts. Cut the file at this size.
    pub part_size: u64,
    pub parts: Vec<PartUpload>,
    /// When the first of the part URLs expires (`upload-parts` presigns them again).
    pub expires_at: DateTime<Utc>,
    /// Call this (POST, with every part's number and ETag) once the parts are uploaded.
    #[schema(example = "/v1/videos/0190a0b0-0000-7000-8000-000000000001/upload-complete")]
    pub complete_url: String,
}

/// How to send the bytes straight to S3, chosen by `kind`: one presigned `PUT` (`single`) or
/// one per part (`multipart`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(discriminator(property_name = "kind", mapping(
    ("single" = "#/components/schemas/SingleUpload"),
    ("multipart" = "#/components/schemas/MultipartUpload")
)))]
pub enum UploadResponse {
    Single(SingleUpload),
    Multipart(MultipartUpload),
}

fn headers(p: &PresignedRequest) -> BTreeMap<String, String> {
    p.headers.iter().cloned().collect()
}

impl UploadResponse {
    pub fn new(id: VideoId, instructions: UploadInstructions) -> Self {
        let complete_url = format!("/v1/videos/{id}/upload-complete");
        match instructions {
            UploadInstructions::Single(p) => Self::Single(SingleUpload {
                kind: SingleKind::Single,
                headers: headers(&p),
                method: p.method,
                url: p.url,
                expires_at: p.expires_at,
                complete_url,
            }),
            UploadInstructions::Multipart { part_size, parts } => {
                let expires_at = parts
                    .iter()
                    .map(|(_, _, p)| p.expires_at)
                    .min()
                    .unwrap_or_else(Utc::now);
                Self::Multipart(MultipartUpload {
                    kind: MultipartKind::Multipart,
                    part_size,
                    parts: parts
                        .into_iter()
                        .map(|(n, len, p)| PartUpload {
                            part_number: n,
                            size_bytes: len,
                            headers: headers(&p),
                            method: p.method,
                            url: p.url,
                            expires_at: p.expires_at,
                        })
                        .collect(),
                    expires_at,
                    complete_url,
                })
            }
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreateVideoResponse {
    pub video: VideoResponse,
    pub upload: UploadResponse,
}
