//! The video bucket in memory: objects as bytes with an entity tag, a content type and the
//! upload tag (pending until confirmed), and multipart uploads.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use postiqo_domain::{ContentType, ETag, ObjectKey, UserId};

use super::MemoryStore;
use crate::definition::{UPLOAD_CONFIRMED, UPLOAD_PENDING};
use crate::{BlobError, BlobStore, CompletedPart, ObjectMeta, ObjectStream, PresignedRequest};

/// Where small site files live, as in S3: outside `users/`.
const SITE_PREFIX: &str = "site/";

/// An object as the bucket holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    pub etag: String,
    /// The upload tag's value: `pending` until the upload is confirmed.
    pub upload_tag: Option<String>,
}

pub(super) struct Upload {
    key: String,
    content_type: String,
    /// By part number: the part's entity tag and bytes.
    parts: BTreeMap<u32, (String, Vec<u8>)>,
}

/// An entity tag naming these bytes (S3's is an MD5; any digest of the content will do).
fn etag_of(bytes: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    format!("\"{:016x}\"", h.finish())
}

fn fake_url(method: &str, key: &str, expires_in: Duration) -> PresignedRequest {
    PresignedRequest {
        method: method.to_owned(),
        url: format!("memory://bucket/{key}"),
        headers: Vec::new(),
        expires_at: Utc::now() + chrono::Duration::from_std(expires_in).unwrap_or_default(),
    }
}

fn invalid_parts(why: &str) -> BlobError {
    BlobError::InvalidParts(why.to_owned().into())
}

/// The bytes `range` (HTTP `Range` syntax) selects of `len` bytes: `(first, last)`;
/// `None` when it is not satisfiable (S3's `InvalidRange`).
fn byte_range(range: &str, len: u64) -> Option<(u64, u64)> {
    let spec = range.strip_prefix("bytes=")?;
    let (from, to) = spec.split_once('-')?;
    if len == 0 {
        return None;
    }
    let (first, last) = match (from.trim(), to.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            (len.saturating_sub(n), len - 1)
        }
        (from, "") => (from.parse().ok()?, len - 1),
        (from, to) => (from.parse().ok()?, to.parse::<u64>().ok()?.min(len - 1)),
    };
    (first <= last && first < len).then_some((first, last))
}

impl MemoryStore {
    /// Plays the client's presigned PUT: stores the object, tagged pending as S3 stores it.
    pub fn put_object(&self, key: &ObjectKey, bytes: Vec<u8>, content_type: &str) -> ETag {
        let etag = etag_of(&bytes);
        self.lock().objects.insert(
            key.as_str().to_owned(),
            StoredObject {
                bytes,
                content_type: Some(content_type.to_owned()),
                etag: etag.clone(),
                upload_tag: Some(UPLOAD_PENDING.to_owned()),
            },
        );
        ETag::parse(&etag).unwrap_or_else(|| unreachable!("a hex digest in quotes is an ETag"))
    }

    /// Plays the client's PUT of one part; returns the part's entity tag, `None` when the
    /// upload is unknown.
    pub fn put_part(&self, upload_id: &str, part_number: u32, bytes: Vec<u8>) -> Option<String> {
        let etag = etag_of(&bytes);
        let mut s = self.lock();
        let upload = s.uploads.get_mut(upload_id)?;
        upload.parts.insert(part_number, (etag.clone(), bytes));
        Some(etag)
    }

    /// How many reads of object bytes (prefix or range: a GET each on S3) were made.
    pub fn object_reads(&self) -> usize {
        self.lock().object_reads
    }

    /// The object under `key`, for assertions.
    pub fn object(&self, key: &ObjectKey) -> Option<StoredObject> {
        self.lock().objects.get(key.as_str()).cloned()
    }

    /// Every object key and every open upload's key, for assertions.
    pub fn object_keys(&self) -> Vec<String> {
        let s = self.lock();
        s.objects
            .keys()
            .chain(s.uploads.values().map(|u| &u.key))
            .cloned()
            .collect()
    }
}

#[async_trait]
impl BlobStore for MemoryStore {
    async fn presign_put(
        &self,
        key: &ObjectKey,
        content_type: ContentType,
        content_length: u64,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        let mut req = fake_url("PUT", key.as_str(), expires_in);
        req.headers = vec![
            ("content-type".into(), content_type.as_mime().into()),
            ("content-length".into(), content_length.to_string()),
        ];
        Ok(req)
    }

    async fn create_multipart(
        &self,
        key: &ObjectKey,
        content_type: ContentType,
    ) -> Result<String, BlobError> {
        self.blob_write(|s| {
            s.next_upload += 1;
            let id = format!("upload-{}", s.next_upload);
            s.uploads.insert(
                id.clone(),
                Upload {
                    key: key.as_str().to_owned(),
                    content_type: content_type.as_mime().to_owned(),
                    parts: BTreeMap::new(),
                },
            );
            Ok(id)
        })
    }

    async fn presign_part(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        part_number: u32,
        content_length: u64,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        let mut req = fake_url(
            "PUT",
            &format!("{key}?uploadId={upload_id}&partNumber={part_number}"),
            expires_in,
        );
        req.headers = vec![("content-length".into(), content_length.to_string())];
        Ok(req)
    }

    async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<(), BlobError> {
        self.blob_write(|s| {
            let upload = match s.uploads.get(upload_id) {
                Some(u) if u.key == key.as_str() => u,
                _ => return Err(BlobError::NotFound),
            };
            if parts.is_empty() {
                return Err(invalid_parts("no parts"));
            }
            if !parts
                .windows(2)
                .all(|w| w[0].part_number < w[1].part_number)
            {
                return Err(invalid_parts("parts not in ascending order"));
            }
            let mut bytes = Vec::new();
            for p in parts {
                match upload.parts.get(&p.part_number) {
                    Some((etag, part)) if *etag == p.etag => bytes.extend_from_slice(part),
                    _ => return Err(invalid_parts("a part is missing or has another ETag")),
                }
            }
            let content_type = upload.content_type.clone();
            s.uploads.remove(upload_id);
            // S3's multipart ETag: a digest of the parts and their count.
            let etag = format!("\"{}-{}\"", etag_of(&bytes).trim_matches('"'), parts.len());
            s.objects.insert(
                key.as_str().to_owned(),
                StoredObject {
                    bytes,
                    content_type: Some(content_type),
                    etag,
                    upload_tag: Some(UPLOAD_PENDING.to_owned()),
                },
            );
            Ok(())
        })
    }

    async fn abort_multipart(&self, _key: &ObjectKey, upload_id: &str) -> Result<(), BlobError> {
        self.blob_write(|s| {
            s.uploads.remove(upload_id);
            Ok(())
        })
    }

    async fn head(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>, BlobError> {
        Ok(self.lock().objects.get(key.as_str()).map(|o| ObjectMeta {
            size: o.bytes.len() as u64,
            content_type: o.content_type.clone(),
            etag: ETag::parse(&o.etag),
        }))
    }

    async fn read_prefix(
        &self,
        key: &ObjectKey,
        len: u64,
        if_match: Option<&ETag>,
    ) -> Result<Vec<u8>, BlobError> {
        let mut s = self.lock();
        s.object_reads += 1;
        let o = s.objects.get(key.as_str()).ok_or(BlobError::NotFound)?;
        if if_match.is_some_and(|e| e.as_str() != o.etag) {
            return Err(BlobError::Changed);
        }
        let n = usize::try_from(len)
            .unwrap_or(usize::MAX)
            .min(o.bytes.len());
        Ok(o.bytes[..n].to_vec())
    }

    async fn read_range(
        &self,
        key: &ObjectKey,
        offset: u64,
        len: u64,
        if_match: Option<&ETag>,
    ) -> Result<Vec<u8>, BlobError> {
        let mut s = self.lock();
        s.object_reads += 1;
        let o = s.objects.get(key.as_str()).ok_or(BlobError::NotFound)?;
        if if_match.is_some_and(|e| e.as_str() != o.etag) {
            return Err(BlobError::Changed);
        }
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(o.bytes.len());
        let end = start
            .saturating_add(usize::try_from(len).unwrap_or(usize::MAX))
            .min(o.bytes.len());
        Ok(o.bytes.get(start..end).unwrap_or_default().to_vec())
    }

    async fn presign_get(
        &self,
        key: &ObjectKey,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        Ok(fake_url("GET", key.as_str(), expires_in))
    }

    async fn mark_confirmed(&self, key: &ObjectKey) -> Result<(), BlobError> {
        self.blob_write(|s| match s.objects.get_mut(key.as_str()) {
            Some(o) => {
                o.upload_tag = Some(UPLOAD_CONFIRMED.to_owned());
                Ok(())
            }
            None => Err(BlobError::NotFound),
        })
    }

    async fn put_site_file(
        &self,
        name: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), BlobError> {
        self.blob_write(|s| {
            let etag = etag_of(&body);
            s.objects.insert(
                format!("{SITE_PREFIX}{name}"),
                StoredObject {
                    bytes: body,
                    content_type: Some(content_type.to_owned()),
                    etag,
                    upload_tag: None,
                },
            );
            Ok(())
        })
    }

    async fn site_files(
        &self,
        dir: &str,
        max_files: usize,
        max_bytes: u64,
    ) -> Result<Vec<(String, Vec<u8>)>, BlobError> {
        let prefix = format!("{SITE_PREFIX}{}/", dir.trim_matches('/'));
        let s = self.lock();
        // Like S3: the first `max_files` keys are listed, then filtered.
        Ok(s.objects
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .take(max_files)
            .filter_map(|(k, o)| {
                let name = k.strip_prefix(&prefix).filter(|n| !n.contains('/'))?;
                (o.bytes.len() as u64 <= max_bytes).then(|| (name.to_owned(), o.bytes.clone()))
            })
            .collect())
    }

    async fn open_stream(
        &self,
        key: &ObjectKey,
        range: Option<&str>,
        if_match: Option<&ETag>,
    ) -> Result<ObjectStream, BlobError> {
        let s = self.lock();
        let o = s.objects.get(key.as_str()).ok_or(BlobError::NotFound)?;
        if if_match.is_some_and(|e| e.as_str() != o.etag) {
            return Err(BlobError::Changed);
        }
        let total = o.bytes.len() as u64;
        let (body, content_range) = match range {
            Some(r) => {
                let (first, last) = byte_range(r, total).ok_or(BlobError::NotFound)?;
                let slice = o.bytes[first as usize..=last as usize].to_vec();
                (slice, Some(format!("bytes {first}-{last}/{total}")))
            }
            None => (o.bytes.clone(), None),
        };
        let content_length = body.len() as u64;
        let chunk: Result<bytes::Bytes, std::io::Error> = Ok(bytes::Bytes::from(body));
        Ok(ObjectStream {
            content_length,
            content_range,
            content_type: o.content_type.clone(),
            total_size: Some(total),
            body: Box::pin(futures_util::stream::iter([chunk])),
        })
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), BlobError> {
        self.blob_write(|s| {
            s.objects.remove(key.as_str());
            Ok(())
        })
    }

    async fn abort_uploads_of(&self, owner: UserId) -> Result<usize, BlobError> {
        let prefix = ObjectKey::account_prefix(owner);
        self.blob_write(|s| {
            let before = s.uploads.len();
            s.uploads.retain(|_, u| !u.key.starts_with(&prefix));
            Ok(before - s.uploads.len())
        })
    }

    async fn delete_objects_of(&self, owner: UserId) -> Result<usize, BlobError> {
        let prefix = ObjectKey::account_prefix(owner);
        self.blob_write(|s| {
            let before = s.objects.len();
            s.objects.retain(|k, _| !k.starts_with(&prefix));
            Ok(before - s.objects.len())
        })
    }

    async fn ping(&self) -> Result<(), BlobError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn ranges_select_like_http() {
        assert_eq!(byte_range("bytes=0-3", 10), Some((0, 3)));
        assert_eq!(byte_range("bytes=5-", 10), Some((5, 9)));
        assert_eq!(byte_range("bytes=-4", 10), Some((6, 9)));
        assert_eq!(byte_range("bytes=8-100", 10), Some((8, 9)));
        assert_eq!(byte_range("bytes=10-", 10), None);
        assert_eq!(byte_range("bytes=4-2", 10), None);
        assert_eq!(byte_range("items=0-1", 10), None);
    }
}
