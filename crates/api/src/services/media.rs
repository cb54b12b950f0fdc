//! The URLs TikTok pulls videos from, and what they serve.
//!
//! `proxy` mode signs `GET /v1/media/{token}` on our own (verified) domain: the token names the
//! object, the content verified at upload-complete (its entity tag) and an expiry, and is MACed
//! with a key derived for media tokens from each JWT key, so it cannot be forged or extended and
//! reveals nothing but ids. The first key signs and every key of the ring verifies, so rotating
//! the JWT keys never breaks a download TikTok has already started. The route
//! reads S3 with `If-Match` on that tag, so bytes written after the verification (an upload
//! URL stays valid for a while) are never served. `presigned` mode hands out an S3 presigned
//! GET instead; S3 cannot tie such a URL to one content (TikTok would have to send `If-Match`
//! itself), so there the object is checked against the tag right before TikTok is called.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use chrono::Utc;
use hmac::{Hmac, Mac};
use postiqo_domain::{ETag, ObjectKey, UserId, Video, VideoId};
use postiqo_storage::{BlobError, ObjectStream, Storage};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tracing::warn;
use url::Url;

use crate::config::MediaMode;
use crate::services::site_files::VerificationFiles;

#[derive(Serialize, Deserialize)]
struct Claims {
    u: String,
    v: String,
    exp: i64,
    /// The entity tag of the only content this token serves.
    e: String,
}

/// What a media token grants: one video's verified content, until the token expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaGrant {
    pub owner: UserId,
    pub video: VideoId,
    pub etag: ETag,
}

/// Why a video's bytes cannot be handed to TikTok.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// The object holds other bytes than upload-complete verified.
    #[error("the object changed after it was verified")]
    Changed,
    #[error("the object is gone")]
    Missing,
    #[error(transparent)]
    Storage(#[from] BlobError),
}

/// Why media cannot be served or addressed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// No such media: the token is not ours, expired, or its object is gone.
    #[error("no such media, or the link expired")]
    NotFound,
    /// The object holds other bytes than upload-complete verified: not served.
    #[error("the object changed after it was verified")]
    Changed,
    #[error("the media URL could not be built")]
    Url(#[source] url::ParseError),
    #[error(transparent)]
    Blobs(#[from] BlobError),
}

#[derive(Clone)]
pub struct MediaService {
    storage: Storage,
    mode: MediaMode,
    ttl: Duration,
    public_url: Url,
    tokens: MediaTokens,
    verification: VerificationFiles,
}

/// Signs and checks media tokens.
#[derive(Clone)]
pub struct MediaTokens {
    /// Ring order: the first signs, all verify.
    keys: Vec<[u8; 32]>,
    ttl: Duration,
}

fn mac(key: &[u8], payload: &str) -> Vec<u8> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(b"postiqo-media:");
            m.update(payload.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

impl MediaService {
    pub fn new(
        storage: Storage,
        mode: MediaMode,
        ttl: Duration,
        public_url: Url,
        keys: Vec<[u8; 32]>,
    ) -> Self {
        Self {
            verification: VerificationFiles::new(storage.clone()),
            storage,
            mode,
            ttl,
            public_url,
            tokens: MediaTokens::new(keys, ttl),
        }
    }

    /// The content TikTok may be given: the verified one, if the object still holds it.
    /// A video verified before tags were kept has no tag: what is there now is pinned.
    pub async fn pinned(&self, video: &Video) -> Result<ETag, PinError> {
        let meta = self
            .storage
            .blobs
            .head(&video.object_key)
            .await?
            .ok_or(PinError::Missing)?;
        match (&video.verified_etag, meta.etag) {
            (Some(verified), Some(current)) if *verified == current => Ok(current),
            (Some(_), _) => Err(PinError::Changed),
            (None, Some(current)) => {
                warn!(video_id = %video.id, "video verified before tags were kept; pinning its current content");
                Ok(current)
            }
            (None, None) => Err(PinError::Storage(BlobError::Backend(
                "the object store gave no entity tag".into(),
            ))),
        }
    }

    /// The URL for TikTok to pull the `pinned` content of this video from, valid for the
    /// whole download window.
    pub async fn url_for(&self, video: &Video, pinned: &ETag) -> Result<Url, MediaError> {
        match self.mode {
            MediaMode::Presigned => {
                let req = self
                    .storage
                    .blobs
                    .presign_get(&video.object_key, self.ttl)
                    .await?;
                Url::parse(&req.url).map_err(MediaError::Url)
            }
            MediaMode::Proxy => {
                let token = self.sign(video.owner, video.id, pinned);
                self.public_url
                    .join(&format!("/v1/media/{token}"))
                    .map_err(MediaError::Url)
            }
        }
    }

    pub fn sign(&self, owner: UserId, video: VideoId, etag: &ETag) -> String {
        self.tokens.sign(owner, video, etag)
    }

    /// What a token grants, if the token is ours and unexpired.
    pub fn verify(&self, token: &str) -> Option<MediaGrant> {
        self.tokens.verify(token)
    }

    /// Opens the bytes a media token grants (the whole object or one `Range`), streamed.
    pub async fn open(&self, token: &str, range: Option<&str>) -> Result<ObjectStream, MediaError> {
        let grant = self.verify(token).ok_or(MediaError::NotFound)?;
        let key = ObjectKey::for_video(grant.owner, grant.video);
        match self
            .storage
            .blobs
            .open_stream(&key, range, Some(&grant.etag))
            .await
        {
            Ok(object) => Ok(object),
            Err(BlobError::NotFound) => Err(MediaError::NotFound),
            Err(BlobError::Changed) => {
                warn!(video_id = %grant.video, "the object changed after it was verified; not served");
                Err(MediaError::Changed)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// TikTok's URL-prefix verification file of this name, if one was published.
    pub async fn verification_file(&self, name: &str) -> Result<Option<Bytes>, BlobError> {
        self.verification.get(name).await
    }
}

impl MediaTokens {
    pub fn new(keys: Vec<[u8; 32]>, ttl: Duration) -> Self {
        Self { keys, ttl }
    }

    pub fn sign(&self, owner: UserId, video: VideoId, etag: &ETag) -> String {
        let claims = Claims {
            u: owner.to_string(),
            v: video.to_string(),
            exp: Utc::now().timestamp() + i64::try_from(self.ttl.as_secs()).unwrap_or(7200),
            e: etag.as_str().to_owned(),
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let key = self.keys.first().map_or(&[][..], |k| &k[..]);
        let sig = URL_SAFE_NO_PAD.encode(mac(key, &payload));
        format!("{payload}.{sig}")
    }

    /// What a token grants, if the token is ours (under any key of the ring) and unexpired.
    pub fn verify(&self, token: &str) -> Option<MediaGrant> {
        let (payload, sig) = token.split_once('.')?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let genuine = self
            .keys
            .iter()
            .any(|k| crate::credentials::secrets::same_bytes(&sig, &mac(k, payload)));
        if !genuine {
            return None;
        }
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        if claims.exp < Utc::now().timestamp() {
            return None;
        }
        Some(MediaGrant {
            owner: claims.u.parse().ok()?,
            video: claims.v.parse().ok()?,
            etag: ETag::parse(&claims.e)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::secrets::derive_key;

    const HOUR: Duration = Duration::from_secs(3600);

    fn tag() -> ETag {
        ETag::parse("\"0123abcd\"").expect("tag")
    }

    fn grant(owner: UserId, video: VideoId) -> Option<MediaGrant> {
        Some(MediaGrant {
            owner,
            video,
            etag: tag(),
        })
    }

    #[test]
    fn tokens_verify_under_every_key_of_the_ring() {
        let k1 = derive_key(
            b"first key, 32 bytes long, really",
            "postiqo/media-token/v1",
        );
        let k2 = derive_key(
            b"second key, also 32 bytes long!!",
            "postiqo/media-token/v1",
        );
        let owner = UserId::new_v7(1, [1; 10]);
        let video = VideoId::new_v7(2, [2; 10]);
        let before = MediaTokens::new(vec![k1], HOUR);
        let started = before.sign(owner, video, &tag());
        assert_eq!(before.verify(&started), grant(owner, video));

        // A new key put first: the download already started goes on; new URLs use the new key.
        let rotated = MediaTokens::new(vec![k2, k1], HOUR);
        assert_eq!(rotated.verify(&started), grant(owner, video));
        let fresh = rotated.sign(owner, video, &tag());
        assert_eq!(before.verify(&fresh), None);
        // The old key dropped: its tokens are done.
        assert_eq!(MediaTokens::new(vec![k2], HOUR).verify(&started), None);
    }

    #[test]
    fn forged_and_tampered_tokens_fail() {
        let jwt_key = b"0123456789abcdef0123456789abcdef";
        let tokens = MediaTokens::new(vec![derive_key(jwt_key, "postiqo/media-token/v1")], HOUR);
        let owner = UserId::new_v7(1, [1; 10]);
        let video = VideoId::new_v7(2, [2; 10]);
        let good = tokens.sign(owner, video, &tag());
        let (payload, _) = good.split_once('.').expect("two parts");
        // MACed with the JWT key itself (what the known development key allowed before).
        let with_jwt_key = format!(
            "{payload}.{}",
            URL_SAFE_NO_PAD.encode(mac(jwt_key, payload))
        );
        assert_eq!(tokens.verify(&with_jwt_key), None);
        let other = MediaTokens::new(vec![derive_key(jwt_key, "postiqo/csrf-token/v1")], HOUR);
        assert_eq!(tokens.verify(&other.sign(owner, video, &tag())), None);
        assert_eq!(tokens.verify(&format!("{payload}.")), None);
        assert_eq!(tokens.verify("not-a-token"), None);
        assert_eq!(MediaTokens::new(Vec::new(), HOUR).verify(&good), None);
    }
}
