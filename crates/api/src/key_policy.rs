//! Keys fit for production.
//!
//! Anyone holding the JWT key can sign in as anyone and mint media and CSRF tokens; anyone
//! holding the token-encryption key can read every stored TikTok token. A key printed in this
//! repository (the development keys in `scripts/local-env.sh` and `docker-compose.yml`, the
//! keys of tests and docs) is known to everyone, and a key with almost no randomness in it is
//! guessed. Outside localhost the process refuses both, before it serves anything.
//!
//! The published keys are listed in `published_keys.txt`; a test scans the repository for
//! key-shaped values and fails until each one is listed, so a new published key cannot slip
//! through.

use base64::Engine;
use secrecy::ExposeSecret;

use crate::config::{ConfigError, KeyRing};

const PUBLISHED: &str = include_str!("published_keys.txt");

/// A configured key's bytes, decoded the way configuration accepts it.
pub fn decode(secret: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(secret)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(secret))
        .ok()
}

/// The keys printed in this repository, decoded.
pub fn published_keys() -> Vec<Vec<u8>> {
    PUBLISHED
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(decode)
        .collect()
}

pub fn is_published(key: &[u8]) -> bool {
    published_keys().iter().any(|k| k.as_slice() == key)
}

/// Why `key` is too weak to protect anything, if it is. A random 32-byte key fails none of
/// these (the likeliest, fewer than 16 distinct bytes, has odds far below 2^-64).
pub fn weakness(key: &[u8]) -> Option<&'static str> {
    if key.len() < 32 {
        return Some("is shorter than 32 bytes");
    }
    let mut seen = [false; 256];
    for b in key {
        seen[usize::from(*b)] = true;
    }
    if seen.iter().filter(|s| **s).count() < 16 {
        return Some("has fewer than 16 distinct bytes");
    }
    let periodic = (1..=key.len() / 2).any(|p| key[p..].iter().zip(key).all(|(a, b)| a == b));
    if periodic {
        return Some("repeats a short pattern");
    }
    let step = key[1].wrapping_sub(key[0]);
    if key.windows(2).all(|w| w[1].wrapping_sub(w[0]) == step) {
        return Some("is a simple sequence");
    }
    None
}

/// Refuses a ring holding a published or weak key, naming the variable and the key id (never
/// the key).
pub fn check_production(var: &'static str, ring: &KeyRing) -> Result<(), ConfigError> {
    let published = published_keys();
    for (kid, secret) in &ring.keys {
        let Some(bytes) = decode(secret.expose_secret()) else {
            continue;
        };
        let problem = if published.contains(&bytes) {
            format!(
                "key {kid} is published in the Postiqo repository and must not be used outside localhost; generate one (openssl rand -base64 32)"
            )
        } else if let Some(why) = weakness(&bytes) {
            format!(
                "key {kid} {why} and must not be used outside localhost; generate one (openssl rand -base64 32)"
            )
        } else {
            continue;
        };
        return Err(ConfigError { var, problem });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn ring(keys: &[(&str, &[u8])]) -> KeyRing {
        KeyRing {
            keys: keys
                .iter()
                .map(|(kid, k)| {
                    (
                        (*kid).to_owned(),
                        SecretString::from(base64::engine::general_purpose::STANDARD.encode(k)),
                    )
                })
                .collect(),
        }
    }

    /// 32 bytes from a fixed, well-mixed sequence (not a published key, not weak).
    fn strong() -> Vec<u8> {
        (0u32..32)
            .map(|i| u8::try_from((i * 167 + 13) % 251).unwrap_or(0) ^ 0x5a)
            .collect()
    }

    #[test]
    fn the_development_keys_are_listed() {
        for dev in [
            "ZGV2LW9ubHktand0LWtleS1ub3QtZm9yLXByb2R1Y3Rpb24=",
            "ZGV2LW9ubHktdG9rZW4tZW5jcnlwdGlvbi1rZXktMzI=",
        ] {
            assert!(is_published(&decode(dev).expect("base64")), "{dev}");
        }
        // Compared by bytes: the URL-safe unpadded spelling is the same key.
        assert!(is_published(
            &decode("ZGV2LW9ubHktand0LWtleS1ub3QtZm9yLXByb2R1Y3Rpb24").expect("base64")
        ));
        assert!(!is_published(&strong()));
    }

    #[test]
    fn weak_keys_are_named() {
        assert_eq!(weakness(&[7; 32]), Some("has fewer than 16 distinct bytes"));
        assert_eq!(weakness(&[1; 20]), Some("is shorter than 32 bytes"));
        assert_eq!(
            weakness(b"0123456789abcdef0123456789abcdef"),
            Some("repeats a short pattern")
        );
        let pattern: Vec<u8> = (0..40).map(|i| b"abcdefghijklmnopqrst"[i % 20]).collect();
        assert_eq!(weakness(&pattern), Some("repeats a short pattern"));
        let sequence: Vec<u8> = (0..32).collect();
        assert_eq!(weakness(&sequence), Some("is a simple sequence"));
        let down: Vec<u8> = (0..48).map(|i| 200 - i * 3).collect();
        assert_eq!(weakness(&down), Some("is a simple sequence"));
        assert_eq!(weakness(&strong()), None);
        // A pattern cut off mid-way still repeats.
        let cut: Vec<u8> = (0..45).map(|i| b"0123456789abcdefghij"[i % 20]).collect();
        assert_eq!(weakness(&cut), Some("repeats a short pattern"));
    }

    #[test]
    fn refusals_name_the_variable_and_key_id_never_the_key() {
        let dev = decode("ZGV2LW9ubHktand0LWtleS1ub3QtZm9yLXByb2R1Y3Rpb24=").expect("base64");
        let e = check_production(
            "POSTIQO_JWT_KEYS",
            &ring(&[("new", &strong()), ("dev", &dev)]),
        )
        .expect_err("a published key anywhere in the ring");
        assert_eq!(e.var, "POSTIQO_JWT_KEYS");
        let line = e.to_string();
        assert!(line.contains("key dev is published"), "{line}");
        assert!(!line.contains("ZGV2LW9ubHktand0"), "{line}");
        assert!(!line.contains("dev-only-jwt-key"), "{line}");
        assert_eq!(line.lines().count(), 1);

        let e = check_production("POSTIQO_TOKEN_ENCRYPTION_KEY", &ring(&[("w", &[9; 32])]))
            .expect_err("weak");
        assert_eq!(e.var, "POSTIQO_TOKEN_ENCRYPTION_KEY");
        assert!(e.to_string().contains("fewer than 16 distinct bytes"));

        assert!(check_production("POSTIQO_JWT_KEYS", &ring(&[("k", &strong())])).is_ok());
    }
}
