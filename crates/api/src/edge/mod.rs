//! The HTTP server around the application: actix-server and actix-http's HTTP/1 service, as
//! actix-web's `HttpServer` assembles them, with every connection passed through
//! [`guard::GuardedConn`] first and the limits of `config::EdgeSettings` applied.

mod guard;
mod refusal;

use std::fmt;
use std::future::ready;
use std::net::TcpListener;
use std::num::NonZeroUsize;
use std::time::Duration;

use actix_http::body::{BoxBody, MessageBody};
use actix_http::error::DispatchError;
use actix_http::{HttpService, KeepAlive, Request, Response, ServiceConfig, h1::Codec};
use actix_service::{
    IntoServiceFactory, ServiceFactory, ServiceFactoryExt, fn_service, map_config,
};
use actix_web::dev::{AppConfig, Server};
use tokio::net::TcpStream;

pub use guard::{GuardLimits, GuardedConn};

use crate::config::EdgeSettings;

/// After the body timeout, how long the connection guard still waits for a body before it
/// ends the stream itself: the API's own 408 comes first.
const BODY_GRACE: Duration = Duration::from_secs(2);
/// How long a refused or timed-out connection's remaining input is read and dropped before it
/// is closed (so the client reads the answer instead of a reset).
const LINGER: Duration = Duration::from_secs(1);

impl GuardLimits {
    pub fn new(edge: &EdgeSettings, hsts: bool) -> Self {
        Self {
            header_timeout: edge.header_timeout,
            body_deadline: edge.body_timeout + BODY_GRACE,
            linger: LINGER,
            hsts,
        }
    }
}

/// Serves `factory`'s application on `listener` until SIGINT/SIGTERM (30 s to finish requests
/// in progress).
pub fn serve<F, I, S, B>(
    listener: TcpListener,
    factory: F,
    edge: EdgeSettings,
    hsts: bool,
) -> std::io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<Response<BoxBody>> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    B: MessageBody + 'static,
{
    let addr = listener.local_addr()?;
    let workers = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let limits = GuardLimits::new(&edge, hsts);
    let mut builder = actix_server::Server::build()
        .workers(workers)
        .max_concurrent_connections(edge.max_connections.div_ceil(workers).max(1))
        .shutdown_timeout(30);
    let draining = builder.graceful_shutdown_signal();
    builder = builder.listen("postiqo-api", listener, move || {
        let draining = draining.clone();
        // One per worker: a ServiceConfig starts a clock task; the guards' decoders share it.
        let shadow_config = ServiceConfig::new(
            KeepAlive::Timeout(edge.keep_alive),
            Duration::ZERO,
            Duration::ZERO,
            false,
            Some(addr),
        );
        let http = HttpService::build()
            .keep_alive(KeepAlive::Timeout(edge.keep_alive))
            // A backstop only: the guard times heads (and answers with a problem) first.
            .client_request_timeout(edge.header_timeout * 2)
            .client_disconnect_timeout(LINGER)
            .local_addr(addr)
            .graceful_shutdown_signal(move || {
                let draining = draining.clone();
                async move { draining.notified().await }
            })
            // actix-web's constructor with our host and address is private; the default only
            // feeds `ConnectionInfo`'s fallback host (requests without `Host`), unused here.
            .h1(map_config(factory(), move |()| AppConfig::default()));
        fn_service(move |io: TcpStream| {
            let peer = io.peer_addr().ok();
            let conn = GuardedConn::new(io, peer, limits, Codec::new(shadow_config.clone()));
            ready(Ok::<_, DispatchError>((conn, peer)))
        })
        .and_then(http)
    })?;
    Ok(builder.run())
}
