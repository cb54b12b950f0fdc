use std::time::Duration;

use chrono::{DateTime, Utc};
use postiqo_domain::{
    ContainerCheck, ContentType, Title, UploadPlan, UserId, Video, VideoId, VideoSize, VideoStatus,
    sniff_container,
};
use postiqo_storage::{BlobError, RepoError, Storage, VideoPage, VideoQuery};
/// What handlers exchange with this service about uploads.
pub use postiqo_storage::{CompletedPart, PresignedRequest};
use rand::RngCore;
use tracing::{info, warn};

use crate::config::UploadSettings;
use crate::services::media_facts::{MediaReadError, read_media};

/// What can go wrong with a video and its upload, in the domain's words.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("no such video of the caller")]
    NotFound,
    /// The video is not in a state that allows this.
    #[error(transparent)]
    WrongState(#[from] postiqo_domain::TransitionError),
    #[error("the upload of this video is already complete")]
    UploadAlreadyComplete,
    #[error("part {part} is outside 1..={count}")]
    PartOutOfRange { part: u32, count: u64 },
    #[error("a multipart upload is completed with the list of its parts")]
    PartsMissing,
    #[error("expected {expected} parts, got {got}")]
    PartCountWrong { expected: u64, got: usize },
    /// Nothing is stored under the video's key yet.
    #[error("the uploaded object is not there yet")]
    UploadMissing,
    /// The stored object is not what was declared; it was deleted.
    #[error("the object differs from the declaration")]
    UploadMismatch {
        declared_size: u64,
        declared_type: ContentType,
        found_size: u64,
        found_type: Option<String>,
    },
    /// The object's first bytes are not a container of the declared type; it was deleted.
    #[error("the object is not a {declared} file")]
    NotAVideo { declared: ContentType },
    /// The container's index cannot be read (cut short, none, too large to read within the
    /// bounds); the object was deleted.
    #[error("the object is not a readable {declared} video: {why}")]
    UnreadableContainer { declared: ContentType, why: String },
    /// The object was overwritten while it was being checked.
    #[error("the object changed while it was checked")]
    UploadChanged,
    #[error("the object store gave no entity tag")]
    NoEntityTag,
    /// Another change of the video won the race.
    #[error("the video changed concurrently")]
    ConcurrentUpdate,
    #[error(transparent)]
    Storage(RepoError),
    #[error(transparent)]
    Blobs(#[from] BlobError),
}

impl From<RepoError> for VideoError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::Conflict => VideoError::ConcurrentUpdate,
            other => VideoError::Storage(other),
        }
    }
}

/// What a client needs to send the bytes.
#[derive(Debug, Clone)]
pub enum UploadInstructions {
    Single(PresignedRequest),
    Multipart {
        part_size: u64,
        parts: Vec<(u32, u64, PresignedRequest)>,
    },
}

/// A new video as the caller describes it, already validated by the domain types.
pub struct NewVideo {
    pub title: Title,
    pub content_type: ContentType,
    pub size: VideoSize,
}

#[derive(Clone)]
pub struct VideoService {
    storage: Storage,
    uploads: UploadSettings,
}

/// The first read of an uploaded object: its container signature and, in the same GET, the
/// bytes the container probe asks for first (it starts at offset 0 with `READ_AHEAD` bytes).
fn head_len(size: u64) -> u64 {
    postiqo_media_probe::READ_AHEAD.min(size)
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn not_found() -> VideoError {
    VideoError::NotFound
}

impl VideoService {
    pub fn new(storage: Storage, uploads: UploadSettings) -> Self {
        Self { storage, uploads }
    }

    pub fn max_size(&self) -> u64 {
        self.uploads.policy.max_size
    }

    fn pending_expiry(&self, created: DateTime<Utc>) -> DateTime<Utc> {
        created
            + chrono::Duration::from_std(self.uploads.pending_ttl)
                .unwrap_or(chrono::Duration::days(1))
    }

    fn new_id(at: DateTime<Utc>) -> VideoId {
        let mut random = [0u8; 10];
        rand::rng().fill_bytes(&mut random);
        VideoId::new_v7(u64::try_from(at.timestamp_millis()).unwrap_or(0), random)
    }

    async fn load(&self, owner: UserId, id: VideoId) -> Result<Video, VideoError> {
        self.storage
            .videos
            .get(owner, id, now())
            .await?
            .ok_or_else(not_found)
    }

    pub async fn get(&self, owner: UserId, id: VideoId) -> Result<Video, VideoError> {
        self.load(owner, id).await
    }

    pub async fn list(
        &self,
        owner: UserId,
        status: Option<VideoStatus>,
        limit: u32,
        after: Option<VideoId>,
    ) -> Result<VideoPage, VideoError> {
        Ok(self
            .storage
            .videos
            .list(VideoQuery {
                owner,
                status,
                limit,
                after,
                now: now(),
            })
            .await?)
    }

    /// Creates the record and the upload instructions. For a multipart upload the S3 upload is
    /// opened first so the record never points at an upload that does not exist; if the record
    /// cannot be written, the upload is aborted again.
    pub async fn create(
        &self,
        owner: UserId,
        new: NewVideo,
    ) -> Result<(Video, UploadInstructions), VideoError> {
        let created = now();
        let id = Self::new_id(created);
        let plan = self.uploads.policy.plan(new.size);
        let key = postiqo_domain::ObjectKey::for_video(owner, id);
        let upload_id = match plan {
            UploadPlan::Single => None,
            UploadPlan::Multipart { .. } => Some(
                self.storage
                    .blobs
                    .create_multipart(&key, new.content_type)
                    .await?,
            ),
        };
        let video = Video::new(
            id,
            owner,
            new.title,
            new.content_type,
            new.size,
            plan,
            upload_id,
            created,
        );
        let instructions = match self.instructions(&video, None).await {
            Ok(i) => i,
            Err(e) => {
                self.abort_quietly(&video).await;
                return Err(e);
            }
        };
        if let Err(e) = self
            .storage
            .videos
            .insert(&video, Some(self.pending_expiry(created)))
            .await
        {
            self.abort_quietly(&video).await;
            return Err(e.into());
        }
        info!(video_id = %video.id, size = video.size.bytes(), multipart = video.multipart_upload_id.is_some(), "video created");
        Ok((video, instructions))
    }

    async fn abort_quietly(&self, video: &Video) {
        if let Some(upload_id) = &video.multipart_upload_id
            && let Err(e) = self
                .storage
                .blobs
                .abort_multipart(&video.object_key, upload_id)
                .await
        {
            // The bucket's lifecycle rule aborts it later anyway.
            warn!(video_id = %video.id, error = ?e, "could not abort multipart upload");
        }
    }

    /// Presigned requests for the whole upload, or for the listed parts only.
    async fn instructions(
        &self,
        video: &Video,
        only: Option<&[u32]>,
    ) -> Result<UploadInstructions, VideoError> {
        let ttl: Duration = self.uploads.url_ttl;
        match (video.upload, &video.multipart_upload_id) {
            (UploadPlan::Single, _) => Ok(UploadInstructions::Single(
                self.storage
                    .blobs
                    .presign_put(
                        &video.object_key,
                        video.content_type,
                        video.size.bytes(),
                        ttl,
                    )
                    .await?,
            )),
            (
                UploadPlan::Multipart {
                    part_size,
                    part_count,
                },
                Some(upload_id),
            ) => {
                let numbers: Vec<u32> = match only {
                    Some(list) => list.to_vec(),
                    None => (1..=u32::try_from(part_count).unwrap_or(u32::MAX)).collect(),
                };
                let mut parts = Vec::with_capacity(numbers.len());
                for n in numbers {
                    let len = video.upload.part_len(video.size, u64::from(n)).ok_or(
                        VideoError::PartOutOfRange {
                            part: n,
                            count: part_count,
                        },
                    )?;
                    let req = self
                        .storage
                        .blobs
                        .presign_part(&video.object_key, upload_id, n, len, ttl)
                        .await?;
                    parts.push((n, len, req));
                }
                Ok(UploadInstructions::Multipart { part_size, parts })
            }
            (UploadPlan::Multipart { .. }, None) => Err(VideoError::UploadAlreadyComplete),
        }
    }

    /// Part URLs again, e.g. after one expired or was lost.
    pub async fn part_urls(
        &self,
        owner: UserId,
        id: VideoId,
        numbers: &[u32],
    ) -> Result<UploadInstructions, VideoError> {
        let video = self.load(owner, id).await?;
        video.ensure_parts_requestable()?;
        self.instructions(&video, Some(numbers)).await
    }

    /// A fresh presigned PUT for a single-part upload that has not arrived yet.
    pub async fn upload_url(
        &self,
        owner: UserId,
        id: VideoId,
    ) -> Result<UploadInstructions, VideoError> {
        let video = self.load(owner, id).await?;
        if video.status != VideoStatus::Pending {
            return Err(postiqo_domain::TransitionError {
                current: video.status,
                action: postiqo_domain::VideoAction::RequestUploadParts,
            }
            .into());
        }
        self.instructions(&video, None).await
    }

    /// Verifies the object and moves the video to UPLOADED.
    ///
    /// Idempotent: a video already UPLOADED answers with itself, so a client retrying after a
    /// lost response, or two racing calls, all see the same outcome.
    pub async fn complete_upload(
        &self,
        owner: UserId,
        id: VideoId,
        parts: Option<Vec<CompletedPart>>,
    ) -> Result<Video, VideoError> {
        let video = self.load(owner, id).await?;
        match video.status {
            VideoStatus::Pending => {}
            VideoStatus::Uploaded => return Ok(video),
            VideoStatus::Scheduled
            | VideoStatus::Publishing
            | VideoStatus::SentToInbox
            | VideoStatus::Published
            | VideoStatus::Failed => {
                return Err(postiqo_domain::TransitionError {
                    current: video.status,
                    action: postiqo_domain::VideoAction::CompleteUpload,
                }
                .into());
            }
        }

        if let (UploadPlan::Multipart { part_count, .. }, Some(upload_id)) =
            (video.upload, &video.multipart_upload_id)
        {
            let Some(parts) = parts else {
                return Err(VideoError::PartsMissing);
            };
            if parts.len() as u64 != part_count {
                return Err(VideoError::PartCountWrong {
                    expected: part_count,
                    got: parts.len(),
                });
            }
            match self
                .storage
                .blobs
                .complete_multipart(&video.object_key, upload_id, &parts)
                .await
            {
                // NotFound: the upload id is gone, most likely because a concurrent call
                // completed it; the object check below decides.
                Ok(()) | Err(BlobError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }

        let Some(meta) = self.storage.blobs.head(&video.object_key).await? else {
            return Err(VideoError::UploadMissing);
        };
        if meta.size != video.size.bytes()
            || meta.content_type.as_deref() != Some(video.content_type.as_mime())
        {
            let mismatch = VideoError::UploadMismatch {
                declared_size: video.size.bytes(),
                declared_type: video.content_type,
                found_size: meta.size,
                found_type: meta.content_type.clone(),
            };
            self.reject_object(video, "size or content type differs from the declaration")
                .await?;
            return Err(mismatch);
        }
        // Everything checked and pinned is this one content: the upload URL is still valid
        // and the object may be overwritten at any moment.
        let etag = meta.etag.clone().ok_or(VideoError::NoEntityTag)?;
        let head = match self
            .storage
            .blobs
            .read_prefix(&video.object_key, head_len(meta.size), Some(&etag))
            .await
        {
            Ok(head) => head,
            Err(BlobError::Changed) => {
                return Err(VideoError::UploadChanged);
            }
            Err(e) => return Err(e.into()),
        };
        if sniff_container(video.content_type, &head) == ContainerCheck::Mismatch {
            let declared = video.content_type;
            self.reject_object(video, "container signature does not match")
                .await?;
            return Err(VideoError::NotAVideo { declared });
        }
        let media = match read_media(
            &self.storage,
            &video.object_key,
            &etag,
            video.content_type,
            meta.size,
            head,
            self.uploads.probe,
        )
        .await
        {
            Ok(media) => media,
            Err(MediaReadError::Unreadable(why)) => {
                let declared = video.content_type;
                self.reject_object(video, "container index unreadable")
                    .await?;
                return Err(VideoError::UnreadableContainer { declared, why });
            }
            Err(MediaReadError::Changed) => return Err(VideoError::UploadChanged),
            Err(MediaReadError::Storage(e)) => return Err(e.into()),
        };

        // Confirm the object before the state change: if this fails the video stays PENDING
        // and the client retries; the reverse order could leave an UPLOADED video whose
        // object the lifecycle rule later expires.
        self.storage.blobs.mark_confirmed(&video.object_key).await?;
        let expected = video.version;
        let next = video.complete_upload(etag, Some(media), now())?;
        match self.storage.videos.update(&next, expected, None).await {
            Ok(()) => {
                info!(video_id = %next.id, etag = ?next.verified_etag, media = ?next.media, "upload verified");
                Ok(next)
            }
            Err(RepoError::Conflict) => {
                // Someone else moved it first: answer with what is there now.
                let current = self.load(owner, id).await?;
                match current.status {
                    VideoStatus::Uploaded => Ok(current),
                    _ => Err(VideoError::ConcurrentUpdate),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a bad object so the client can upload again; a multipart video gets a fresh
    /// multipart upload, since the old one was consumed by its completion.
    async fn reject_object(&self, video: Video, why: &str) -> Result<(), VideoError> {
        warn!(video_id = %video.id, why, "uploaded object rejected");
        self.storage.blobs.delete(&video.object_key).await?;
        if matches!(video.upload, UploadPlan::Multipart { .. }) {
            let upload_id = self
                .storage
                .blobs
                .create_multipart(&video.object_key, video.content_type)
                .await?;
            let expected = video.version;
            let mut next = video;
            next.multipart_upload_id = Some(upload_id);
            next.version += 1;
            next.updated_at = now();
            let expiry = self.pending_expiry(next.created_at);
            match self
                .storage
                .videos
                .update(&next, expected, Some(expiry))
                .await
            {
                Ok(()) => {}
                Err(e) => {
                    self.abort_quietly(&next).await;
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    pub async fn edit_title(
        &self,
        owner: UserId,
        id: VideoId,
        title: Title,
    ) -> Result<Video, VideoError> {
        let video = self.load(owner, id).await?;
        let expected = video.version;
        let expiry =
            (video.status == VideoStatus::Pending).then(|| self.pending_expiry(video.created_at));
        let next = video.edit_title(title, now())?;
        self.storage.videos.update(&next, expected, expiry).await?;
        Ok(next)
    }

    /// Deletes the record, then the bytes. The record goes first, conditionally on the version
    /// read: a publish that started in between makes the delete fail instead of pulling the
    /// object from under TikTok.
    pub async fn delete(&self, owner: UserId, id: VideoId) -> Result<(), VideoError> {
        let video = self.load(owner, id).await?;
        video.ensure_deletable()?;
        self.storage.videos.delete(owner, id, video.version).await?;
        let publish_id = video.tiktok.as_ref().and_then(|t| t.publish_id.as_deref());
        if let Err(e) = self.storage.publish.forget(owner, id, publish_id).await {
            // Harmless leftovers (a finished job, a lookup to nothing); account deletion
            // removes them.
            warn!(video_id = %id, error = ?e, "publish records left after video deletion");
        }
        self.abort_quietly(&video).await;
        if let Err(e) = self.storage.blobs.delete(&video.object_key).await {
            // The record is gone; account deletion sweeps the user's whole prefix, so the
            // object cannot outlive the account.
            warn!(video_id = %video.id, error = ?e, "object left behind after video deletion");
        }
        info!(video_id = %video.id, "video deleted");
        Ok(())
    }
}
