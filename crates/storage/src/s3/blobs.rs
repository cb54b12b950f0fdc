use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::StalledStreamProtectionConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart as SdkPart, Delete, ObjectIdentifier,
};
use postiqo_domain::{ContentType, ETag, ObjectKey, UserId};
use tracing::instrument;

use super::presign::{ObjectRequest, Presigner};
use crate::definition::{UPLOAD_CONFIRMED, UPLOAD_PENDING, UPLOAD_TAG_KEY};
use crate::error::{Class, blob_error, classify, service_code};
use crate::{
    BlobError, BlobStore, CompletedPart, ObjectMeta, ObjectStream, PresignedRequest, StorageConfig,
};

/// The tag of objects not yet confirmed by upload-complete, as an `x-amz-tagging` header value
/// (a lifecycle rule in `definition` expires objects that keep it).
fn pending_tag() -> String {
    format!("{UPLOAD_TAG_KEY}={UPLOAD_PENDING}")
}

/// Where small site files live: outside `users/`, so no account owns them.
const SITE_PREFIX: &str = "site/";

/// S3 adapter. `client` and `bodies` talk to S3 from the API's network; `presigner` signs for
/// the host browsers use (a presigned URL's signature covers the host).
///
/// Two clients because of the SDK's stalled-stream protection: it watches a body's throughput
/// with timers that wake the thread about 20 times a second while an answer is awaited
/// (measured: a 3 s CompleteMultipartUpload cost the API 12 ms of CPU for those wake-ups alone,
/// docs/benchmarks.md §7). `client` makes the calls whose answers the SDK reads whole inside its
/// attempt and operation timeouts, which already bound a stall: protection off. `bodies` makes
/// the `GetObject`s, whose bodies are read after the call returns, beyond those timeouts: there
/// the protection is what ends a stalled download.
#[derive(Clone)]
pub struct S3Blobs {
    client: Client,
    bodies: Client,
    presigner: Arc<Presigner>,
    bucket: String,
}

/// How long one CompleteMultipartUpload may take. S3 answers 200 at once and keeps the
/// connection alive until the object is assembled, which "could take several minutes" for a
/// large object (AWS's API reference); the default 5 s attempt would cut it short and retry
/// into `NoSuchUpload`. The whole call, retries included, stays under the load balancer's 60 s
/// idle timeout (deploy/aws), so the client still gets the answer.
const COMPLETE_ATTEMPT: Duration = Duration::from_secs(50);
const COMPLETE_OPERATION: Duration = Duration::from_secs(55);

impl S3Blobs {
    pub fn new(sdk: &SdkConfig, cfg: &StorageConfig) -> Self {
        let base = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(cfg.s3_force_path_style)
            .interceptor(crate::observe::StorageMetrics);
        let bodies = Client::from_conf(base.clone().build());
        let client = Client::from_conf(
            base.clone()
                .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
                .build(),
        );
        let public = match &cfg.s3_public_endpoint {
            Some(endpoint) => base.endpoint_url(endpoint),
            None => base,
        };
        Self {
            client,
            bodies,
            presigner: Arc::new(Presigner::new(
                public,
                sdk.credentials_provider(),
                cfg.bucket.clone(),
            )),
            bucket: cfg.bucket.clone(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    #[cfg(test)]
    pub(super) fn presigner(&self) -> &Presigner {
        &self.presigner
    }
}

/// S3 answers a read whose `If-Match` names another content with 412 `PreconditionFailed`.
fn precondition_failed<E: aws_sdk_s3::error::ProvideErrorMetadata>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> bool {
    service_code(e) == Some("PreconditionFailed")
        || matches!(e, aws_sdk_s3::error::SdkError::ServiceError(se) if se.raw().status().as_u16() == 412)
}

#[async_trait]
impl BlobStore for S3Blobs {
    #[instrument(skip(self), fields(key = %key))]
    async fn presign_put(
        &self,
        key: &ObjectKey,
        content_type: ContentType,
        content_length: u64,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        // The tag is signed, so the client must send it: objects start life tagged as pending,
        // and the bucket's lifecycle rule expires those that are never confirmed.
        let request = ObjectRequest::put_object(
            key.as_str(),
            content_type.as_mime(),
            content_length,
            &pending_tag(),
        );
        self.presigner
            .presign(&request, expires_in, SystemTime::now())
            .await
    }

    #[instrument(skip(self), fields(key = %key))]
    async fn create_multipart(
        &self,
        key: &ObjectKey,
        content_type: ContentType,
    ) -> Result<String, BlobError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type.as_mime())
            .tagging(pending_tag())
            .send()
            .await
            .map_err(blob_error)?;
        out.upload_id
            .ok_or_else(|| BlobError::Backend("CreateMultipartUpload returned no upload id".into()))
    }

    #[instrument(skip(self, upload_id), fields(key = %key))]
    async fn presign_part(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        part_number: u32,
        content_length: u64,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        let request =
            ObjectRequest::upload_part(key.as_str(), upload_id, part_number, content_length);
        self.presigner
            .presign(&request, expires_in, SystemTime::now())
            .await
    }

    #[instrument(skip(self, upload_id, parts), fields(key = %key, parts = parts.len()))]
    async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<(), BlobError> {
        let parts = parts
            .iter()
            .map(|p| {
                SdkPart::builder()
                    .part_number(p.part_number as i32)
                    .e_tag(&p.etag)
                    .build()
            })
            .collect();
        let res = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .customize()
            .config_override(
                aws_sdk_s3::config::Builder::default().timeout_config(
                    TimeoutConfig::builder()
                        .connect_timeout(Duration::from_secs(2))
                        .operation_attempt_timeout(COMPLETE_ATTEMPT)
                        .operation_timeout(COMPLETE_OPERATION)
                        .build(),
                ),
            )
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) => match service_code(&e) {
                Some("InvalidPart" | "InvalidPartOrder" | "EntityTooSmall") => {
                    Err(BlobError::InvalidParts(Box::new(e)))
                }
                Some("NoSuchUpload") => Err(BlobError::NotFound),
                _ => Err(blob_error(e)),
            },
        }
    }

    #[instrument(skip(self, upload_id), fields(key = %key))]
    async fn abort_multipart(&self, key: &ObjectKey, upload_id: &str) -> Result<(), BlobError> {
        let res = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if service_code(&e) == Some("NoSuchUpload") => Ok(()),
            Err(e) => Err(blob_error(e)),
        }
    }

    #[instrument(skip(self), fields(key = %key))]
    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, BlobError> {
        let res = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await;
        match res {
            Ok(out) => Ok(Some(ObjectMeta {
                size: out
                    .content_length
                    .and_then(|l| u64::try_from(l).ok())
                    .unwrap_or(0),
                content_type: out.content_type,
                etag: out.e_tag.as_deref().and_then(ETag::parse),
            })),
            Err(e) if matches!(&e, aws_sdk_s3::error::SdkError::ServiceError(se) if se.err().is_not_found()) => {
                Ok(None)
            }
            Err(e) => Err(blob_error(e)),
        }
    }

    #[instrument(skip(self), fields(key = %key))]
    async fn read_prefix(
        &self,
        key: &ObjectKey,
        len: u64,
        if_match: Option<&ETag>,
    ) -> Result<Vec<u8>, BlobError> {
        self.read_range(key, 0, len, if_match).await
    }

    #[instrument(skip(self), fields(key = %key))]
    async fn read_range(
        &self,
        key: &ObjectKey,
        offset: u64,
        len: u64,
        if_match: Option<&ETag>,
    ) -> Result<Vec<u8>, BlobError> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let last = offset.saturating_add(len - 1);
        let res = self
            .bodies
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .range(format!("bytes={offset}-{last}"))
            .set_if_match(if_match.map(|e| e.as_str().to_owned()))
            .send()
            .await;
        let out = match res {
            Ok(out) => out,
            Err(e) if service_code(&e) == Some("NoSuchKey") => return Err(BlobError::NotFound),
            Err(e) if precondition_failed(&e) => return Err(BlobError::Changed),
            // A range starting past the end: nothing there.
            Err(e) if service_code(&e) == Some("InvalidRange") => return Ok(Vec::new()),
            Err(e) => return Err(blob_error(e)),
        };
        // A server that ignores Range answers 200 with the whole object: cut our range out.
        let whole = out.content_range().is_none() && offset > 0;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| BlobError::Unavailable(Box::new(e)))?
            .into_bytes();
        let skip = if whole {
            usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(bytes.len())
        } else {
            0
        };
        let keep = usize::try_from(len)
            .unwrap_or(usize::MAX)
            .min(bytes.len() - skip);
        Ok(bytes.slice(skip..skip + keep).to_vec())
    }

    #[instrument(skip(self), fields(key = %key))]
    async fn mark_confirmed(&self, key: &ObjectKey) -> Result<(), BlobError> {
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .tag_set(
                aws_sdk_s3::types::Tag::builder()
                    .key(UPLOAD_TAG_KEY)
                    .value(UPLOAD_CONFIRMED)
                    .build()
                    .map_err(|e| BlobError::Backend(Box::new(e)))?,
            )
            .build()
            .map_err(|e| BlobError::Backend(Box::new(e)))?;
        let res = self
            .client
            .put_object_tagging()
            .bucket(&self.bucket)
            .key(key.as_str())
            .tagging(tagging)
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if service_code(&e) == Some("NoSuchKey") => Err(BlobError::NotFound),
            Err(e) => Err(blob_error(e)),
        }
    }

    #[instrument(skip(self, body))]
    async fn put_site_file(
        &self,
        name: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(format!("{SITE_PREFIX}{name}"))
            .content_type(content_type)
            .body(body.into())
            .send()
            .await
            .map_err(blob_error)?;
        Ok(())
    }

    #[instrument(skip(self))]
    async fn site_files(
        &self,
        dir: &str,
        max_files: usize,
        max_bytes: u64,
    ) -> Result<Vec<(String, Vec<u8>)>, BlobError> {
        let prefix = format!("{SITE_PREFIX}{}/", dir.trim_matches('/'));
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&prefix)
            .max_keys(i32::try_from(max_files).unwrap_or(100))
            .send()
            .await
            .map_err(blob_error)?;
        let mut files = Vec::new();
        for object in out.contents().iter().take(max_files) {
            let (Some(key), Some(size)) = (object.key(), object.size()) else {
                continue;
            };
            let Some(name) = key.strip_prefix(&prefix).filter(|n| !n.contains('/')) else {
                continue;
            };
            if u64::try_from(size).map_or(true, |s| s > max_bytes) {
                continue;
            }
            let res = self
                .bodies
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await;
            let body = match res {
                Ok(out) => out
                    .body
                    .collect()
                    .await
                    .map_err(|e| BlobError::Unavailable(Box::new(e)))?
                    .into_bytes(),
                // Deleted between the listing and the read.
                Err(e) if service_code(&e) == Some("NoSuchKey") => continue,
                Err(e) => return Err(blob_error(e)),
            };
            // The listing's size could be stale; never keep more than allowed.
            if u64::try_from(body.len()).map_or(true, |l| l > max_bytes) {
                continue;
            }
            files.push((name.to_owned(), body.to_vec()));
        }
        Ok(files)
    }

    #[instrument(skip(self), fields(key = %key))]
    async fn presign_get(
        &self,
        key: &ObjectKey,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        self.presigner
            .presign(
                &ObjectRequest::get_object(key.as_str()),
                expires_in,
                SystemTime::now(),
            )
            .await
    }

    #[instrument(skip(self), fields(key = %key))]
    async fn open_stream(
        &self,
        key: &ObjectKey,
        range: Option<&str>,
        if_match: Option<&ETag>,
    ) -> Result<ObjectStream, BlobError> {
        let res = self
            .bodies
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .set_range(range.map(str::to_owned))
            .set_if_match(if_match.map(|e| e.as_str().to_owned()))
            .send()
            .await;
        let out = match res {
            Ok(out) => out,
            Err(e) if matches!(service_code(&e), Some("NoSuchKey" | "InvalidRange")) => {
                return Err(BlobError::NotFound);
            }
            Err(e) if precondition_failed(&e) => return Err(BlobError::Changed),
            Err(e) => return Err(blob_error(e)),
        };
        let total_size = out
            .content_range
            .as_deref()
            .and_then(|r| r.rsplit('/').next())
            .and_then(|t| t.parse().ok())
            .or_else(|| out.content_length.and_then(|l| u64::try_from(l).ok()));
        // Chunks are handed on as S3 sends them: memory stays bounded by one chunk per
        // reader, whatever the object's size.
        let body = futures_util::stream::unfold(out.body, |mut body| async move {
            body.next()
                .await
                .map(|chunk| (chunk.map_err(std::io::Error::other), body))
        });
        Ok(ObjectStream {
            content_length: out
                .content_length
                .and_then(|l| u64::try_from(l).ok())
                .unwrap_or(0),
            content_range: out.content_range,
            content_type: out.content_type,
            total_size,
            body: Box::pin(body),
        })
    }

    #[instrument(skip(self), fields(key = %key))]
    async fn delete(&self, key: &ObjectKey) -> Result<(), BlobError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(blob_error)?;
        Ok(())
    }

    #[instrument(skip(self))]
    async fn abort_uploads_of(&self, owner: UserId) -> Result<usize, BlobError> {
        let prefix = ObjectKey::account_prefix(owner);
        let mut aborted = 0;
        let (mut key_marker, mut upload_marker) = (None, None);
        loop {
            let out = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(upload_marker.take())
                .send()
                .await
                .map_err(blob_error)?;
            for upload in out.uploads() {
                let (Some(key), Some(upload_id)) = (upload.key(), upload.upload_id()) else {
                    continue;
                };
                // Defence in depth: never act outside the prefix, whatever the server lists.
                if !key.starts_with(&prefix) {
                    continue;
                }
                let res = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .send()
                    .await;
                match res {
                    Ok(_) => aborted += 1,
                    Err(e) if service_code(&e) == Some("NoSuchUpload") => {}
                    Err(e) => return Err(blob_error(e)),
                }
            }
            if out.is_truncated() != Some(true) {
                return Ok(aborted);
            }
            key_marker = out.next_key_marker;
            upload_marker = out.next_upload_id_marker;
            if key_marker.is_none() {
                return Ok(aborted);
            }
        }
    }

    #[instrument(skip(self))]
    async fn delete_objects_of(&self, owner: UserId) -> Result<usize, BlobError> {
        let prefix = ObjectKey::account_prefix(owner);
        let mut deleted = 0;
        // Deleting while listing is safe: each page is listed again from the start, and what
        // was deleted is no longer listed.
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .send()
                .await
                .map_err(blob_error)?;
            let ids = out
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .filter(|k| k.starts_with(&prefix))
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| BlobError::Backend(Box::new(e)))?;
            if ids.is_empty() {
                return Ok(deleted);
            }
            let count = ids.len();
            let res = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(
                    Delete::builder()
                        .set_objects(Some(ids))
                        .quiet(true)
                        .build()
                        .map_err(|e| BlobError::Backend(Box::new(e)))?,
                )
                .send()
                .await
                .map_err(blob_error)?;
            if let Some(first) = res.errors().first() {
                return Err(BlobError::Backend(
                    format!(
                        "S3 refused to delete {} object(s), first: {}",
                        res.errors().len(),
                        first.code().unwrap_or("unknown")
                    )
                    .into(),
                ));
            }
            deleted += count;
        }
    }

    async fn ping(&self) -> Result<(), BlobError> {
        let res = self.client.head_bucket().bucket(&self.bucket).send().await;
        match res {
            Ok(_) => Ok(()),
            Err(e) => match classify(&e) {
                Class::Unavailable => Err(blob_error(e)),
                Class::Other => Err(BlobError::Backend(Box::new(e))),
            },
        }
    }
}
