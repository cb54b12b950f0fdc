//! Fault injection: the failure modes a client must survive, on demand. Rules are consumed
//! one per matching request; admin routes (`/_sandbox/`) and `/healthz` are never affected.

use std::time::Duration;

use actix_web::{
    Error, HttpResponse,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::StatusCode,
    middleware::Next,
    web,
};
use serde::{Deserialize, Serialize};

use crate::{
    respond::{api_error, oauth_error},
    state::AppState,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer `status` (default 500) without running the handler.
    ServerError,
    /// Answer 429 `rate_limit_exceeded` without running the handler.
    RateLimit,
    /// Sleep `delay_ms`, then answer normally.
    Delay,
    /// Run the handler; if it answers an error, send it with HTTP 200 (seen on real TikTok,
    /// fact sheet §1.5 and §4.2).
    #[serde(rename = "error_as_200")]
    ErrorAs200,
    /// Read the whole request, then close the connection without a byte of answer and
    /// without running the handler: what a client sees when it sends a request on a
    /// keep-alive connection the server is closing as idle at that moment.
    CloseConnection,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Path prefix, e.g. `/v2/post/publish/status/fetch/`; empty matches every TikTok route.
    #[serde(default)]
    pub path: String,
    pub kind: FaultKind,
    /// How many requests the rule affects.
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub rules: Vec<FaultRule>,
    /// Webhooks to swallow without sending.
    pub drop_webhooks: u32,
}

impl Faults {
    fn take(&mut self, path: &str, wanted: impl Fn(FaultKind) -> bool) -> Option<FaultRule> {
        let idx = self
            .rules
            .iter()
            .position(|r| wanted(r.kind) && path.starts_with(&r.path) && r.count > 0)?;
        let rule = self.rules.get_mut(idx)?;
        rule.count -= 1;
        let taken = rule.clone();
        if rule.count == 0 {
            self.rules.remove(idx);
        }
        Some(taken)
    }

    pub(crate) fn take_webhook_drop(&mut self) -> bool {
        let drop = self.drop_webhooks > 0;
        self.drop_webhooks = self.drop_webhooks.saturating_sub(1);
        drop
    }
}

/// A second handle on a connection's socket, kept with the connection (see
/// [`on_connect`]) so a fault can shut it under the running request.
pub(crate) struct Connection(Option<std::net::TcpStream>);

impl Connection {
    fn close(&self) {
        if let Some(socket) = &self.0
            && let Err(e) = socket.shutdown(std::net::Shutdown::Both)
        {
            tracing::warn!(error = %e, "close_connection fault could not shut the socket");
        }
    }
}

/// `HttpServer::on_connect` hook: duplicates the socket's descriptor (no unsafe code: a
/// shut-down applies to the socket, whichever descriptor names it).
pub(crate) fn on_connect(conn: &dyn std::any::Any, data: &mut actix_web::dev::Extensions) {
    use std::os::fd::AsFd;
    let socket = conn
        .downcast_ref::<actix_web::rt::net::TcpStream>()
        .and_then(|s| s.as_fd().try_clone_to_owned().ok())
        .map(std::net::TcpStream::from);
    data.insert(Connection(socket));
}

fn exempt(path: &str) -> bool {
    path.starts_with("/_sandbox/") || path == "/healthz"
}

pub(crate) async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let path = req.path().to_owned();
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if exempt(&path) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let pre = state
        .lock()
        .faults
        .take(&path, |k| k != FaultKind::ErrorAs200);
    let oauth = path.starts_with("/v2/oauth/");
    match pre {
        Some(FaultRule {
            kind: FaultKind::ServerError,
            status,
            ..
        }) => {
            let status = status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let resp = if oauth {
                oauth_error(status, "server_error", "Injected server error")
            } else {
                api_error(status, "internal_error", "Injected server error")
            };
            return Ok(req.into_response(resp));
        }
        Some(FaultRule {
            kind: FaultKind::RateLimit,
            ..
        }) => {
            let status = StatusCode::TOO_MANY_REQUESTS;
            let resp = if oauth {
                oauth_error(status, "rate_limit_exceeded", "Injected rate limit")
            } else {
                api_error(status, "rate_limit_exceeded", "Injected rate limit")
            };
            return Ok(req.into_response(resp));
        }
        Some(FaultRule {
            kind: FaultKind::Delay,
            delay_ms,
            ..
        }) => {
            tokio::time::sleep(Duration::from_millis(delay_ms.unwrap_or(1000))).await;
        }
        Some(FaultRule {
            kind: FaultKind::CloseConnection,
            ..
        }) => {
            let mut req = req;
            // Read to the end, so the close is a clean FIN after the request, not a reset
            // over unread bytes.
            let _ = req.extract::<web::Bytes>().await;
            match req.conn_data::<Connection>() {
                Some(conn) => conn.close(),
                None => tracing::warn!("close_connection fault without a TCP connection"),
            }
            // Never reaches the client: its connection is shut already.
            return Ok(req.into_response(HttpResponse::InternalServerError().finish()));
        }
        _ => {}
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    if res.status().is_client_error() || res.status().is_server_error() {
        let flip = state
            .lock()
            .faults
            .take(&path, |k| k == FaultKind::ErrorAs200)
            .is_some();
        if flip {
            *res.response_mut().status_mut() = StatusCode::OK;
        }
    }
    Ok(res)
}
