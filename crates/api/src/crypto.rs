//! TikTok tokens at rest: sealed with XChaCha20-Poly1305 (random 192-bit nonces are safe at
//! any volume we will see), the key id stored beside the ciphertext so keys can rotate, and
//! the user id and field name as associated data so a ciphertext cannot be moved to another
//! user or field.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::config::KeyRing;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("no key with id {0}")]
    UnknownKey(String),
    #[error("ciphertext could not be opened")]
    Open,
    #[error("sealing failed")]
    Seal,
}

pub struct TokenCipher {
    /// (key id, cipher); the first seals.
    keys: Vec<(String, XChaCha20Poly1305)>,
}

impl TokenCipher {
    pub fn new(keys: &KeyRing) -> Self {
        let keys = keys
            .keys
            .iter()
            .filter_map(|(kid, secret)| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(secret.expose_secret())
                    .or_else(|_| URL_SAFE_NO_PAD.decode(secret.expose_secret()))
                    .ok()?;
                XChaCha20Poly1305::new_from_slice(&bytes)
                    .ok()
                    .map(|c| (kid.clone(), c))
            })
            .collect();
        Self { keys }
    }

    /// The id of the key new ciphertexts are sealed with.
    pub fn current_key_id(&self) -> &str {
        self.keys
            .first()
            .map(|(k, _)| k.as_str())
            .unwrap_or_default()
    }

    pub fn seal(&self, plaintext: &SecretString, aad: &str) -> Result<String, CryptoError> {
        let (_, cipher) = self.keys.first().ok_or(CryptoError::Seal)?;
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.expose_secret().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Seal)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    pub fn open(&self, key_id: &str, sealed: &str, aad: &str) -> Result<SecretString, CryptoError> {
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(k, _)| k == key_id)
            .ok_or_else(|| CryptoError::UnknownKey(key_id.to_owned()))?;
        let raw = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| CryptoError::Open)?;
        if raw.len() < 24 {
            return Err(CryptoError::Open);
        }
        let (nonce, ct) = raw.split_at(24);
        let pt = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Open)?;
        String::from_utf8(pt)
            .map(SecretString::from)
            .map_err(|_| CryptoError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(keys: &[(&str, [u8; 32])]) -> KeyRing {
        KeyRing {
            keys: keys
                .iter()
                .map(|(k, b)| {
                    (
                        (*k).to_owned(),
                        SecretString::from(base64::engine::general_purpose::STANDARD.encode(b)),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn seals_and_opens_with_rotation() {
        let old = TokenCipher::new(&ring(&[("k1", [1; 32])]));
        let sealed = old
            .seal(&SecretString::from("act.secret-token"), "user-1:access")
            .expect("seal");
        assert!(!sealed.contains("secret-token"));
        let rotated = TokenCipher::new(&ring(&[("k2", [2; 32]), ("k1", [1; 32])]));
        assert_eq!(rotated.current_key_id(), "k2");
        let opened = rotated.open("k1", &sealed, "user-1:access").expect("open");
        assert_eq!(opened.expose_secret(), "act.secret-token");
    }

    #[test]
    fn ciphertexts_are_bound_to_their_row_and_field() {
        let c = TokenCipher::new(&ring(&[("k1", [1; 32])]));
        let sealed = c
            .seal(&SecretString::from("rft.x"), "user-1:refresh")
            .expect("seal");
        assert!(c.open("k1", &sealed, "user-2:refresh").is_err());
        assert!(c.open("k1", &sealed, "user-1:access").is_err());
        assert!(c.open("k9", &sealed, "user-1:refresh").is_err());
        let mut tampered = sealed.clone();
        tampered.replace_range(30..31, if &sealed[30..31] == "A" { "B" } else { "A" });
        assert!(c.open("k1", &tampered, "user-1:refresh").is_err());
        // The same plaintext seals differently each time (random nonce).
        assert_ne!(
            sealed,
            c.seal(&SecretString::from("rft.x"), "user-1:refresh")
                .expect("seal")
        );
    }
}
