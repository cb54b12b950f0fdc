use std::{fmt, time::Duration};

use reqwest::{RequestBuilder, redirect};
use url::Url;

use crate::{TikTokConfig, TikTokError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Talks to TikTok for one registered app. Cheap to clone (the HTTP pool is shared).
#[derive(Clone)]
pub struct TikTokClient {
    pub(crate) config: TikTokConfig,
    pub(crate) http: reqwest::Client,
}

impl TikTokClient {
    pub fn new(config: TikTokConfig) -> Result<Self, TikTokError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(config.request_timeout)
            // TikTok's APIs do not redirect; following one could replay a POST elsewhere.
            .redirect(redirect::Policy::none())
            .user_agent(concat!("postiqo-tiktok/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(TikTokError::Transport)?;
        Ok(Self { config, http })
    }

    pub fn config(&self) -> &TikTokConfig {
        &self.config
    }

    /// `api_base` + `path`, keeping any path prefix of `api_base` (which `Url::join` with an
    /// absolute path would drop).
    pub(crate) fn endpoint(&self, path: &str) -> Url {
        let mut url = self.config.api_base.clone();
        let joined = format!("{}{path}", url.path().trim_end_matches('/'));
        url.set_path(&joined);
        url.set_query(None);
        url
    }

    /// Sends and reads the whole body; status handling is up to the caller because TikTok's
    /// status codes do not reliably tell success from failure.
    pub(crate) async fn send(&self, req: RequestBuilder) -> Result<(u16, Vec<u8>), TikTokError> {
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(transport)?;
        tracing::debug!(status, bytes = body.len(), "TikTok answered");
        Ok((status, body.to_vec()))
    }
}

fn transport(e: reqwest::Error) -> TikTokError {
    if e.is_timeout() {
        TikTokError::Timeout
    } else {
        TikTokError::Transport(e)
    }
}

impl fmt::Debug for TikTokClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TikTokClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
