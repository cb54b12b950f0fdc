use std::{error::Error as _, fmt, io, time::Duration};

use reqwest::{RequestBuilder, redirect};
use url::Url;

use crate::{TikTokConfig, TikTokError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle pooled connection may be reused. Servers close idle keep-alive
/// connections on their own schedule (actix, which the sandbox runs on, after 5 s; TikTok does
/// not say), and a request sent on a connection the server is closing at that moment dies
/// with "connection closed before message completed". Staying below the shortest timeout we
/// know of keeps that race rare; [`Repeat::Safe`] handles what remains.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// Whether a call may be sent a second time when its connection failed before any answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Reads, and writes whose repetition changes nothing (revoke): repeated once, at once.
    Safe,
    /// Never sent twice: a publish init (a second post), a token request (a code is single
    /// use, and a refresh TikTok did process rotated the refresh token we would resend).
    Never,
}

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
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
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
    /// status codes do not reliably tell success from failure. A [`Repeat::Safe`] call whose
    /// connection failed before any answer is sent once more, at once, on a new connection.
    pub(crate) async fn send(
        &self,
        req: RequestBuilder,
        repeat: Repeat,
    ) -> Result<(u16, Vec<u8>), TikTokError> {
        let second = match repeat {
            Repeat::Safe => req.try_clone(),
            Repeat::Never => None,
        };
        let resp = match (req.send().await, second) {
            (Ok(resp), _) => resp,
            (Err(e), Some(second)) if connection_failed_before_response(&e) => {
                tracing::info!(error = %e, source = ?e.source(), "TikTok connection failed before any answer; sending once more");
                second.send().await.map_err(transport)?
            }
            (Err(e), _) => return Err(transport(e)),
        };
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

/// For an error of `RequestBuilder::send` (so no response head arrived): whether the
/// connection failed under the request. That is a connection that could not be opened, or
/// one that was closed or reset before an answer began, typically a pooled keep-alive
/// connection the server closed as we reused it. Timeouts are not: TikTok may still be
/// working on the request, and waiting a second time helps nobody.
pub(crate) fn connection_failed_before_response(e: &reqwest::Error) -> bool {
    if e.is_timeout() || !(e.is_connect() || e.is_request()) {
        return false;
    }
    if e.is_connect() {
        return true;
    }
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(h) = err.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_canceled())
        {
            return true;
        }
        if let Some(io) = err.downcast_ref::<io::Error>()
            && matches!(
                io.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
            )
        {
            return true;
        }
        source = err.source();
    }
    false
}

impl fmt::Debug for TikTokClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TikTokClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// How a scripted server treats each connection, in order; later connections get the last.
    #[derive(Clone, Copy)]
    enum Conn {
        /// Reads the request, then closes without a byte of answer.
        CloseAfterRequest,
        /// Answers the status line and headers, then closes in the middle of the body.
        CloseMidBody,
        /// Answers 200 `{}`.
        Answer,
        /// Reads the request and never answers.
        Hang,
    }

    /// A raw TCP server following `script`; returns its URL and how many connections came.
    async fn scripted(script: Vec<Conn>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let conn = script
                    .get(n)
                    .or(script.last())
                    .copied()
                    .unwrap_or(Conn::Answer);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    let mut read = 0;
                    // The whole request: headers, then the Content-Length body.
                    loop {
                        let Ok(k) = socket.read(&mut buf[read..]).await else {
                            return;
                        };
                        if k == 0 {
                            return;
                        }
                        read += k;
                        let text = String::from_utf8_lossy(&buf[..read]).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let len = text
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .and_then(|v| v.trim().parse::<usize>().ok())
                                })
                                .unwrap_or(0);
                            if read >= end + 4 + len {
                                break;
                            }
                        }
                    }
                    match conn {
                        Conn::CloseAfterRequest => {}
                        Conn::CloseMidBody => {
                            let _ = socket
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"par")
                                .await;
                        }
                        Conn::Answer => {
                            let _ = socket
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                                .await;
                        }
                        Conn::Hang => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                        }
                    }
                });
            }
        });
        (url, seen)
    }

    fn client(timeout: Duration) -> TikTokClient {
        let mut config = TikTokConfig::new(
            "key",
            secrecy::SecretString::from("secret"),
            Url::parse("https://app.example.com/cb").expect("url"),
        );
        config.request_timeout = timeout;
        TikTokClient::new(config).expect("client")
    }

    async fn call(
        url: &str,
        repeat: Repeat,
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), TikTokError> {
        let c = client(timeout);
        let req = c.http.post(url).body("{\"x\":1}");
        c.send(req, repeat).await
    }

    #[tokio::test]
    async fn a_connection_closed_under_a_safe_call_is_tried_once_more() {
        let (url, seen) = scripted(vec![Conn::CloseAfterRequest, Conn::Answer]).await;
        let (status, body) = call(&url, Repeat::Safe, Duration::from_secs(5))
            .await
            .expect("the second attempt answers");
        assert_eq!((status, body.as_slice()), (200, &b"{}"[..]));
        assert_eq!(seen.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn only_once() {
        let (url, seen) = scripted(vec![Conn::CloseAfterRequest]).await;
        let err = call(&url, Repeat::Safe, Duration::from_secs(5))
            .await
            .expect_err("both attempts fail");
        assert!(matches!(err, TikTokError::Transport(_)), "{err:?}");
        assert_eq!(seen.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_call_that_must_not_repeat_is_sent_once() {
        let (url, seen) = scripted(vec![Conn::CloseAfterRequest, Conn::Answer]).await;
        let err = call(&url, Repeat::Never, Duration::from_secs(5))
            .await
            .expect_err("no second attempt");
        assert!(matches!(err, TikTokError::Transport(_)), "{err:?}");
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_answer_that_broke_off_is_not_repeated() {
        // TikTok began answering: whatever it did, it did; the body error is not ours to retry.
        let (url, seen) = scripted(vec![Conn::CloseMidBody, Conn::Answer]).await;
        let err = call(&url, Repeat::Safe, Duration::from_secs(5))
            .await
            .expect_err("the body broke off");
        assert!(matches!(err, TikTokError::Transport(_)), "{err:?}");
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_timeout_is_not_repeated() {
        let (url, seen) = scripted(vec![Conn::Hang, Conn::Answer]).await;
        let err = call(&url, Repeat::Safe, Duration::from_millis(300))
            .await
            .expect_err("timed out");
        assert!(matches!(err, TikTokError::Timeout), "{err:?}");
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_refused_connection_counts_as_failed_before_any_answer() {
        // A port nobody listens on: bind, note the port, close.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let c = client(Duration::from_secs(5));
        let e = c
            .http
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .expect_err("refused");
        assert!(connection_failed_before_response(&e), "{e:?}");
    }
}
