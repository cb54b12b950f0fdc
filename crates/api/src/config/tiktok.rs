//! Our TikTok app: its credentials, TikTok's addresses and the scopes we ask for.

use std::fmt;

use secrecy::SecretString;
use url::Url;

use super::env::{ConfigError, Reader, err};

#[derive(Clone)]
pub struct TikTokSettings {
    pub client_key: String,
    pub client_secret: SecretString,
    pub auth_url: Url,
    pub api_url: Url,
    pub scopes: Vec<String>,
    pub pkce: postiqo_tiktok::PkceMode,
}

impl fmt::Debug for TikTokSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TikTokSettings")
            .field("client_key", &self.client_key)
            .field("scopes", &self.scopes)
            .field("pkce", &self.pkce)
            .field("auth_url", &self.auth_url.as_str())
            .field("api_url", &self.api_url.as_str())
            .finish_non_exhaustive()
    }
}

pub(super) fn tiktok(r: &Reader) -> Result<TikTokSettings, ConfigError> {
    let tiktok = TikTokSettings {
        client_key: r.required("POSTIQO_TIKTOK_CLIENT_KEY")?,
        client_secret: SecretString::from(r.required("POSTIQO_TIKTOK_CLIENT_SECRET")?),
        auth_url: r.url(
            "POSTIQO_TIKTOK_AUTH_URL",
            Some("https://www.tiktok.com/v2/auth/authorize/"),
        )?,
        api_url: r.url(
            "POSTIQO_TIKTOK_API_URL",
            Some("https://open.tiktokapis.com"),
        )?,
        scopes: postiqo_tiktok::parse_scopes(
            &r.or("POSTIQO_TIKTOK_SCOPES", postiqo_tiktok::DEFAULT_SCOPES),
        ),
        pkce: r.parse(
            "POSTIQO_TIKTOK_PKCE",
            postiqo_tiktok::PkceMode::default(),
            "off, s256 or s256-hex",
        )?,
    };
    if !tiktok.scopes.iter().any(|s| s == "user.info.basic") {
        return Err(err("POSTIQO_TIKTOK_SCOPES", "must include user.info.basic"));
    }
    Ok(tiktok)
}
