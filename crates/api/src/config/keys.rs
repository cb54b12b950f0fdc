//! Key rings: several keys under ids, the first in use, all accepted, so keys rotate without
//! logging anyone out or re-encrypting at once.

use std::fmt;

use base64::Engine;
use secrecy::SecretString;

use super::env::{ConfigError, err};

/// A key ring: the access-token signing keys, or the keys sealing TikTok tokens at rest. The
/// first key signs or seals; every key verifies or opens.
#[derive(Clone)]
pub struct KeyRing {
    pub keys: Vec<(String, SecretString)>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<_> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("KeyRing")
            .field("kids", &kids)
            .finish_non_exhaustive()
    }
}

/// `kid:base64secret,kid2:base64secret`; each secret at least 32 bytes.
pub(super) fn parse_signing_keys(var: &'static str, raw: &str) -> Result<KeyRing, ConfigError> {
    parse_keyring(var, raw, 32, None)
}

/// Encryption keys for TikTok tokens at rest: `kid:base64key[,...]`, each exactly 32 bytes.
/// The first encrypts; all decrypt, so keys rotate without re-encrypting at once.
pub(super) fn parse_sealing_keys(var: &'static str, raw: &str) -> Result<KeyRing, ConfigError> {
    parse_keyring(var, raw, 32, Some(32))
}

fn parse_keyring(
    var: &'static str,
    raw: &str,
    min: usize,
    exact: Option<usize>,
) -> Result<KeyRing, ConfigError> {
    let mut keys = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (kid, secret) = entry
            .split_once(':')
            .ok_or_else(|| err(var, "must be a comma-separated list of kid:base64-secret"))?;
        let valid_kid = !kid.is_empty()
            && kid.len() <= 64
            && kid
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid_kid {
            return Err(err(
                var,
                "has a key id that is not 1-64 characters of [A-Za-z0-9._-]",
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(secret)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(secret))
            .map_err(|_| err(var, format!("key {kid} is not valid base64")))?;
        if let Some(len) = exact
            && bytes.len() != len
        {
            return Err(err(
                var,
                format!("key {kid} must decode to exactly {len} bytes"),
            ));
        }
        if bytes.len() < min {
            return Err(err(
                var,
                format!("key {kid} must decode to at least {min} bytes"),
            ));
        }
        if keys.iter().any(|(k, _)| k == kid) {
            return Err(err(var, format!("lists key id {kid} twice")));
        }
        keys.push((kid.to_owned(), SecretString::from(secret.to_owned())));
    }
    if keys.is_empty() {
        return Err(err(var, "must list at least one key"));
    }
    Ok(KeyRing { keys })
}
