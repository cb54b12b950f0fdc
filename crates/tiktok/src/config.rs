use std::{fmt, str::FromStr, time::Duration};

use secrecy::SecretString;
use url::Url;

/// Login Kit for Web authorize page (fact sheet §1.3); the v1 URL is legacy.
pub const DEFAULT_AUTH_URL: &str = "https://www.tiktok.com/v2/auth/authorize/";
/// Host of the token, user-info and content-posting endpoints.
pub const DEFAULT_API_BASE: &str = "https://open.tiktokapis.com";
/// What Postiqo needs: identity, profile (username moved there in 2024, §2) and Direct Post.
pub const DEFAULT_SCOPES: &str = "user.info.basic,user.info.profile,video.publish,video.upload";
/// Upper bound for one whole request (connect is capped separately at 5 s).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// How (and whether) the authorize request carries a PKCE challenge.
///
/// The default is [`PkceMode::S256`] (RFC 7636 base64url). Fact sheet §1.4: the official web
/// guide lists no PKCE, but since 2024 TikTok's consent page has rejected web logins that
/// send no `code_challenge`, and a correct, widely used library (arctic) sends standard
/// base64url S256 on the web URL. Sending a challenge costs nothing when TikTok ignores it,
/// while omitting one breaks logins when TikTok requires it. The desktop guide's hex
/// encoding stays one setting away ([`PkceMode::S256Hex`]) because which encoding TikTok
/// verifies for web apps is UNCONFIRMED.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PkceMode {
    /// No `code_challenge`, as in the official web guide.
    Off,
    /// `code_challenge = BASE64URL-NOPAD(SHA256(verifier))` (RFC 7636).
    #[default]
    S256,
    /// `code_challenge = lowercase-hex(SHA256(verifier))` (TikTok desktop guide).
    S256Hex,
}

impl PkceMode {
    /// The spelling accepted by [`FromStr`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::S256 => "s256",
            Self::S256Hex => "s256-hex",
        }
    }
}

impl fmt::Display for PkceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A PKCE mode string that is none of `off`, `s256`, `s256-hex`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown PKCE mode `{0}` (expected off, s256 or s256-hex)")]
pub struct PkceModeParseError(String);

impl FromStr for PkceMode {
    type Err = PkceModeParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Ok(Self::Off),
            "s256" => Ok(Self::S256),
            "s256-hex" => Ok(Self::S256Hex),
            _ => Err(PkceModeParseError(s.to_owned())),
        }
    }
}

/// Everything the client needs to talk to TikTok for one registered app.
#[derive(Clone)]
pub struct TikTokConfig {
    /// App key from the developer portal (TikTok never calls it `client_id`).
    pub client_key: String,
    pub client_secret: SecretString,
    pub auth_url: Url,
    /// Base for `/v2/...` endpoints; a path prefix is kept (useful behind a proxy).
    pub api_base: Url,
    /// Requested scopes, sent comma-separated.
    pub scopes: Vec<String>,
    /// Must equal a URI registered in the portal, byte for byte (§1.2).
    pub redirect_uri: Url,
    pub pkce: PkceMode,
    /// Whole-request timeout; connect timeout is fixed at 5 s.
    pub request_timeout: Duration,
}

impl TikTokConfig {
    /// Config pointing at real TikTok with the default scopes and PKCE mode.
    pub fn new(
        client_key: impl Into<String>,
        client_secret: SecretString,
        redirect_uri: Url,
    ) -> Self {
        Self {
            client_key: client_key.into(),
            client_secret,
            auth_url: Url::parse(DEFAULT_AUTH_URL).expect("DEFAULT_AUTH_URL is a valid URL"),
            api_base: Url::parse(DEFAULT_API_BASE).expect("DEFAULT_API_BASE is a valid URL"),
            scopes: parse_scopes(DEFAULT_SCOPES),
            redirect_uri,
            pkce: PkceMode::default(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

impl fmt::Debug for TikTokConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TikTokConfig")
            .field("client_key", &self.client_key)
            .field("client_secret", &"[redacted]")
            .field("auth_url", &self.auth_url.as_str())
            .field("api_base", &self.api_base.as_str())
            .field("scopes", &self.scopes)
            .field("redirect_uri", &self.redirect_uri.as_str())
            .field("pkce", &self.pkce)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// Splits TikTok's comma-separated scope lists; tolerates spaces and empty items.
pub fn parse_scopes(s: &str) -> Vec<String> {
    s.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_mode_round_trips() {
        for mode in [PkceMode::Off, PkceMode::S256, PkceMode::S256Hex] {
            assert_eq!(mode.as_str().parse::<PkceMode>(), Ok(mode));
        }
        assert_eq!(" S256-HEX ".parse::<PkceMode>(), Ok(PkceMode::S256Hex));
        assert!("plain".parse::<PkceMode>().is_err());
    }

    #[test]
    fn defaults_are_valid_and_secret_is_hidden() {
        let url = Url::parse("https://app.example.com/cb").expect("url");
        let cfg = TikTokConfig::new("key", SecretString::from("very-secret"), url);
        assert_eq!(cfg.scopes.join(","), DEFAULT_SCOPES);
        assert_eq!(cfg.pkce, PkceMode::S256);
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("very-secret"), "{dbg}");
    }

    #[test]
    fn scopes_split_on_commas_and_spaces() {
        assert_eq!(parse_scopes(" a, b,,c d "), vec!["a", "b", "c", "d"]);
        assert!(parse_scopes("").is_empty());
    }
}
