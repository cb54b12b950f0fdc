//! The URLs TikTok pulls videos from.
//!
//! `proxy` mode signs `GET /v1/media/{token}` on our own (verified) domain: the token names the
//! object and its expiry and is MACed with a key derived for media tokens from each JWT key, so
//! it cannot be forged or extended and reveals nothing but ids. The first key signs and every
//! key of the ring verifies, so rotating the JWT keys never breaks a download TikTok has already
//! started. `presigned` mode hands out an S3 presigned GET instead.

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
    public_url: Url,
    tokens: MediaTokens,
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

impl MediaUrls {
    pub fn new(
        storage: Storage,
        mode: MediaMode,
        ttl: Duration,
        public_url: Url,
        keys: Vec<[u8; 32]>,
    ) -> Self {
        Self {
            storage,
            mode,
            public_url,
            tokens: MediaTokens { keys, ttl },
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
                let req = self.storage.blobs.presign_get(key, self.tokens.ttl).await?;
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
        self.tokens.sign(owner, video)
    }

    /// The video a token grants, if the token is ours and unexpired.
    pub fn verify(&self, token: &str) -> Option<(UserId, VideoId)> {
        self.tokens.verify(token)
    }
}

impl MediaTokens {
    pub fn new(keys: Vec<[u8; 32]>, ttl: Duration) -> Self {
        Self { keys, ttl }
    }

    pub fn sign(&self, owner: UserId, video: VideoId) -> String {
        let claims = Claims {
            u: owner.to_string(),
            v: video.to_string(),
            exp: Utc::now().timestamp() + i64::try_from(self.ttl.as_secs()).unwrap_or(7200),
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let key = self.keys.first().map_or(&[][..], |k| &k[..]);
        let sig = URL_SAFE_NO_PAD.encode(mac(key, &payload));
        format!("{payload}.{sig}")
    }

    /// The video a token grants, if the token is ours and unexpired.
    pub fn verify(&self, token: &str) -> Option<(UserId, VideoId)> {
        let (payload, sig) = token.split_once('.')?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let genuine = self
            .keys
            .iter()
            .any(|k| crate::auth::secrets::same_bytes(&sig, &mac(k, payload)));
        if !genuine {
            return None;
        }
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        if claims.exp < Utc::now().timestamp() {
            return None;
        }
        Some((claims.u.parse().ok()?, claims.v.parse().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::secrets::derive_key;

    const HOUR: Duration = Duration::from_secs(3600);

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
        let started = before.sign(owner, video);
        assert_eq!(before.verify(&started), Some((owner, video)));

        // A new key put first: the download already started goes on; new URLs use the new key.
        let rotated = MediaTokens::new(vec![k2, k1], HOUR);
        assert_eq!(rotated.verify(&started), Some((owner, video)));
        let fresh = rotated.sign(owner, video);
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
        let good = tokens.sign(owner, video);
        let (payload, _) = good.split_once('.').expect("two parts");
        // MACed with the JWT key itself (what the known development key allowed before).
        let with_jwt_key = format!(
            "{payload}.{}",
            URL_SAFE_NO_PAD.encode(mac(jwt_key, payload))
        );
        assert_eq!(tokens.verify(&with_jwt_key), None);
        let other = MediaTokens::new(vec![derive_key(jwt_key, "postiqo/csrf-token/v1")], HOUR);
        assert_eq!(tokens.verify(&other.sign(owner, video)), None);
        assert_eq!(tokens.verify(&format!("{payload}.")), None);
        assert_eq!(tokens.verify("not-a-token"), None);
        assert_eq!(MediaTokens::new(Vec::new(), HOUR).verify(&good), None);
    }
}
