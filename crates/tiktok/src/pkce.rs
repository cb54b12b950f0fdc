use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use oauth2::{PkceCodeChallenge, PkceCodeVerifier};
use sha2::{Digest, Sha256};

use crate::PkceMode;

/// The `code_challenge` value for the authorize URL. The method is always `S256`; only the
/// encoding of the digest differs between modes (fact sheet §1.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkceChallenge(String);

impl PkceChallenge {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Challenge for an existing verifier, or `None` when `mode` is [`PkceMode::Off`].
    pub fn from_verifier(mode: PkceMode, verifier: &PkceCodeVerifier) -> Option<Self> {
        match mode {
            PkceMode::Off => None,
            PkceMode::S256 => Some(Self(base64url_challenge(verifier.secret()))),
            PkceMode::S256Hex => Some(Self(hex::encode(Sha256::digest(
                verifier.secret().as_bytes(),
            )))),
        }
    }
}

// oauth2's `from_code_verifier_sha256` asserts the RFC length; verifiers restored from
// storage are untrusted input, so hash them here instead of risking a panic.
fn base64url_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// PKCE helpers.
pub struct Pkce;

impl Pkce {
    /// A fresh verifier (43 chars of `[A-Za-z0-9-_]`, valid for both TikTok guides) and its
    /// challenge; `None` when PKCE is off. Store the verifier server-side keyed by `state`.
    pub fn generate(mode: PkceMode) -> Option<(PkceCodeVerifier, PkceChallenge)> {
        if mode == PkceMode::Off {
            return None;
        }
        // oauth2 supplies the CSPRNG-backed verifier; its own challenge is base64url only,
        // so the hex variant is computed from the same verifier.
        let (_, verifier) = PkceCodeChallenge::new_random_sha256();
        let challenge = PkceChallenge::from_verifier(mode, &verifier)?;
        Some((verifier, challenge))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 appendix B.
    const RFC_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const RFC_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn base64url_matches_rfc7636_appendix_b() {
        let v = PkceCodeVerifier::new(RFC_VERIFIER.to_owned());
        let c = PkceChallenge::from_verifier(PkceMode::S256, &v).expect("on");
        assert_eq!(c.as_str(), RFC_CHALLENGE);
        assert_eq!(
            c.as_str(),
            PkceCodeChallenge::from_code_verifier_sha256(&v).as_str()
        );
    }

    #[test]
    fn hex_is_lowercase_sha256() {
        let v = PkceCodeVerifier::new(RFC_VERIFIER.to_owned());
        let c = PkceChallenge::from_verifier(PkceMode::S256Hex, &v).expect("on");
        assert_eq!(
            c.as_str(),
            "13d31e961a1ad8ec2f16b10c4c982e0876a878ad6df144566ee1894acb70f9c3"
        );
    }

    #[test]
    fn generate_respects_mode() {
        assert!(Pkce::generate(PkceMode::Off).is_none());
        let (v, c) = Pkce::generate(PkceMode::S256).expect("on");
        assert_eq!(v.secret().len(), 43);
        assert!(
            v.secret()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        );
        assert_eq!(c.as_str().len(), 43);
        let (_, c) = Pkce::generate(PkceMode::S256Hex).expect("on");
        assert_eq!(c.as_str().len(), 64);
    }

    #[test]
    fn short_verifiers_do_not_panic() {
        let v = PkceCodeVerifier::new("x".to_owned());
        assert!(PkceChallenge::from_verifier(PkceMode::S256, &v).is_some());
    }
}
