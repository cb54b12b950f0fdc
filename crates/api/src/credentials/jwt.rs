use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
    get_current_timestamp,
};
use postiqo_domain::UserId;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::verified::{self, Verified, VerifiedTokens};
use crate::config::JwtSettings;

/// Claims of our short-lived access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// Our user id.
    pub sub: String,
    /// The session this token belongs to.
    pub sid: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token has no known key id")]
    UnknownKey,
    #[error("token rejected")]
    Invalid(#[source] jsonwebtoken::errors::Error),
    #[error("token subject is not a user id")]
    BadSubject,
    #[error("token could not be signed")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

/// Signs with the first configured key and verifies with any of them, by `kid`.
/// The algorithm is pinned to HS256: a token's own `alg` header is never trusted.
pub struct JwtCodec {
    /// Per ring key, in configuration order: the key CSRF tokens are MACed with.
    csrf_keys: Vec<[u8; 32]>,
    /// Per ring key, in configuration order: the key media tokens are MACed with.
    media_keys: Vec<[u8; 32]>,
    /// Per ring key, in configuration order: the key a rotated refresh secret's successor is
    /// derived with (the reuse interval answers a repeat with the same successor).
    refresh_keys: Vec<[u8; 32]>,
    signing_kid: String,
    signing: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    validation: Validation,
    /// Tokens already verified here: a repeat costs a look-up, not a signature check.
    verified: VerifiedTokens,
    issuer: String,
    audience: String,
    ttl: Duration,
}

/// HKDF `info` labels: one key per use, none of them the JWT key itself.
const CSRF_PURPOSE: &str = "postiqo/csrf-token/v1";
const MEDIA_PURPOSE: &str = "postiqo/media-token/v1";
const REFRESH_PURPOSE: &str = "postiqo/refresh-successor/v1";

fn decode_secret(secret: &str) -> Vec<u8> {
    // Config validation already proved one of these decodes.
    base64::engine::general_purpose::STANDARD
        .decode(secret)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(secret))
        .unwrap_or_default()
}

impl JwtCodec {
    pub fn new(settings: &JwtSettings) -> Self {
        let mut verifying = HashMap::new();
        let mut signing = None;
        let mut csrf_keys = Vec::new();
        let mut media_keys = Vec::new();
        let mut refresh_keys = Vec::new();
        for (kid, secret) in &settings.signing_keys.keys {
            let bytes = decode_secret(secret.expose_secret());
            csrf_keys.push(super::secrets::derive_key(&bytes, CSRF_PURPOSE));
            media_keys.push(super::secrets::derive_key(&bytes, MEDIA_PURPOSE));
            refresh_keys.push(super::secrets::derive_key(&bytes, REFRESH_PURPOSE));
            if signing.is_none() {
                signing = Some((kid.clone(), EncodingKey::from_secret(&bytes)));
            }
            verifying.insert(kid.clone(), DecodingKey::from_secret(&bytes));
        }
        let (signing_kid, signing) =
            signing.unwrap_or_else(|| (String::new(), EncodingKey::from_secret(&[])));
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "nbf"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        Self {
            csrf_keys,
            media_keys,
            refresh_keys,
            signing_kid,
            signing,
            verifying,
            verified: VerifiedTokens::new(verified::CAPACITY, validation.leeway),
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            ttl: settings.access_ttl,
        }
    }

    /// The CSRF token for a session (with the key derived from the signing key).
    pub fn csrf_token(&self, session_id: &str) -> String {
        self.csrf_keys
            .first()
            .map(|k| super::secrets::csrf_token(k, session_id))
            .unwrap_or_default()
    }

    /// Checks a CSRF token against every configured key, so rotation does not break SPAs.
    pub fn csrf_matches(&self, session_id: &str, presented: &str) -> bool {
        self.csrf_keys
            .iter()
            .any(|k| super::secrets::same(&super::secrets::csrf_token(k, session_id), presented))
    }

    /// The media-token keys, one derived from each ring key in ring order: the first signs,
    /// all verify (a rotation must not break a download TikTok has already started).
    pub fn media_keys(&self) -> Vec<[u8; 32]> {
        self.media_keys.clone()
    }

    /// The successor of a refresh secret under the signing key (what a rotation issues).
    pub fn next_refresh_secret(&self, previous: &str) -> String {
        let key = self.refresh_keys.first().copied().unwrap_or_default();
        super::secrets::next_refresh_secret(&key, previous)
    }

    /// The successor of a refresh secret under every configured key: the rotation may have
    /// happened before the keys were rotated.
    pub fn next_refresh_secret_candidates(&self, previous: &str) -> Vec<String> {
        self.refresh_keys
            .iter()
            .map(|k| super::secrets::next_refresh_secret(k, previous))
            .collect()
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(
        &self,
        user: UserId,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        let iat = now.timestamp();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.to_string(),
            sid: session_id.to_owned(),
            iat,
            nbf: iat,
            exp: iat + i64::try_from(self.ttl.as_secs()).unwrap_or(900),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.signing_kid.clone());
        encode(&header, &claims, &self.signing).map_err(TokenError::Signing)
    }

    pub fn verify(&self, token: &str) -> Result<(UserId, Arc<AccessClaims>), TokenError> {
        let now = i64::try_from(get_current_timestamp()).unwrap_or(i64::MAX);
        if let Some(Verified { user, claims }) = self.verified.get(token, now) {
            return Ok((user, claims));
        }
        let header = decode_header(token).map_err(TokenError::Invalid)?;
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verifying.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        let data =
            decode::<AccessClaims>(token, key, &self.validation).map_err(TokenError::Invalid)?;
        let user = data
            .claims
            .sub
            .parse::<UserId>()
            .map_err(|_| TokenError::BadSubject)?;
        let claims = Arc::new(data.claims);
        let verified = Verified {
            user,
            claims: Arc::clone(&claims),
        };
        self.verified.insert(token, verified, now);
        Ok((user, claims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyRing;
    use secrecy::SecretString;

    fn settings(keys: &[(&str, &str)]) -> JwtSettings {
        JwtSettings {
            signing_keys: KeyRing {
                keys: keys
                    .iter()
                    .map(|(k, s)| {
                        (
                            (*k).to_owned(),
                            SecretString::from(base64::engine::general_purpose::STANDARD.encode(s)),
                        )
                    })
                    .collect(),
            },
            issuer: "https://api.postiqo.test".into(),
            audience: "postiqo-api".into(),
            access_ttl: Duration::from_secs(900),
        }
    }

    const K1: &str = "0123456789abcdef0123456789abcdef";
    const K2: &str = "fedcba9876543210fedcba9876543210";

    #[test]
    fn issued_tokens_verify() {
        let codec = JwtCodec::new(&settings(&[("k1", K1)]));
        let user = UserId::new_v7(1, [1; 10]);
        let token = codec.issue(user, "s1", Utc::now()).expect("sign");
        let (got, claims) = codec.verify(&token).expect("verify");
        assert_eq!(got, user);
        assert_eq!(claims.sid, "s1");
    }

    #[test]
    fn a_verified_token_is_remembered_but_only_byte_for_byte() {
        let codec = JwtCodec::new(&settings(&[("k1", K1)]));
        let user = UserId::new_v7(1, [1; 10]);
        let token = codec.issue(user, "s1", Utc::now()).expect("sign");
        codec.verify(&token).expect("verify");
        codec.verify(&token).expect("verify again");
        assert_eq!(codec.verified.len(), 1);
        // The same header and claims under another signature: refused, not found.
        let (signed, signature) = token.rsplit_once('.').expect("three parts");
        let other = if signature.starts_with('A') { 'B' } else { 'A' };
        let forged = format!("{signed}.{other}{}", &signature[1..]);
        assert!(matches!(codec.verify(&forged), Err(TokenError::Invalid(_))));
        // Failures are not remembered.
        let expired = codec
            .issue(user, "s1", Utc::now() - chrono::Duration::hours(2))
            .expect("sign");
        assert!(codec.verify(&expired).is_err());
        assert_eq!(codec.verified.len(), 1);
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_while_the_old_key_is_listed() {
        let old = JwtCodec::new(&settings(&[("k1", K1)]));
        let user = UserId::new_v7(1, [1; 10]);
        let token = old.issue(user, "s1", Utc::now()).expect("sign");
        let rotated = JwtCodec::new(&settings(&[("k2", K2), ("k1", K1)]));
        assert!(rotated.verify(&token).is_ok());
        let retired = JwtCodec::new(&settings(&[("k2", K2)]));
        assert!(matches!(
            retired.verify(&token),
            Err(TokenError::UnknownKey)
        ));
    }

    #[test]
    fn expired_and_foreign_tokens_fail() {
        let codec = JwtCodec::new(&settings(&[("k1", K1)]));
        let user = UserId::new_v7(1, [1; 10]);
        let old = codec
            .issue(user, "s1", Utc::now() - chrono::Duration::hours(2))
            .expect("sign");
        assert!(matches!(codec.verify(&old), Err(TokenError::Invalid(_))));

        let mut other = settings(&[("k1", K1)]);
        other.audience = "someone-else".into();
        let foreign = JwtCodec::new(&other)
            .issue(user, "s1", Utc::now())
            .expect("sign");
        assert!(matches!(
            codec.verify(&foreign),
            Err(TokenError::Invalid(_))
        ));

        let wrong_key = JwtCodec::new(&settings(&[("k1", K2)]))
            .issue(user, "s1", Utc::now())
            .expect("sign");
        assert!(matches!(
            codec.verify(&wrong_key),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn csrf_tokens_use_a_derived_key_and_survive_rotation() {
        let old = JwtCodec::new(&settings(&[("k1", K1)]));
        let token = old.csrf_token("s1");
        assert_ne!(
            token,
            super::super::secrets::csrf_token(K1.as_bytes(), "s1"),
            "not a MAC under the JWT key itself"
        );
        let rotated = JwtCodec::new(&settings(&[("k2", K2), ("k1", K1)]));
        assert!(rotated.csrf_matches("s1", &token));
        assert_ne!(
            rotated.csrf_token("s1"),
            token,
            "new tokens use the new key"
        );
        assert!(!rotated.csrf_matches("s2", &token));
        let retired = JwtCodec::new(&settings(&[("k2", K2)]));
        assert!(!retired.csrf_matches("s1", &token));
        assert_eq!(rotated.media_keys().len(), 2);
        assert_eq!(rotated.media_keys()[1], old.media_keys()[0]);
        assert_ne!(rotated.media_keys()[0], old.media_keys()[0]);
    }

    #[test]
    fn alg_none_is_refused() {
        let codec = JwtCodec::new(&settings(&[("k1", K1)]));
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let now = Utc::now().timestamp();
        let token = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT","kid":"k1"}"#),
            b64(&format!(
                r#"{{"iss":"https://api.postiqo.test","aud":"postiqo-api","sub":"{}","sid":"s","iat":{now},"nbf":{now},"exp":{}}}"#,
                UserId::new_v7(1, [1; 10]),
                now + 600
            ))
        );
        assert!(codec.verify(&token).is_err());
    }
}
