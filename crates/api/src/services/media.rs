//! The URLs TikTok pulls videos from.
//!
//! `proxy` mode signs `GET /v1/media/{token}` on our own (verified) domain: the token names the
//! object and its expiry and is MACed with our key, so it cannot be forged or extended and
//! reveals nothing but ids. `presigned` mode hands out an S3 presigned GET instead.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use hmac::{Hmac, Mac};
use postiqo_domain::{ObjectKey, UserId, VideoId};
use postiqo_storage::Storage;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use url::Url;

use crate::config::MediaMode;
use crate::problem::{ApiError, ErrorCode};

#[derive(Serialize, Deserialize)]
struct Claims {
    u: String,
    v: String,
    exp: i64,
}

#[derive(Clone)]
pub struct MediaUrls {
    storage: Storage,
    mode: MediaMode,
    ttl: Duration,
    public_url: Url,
    key: Vec<u8>,
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

impl MediaUrls {
    pub fn new(
        storage: Storage,
        mode: MediaMode,
        ttl: Duration,
        public_url: Url,
        key: Vec<u8>,
    ) -> Self {
        Self {
            storage,
            mode,
            ttl,
            public_url,
            key,
        }
    }

    /// The URL for TikTok to pull this video from, valid for the whole download window.
    pub async fn url_for(
        &self,
        owner: UserId,
        video: VideoId,
        key: &ObjectKey,
    ) -> Result<Url, ApiError> {
        match self.mode {
            MediaMode::Presigned => {
                let req = self.storage.blobs.presign_get(key, self.ttl).await?;
                Url::parse(&req.url).map_err(|e| ApiError::new(ErrorCode::Internal).source(e))
            }
            MediaMode::Proxy => {
                let token = self.sign(owner, video);
                self.public_url
                    .join(&format!("/v1/media/{token}"))
                    .map_err(|e| ApiError::new(ErrorCode::Internal).source(e))
            }
        }
    }

    pub fn sign(&self, owner: UserId, video: VideoId) -> String {
        let claims = Claims {
            u: owner.to_string(),
            v: video.to_string(),
            exp: Utc::now().timestamp() + i64::try_from(self.ttl.as_secs()).unwrap_or(7200),
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let sig = URL_SAFE_NO_PAD.encode(mac(&self.key, &payload));
        format!("{payload}.{sig}")
    }

    /// The video a token grants, if the token is ours and unexpired.
    pub fn verify(&self, token: &str) -> Option<(UserId, VideoId)> {
        let (payload, sig) = token.split_once('.')?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let expected = mac(&self.key, payload);
        if !crate::auth::secrets::same_bytes(&sig, &expected) {
            return None;
        }
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        if claims.exp < Utc::now().timestamp() {
            return None;
        }
        Some((claims.u.parse().ok()?, claims.v.parse().ok()?))
    }
}
