//! Random secrets, their digests, and CSRF tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// `len` random bytes, base64url without padding.
pub fn random_token(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// Hex SHA-256: how one-time secrets and refresh tokens are stored.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// RFC 7636 S256: base64url(SHA-256(verifier)).
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Constant-time string comparison.
pub fn same(a: &str, b: &str) -> bool {
    same_bytes(a.as_bytes(), b.as_bytes())
}

/// Constant-time comparison (the length is not secret).
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A key for one purpose, derived from a configured key (HKDF-SHA256, the purpose as `info`).
/// A token of one kind then never verifies as another, and none is a MAC under the JWT key.
pub fn derive_key(key: &[u8], purpose: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit: expand cannot fail.
    let _ = Hkdf::<Sha256>::new(None, key).expand(purpose.as_bytes(), &mut out);
    out
}

/// The CSRF token of a session: an HMAC of its id, so nothing is stored and every instance
/// can check it.
pub fn csrf_token(key: &[u8], session_id: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(b"postiqo-csrf:");
    mac.update(session_id.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The refresh secret that follows `previous` in a rotation: an HMAC of it, so a second
/// presentation of `previous` within the reuse interval can hand out the same successor
/// without it being stored anywhere. Unguessable without the key, like a random one.
pub fn next_refresh_secret(key: &[u8], previous: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return random_token(32);
    };
    mac.update(b"postiqo-refresh-rotation:");
    mac.update(previous.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc_7636() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_key() {
        let a = csrf_token(b"k1", "s1");
        assert_eq!(a, csrf_token(b"k1", "s1"));
        assert_ne!(a, csrf_token(b"k1", "s2"));
        assert_ne!(a, csrf_token(b"k2", "s1"));
        assert!(same(&a, &csrf_token(b"k1", "s1")));
        assert!(!same(&a, "x"));
    }

    #[test]
    fn derived_keys_differ_per_purpose_and_key() {
        let a = derive_key(b"0123456789abcdef0123456789abcdef", "postiqo/csrf/v1");
        assert_eq!(
            a,
            derive_key(b"0123456789abcdef0123456789abcdef", "postiqo/csrf/v1")
        );
        assert_ne!(
            a,
            derive_key(b"0123456789abcdef0123456789abcdef", "postiqo/media/v1")
        );
        assert_ne!(
            a,
            derive_key(b"fedcba9876543210fedcba9876543210", "postiqo/csrf/v1")
        );
        assert_ne!(&a[..], b"0123456789abcdef0123456789abcdef");
    }

    #[test]
    fn rotation_successors_are_stable_per_key_and_differ_between_tokens() {
        let a = next_refresh_secret(b"k1", "r1");
        assert_eq!(a, next_refresh_secret(b"k1", "r1"));
        assert_ne!(a, next_refresh_secret(b"k1", "r2"));
        assert_ne!(a, next_refresh_secret(b"k2", "r1"));
        assert_eq!(a.len(), 43);
    }

    #[test]
    fn random_tokens_are_unique() {
        assert_ne!(random_token(32), random_token(32));
        assert_eq!(random_token(32).len(), 43);
    }
}
