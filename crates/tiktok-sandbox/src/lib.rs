//! A local stand-in for TikTok's Login Kit, User Info and Content Posting APIs, served at
//! TikTok's own paths so a client only swaps its base URLs. It follows the behaviour in
//! `shared/docs/tiktok-api.md` (section numbers in comments refer to it), not the wishes of
//! any particular client. Routes, variables and the test-approval flag: see README.md.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use postiqo_tiktok_sandbox::{Sandbox, SandboxConfig};
//! let sandbox = Sandbox::start(SandboxConfig {
//!     bind: "127.0.0.1:0".into(),
//!     ..SandboxConfig::default()
//! })
//! .await?;
//! println!("{}", sandbox.base_url());
//! sandbox.stop().await;
//! # Ok(()) }
//! ```

mod admin;
mod config;
mod consent;
mod container;
mod faults;
mod guard;
mod ids;
mod media;
mod model;
mod oauth;
mod posting;
mod ratelimit;
mod respond;
mod state;
pub mod testkit;
mod user;
mod webhooks;

use std::{io, net::SocketAddr};

use actix_web::{
    App, HttpResponse, HttpServer, dev::ServerHandle, error::InternalError, get,
    middleware::from_fn, web,
};
use serde_json::json;

pub use config::{ConfigError, PkceEncoding, SandboxConfig};
pub use faults::{FaultKind, FaultRule};
pub use model::{Publish, PublishState, Settings, TestUser, UserSpec};
pub use ratelimit::{Endpoint, RateStats};
pub use state::WebhookRecord;

use state::AppState;

#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn unknown_route() -> HttpResponse {
    respond::api_error(
        actix_web::http::StatusCode::NOT_FOUND,
        "invalid_params",
        "Unknown endpoint.",
    )
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().error_handler(|err, _req| {
        let body = HttpResponse::BadRequest().json(json!({ "error": err.to_string() }));
        InternalError::from_response(err, body).into()
    })
}

/// Entry point for the binary and for in-process tests.
pub struct Sandbox;

impl Sandbox {
    /// Binds `config.bind` (use port 0 for tests), starts serving and returns at once.
    pub async fn start(config: SandboxConfig) -> io::Result<RunningSandbox> {
        let listener = std::net::TcpListener::bind(&config.bind)?;
        let addr = listener.local_addr()?;
        let workers = config.workers.max(1);
        let state = web::Data::new(AppState::new(config).map_err(io::Error::other)?);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(json_config())
                .wrap(from_fn(faults::middleware))
                .service(healthz)
                .configure(oauth::configure)
                .configure(user::configure)
                .configure(posting::configure)
                .configure(admin::configure)
                .default_service(web::to(unknown_route))
        })
        .on_connect(faults::on_connect)
        .workers(workers)
        // The binary handles signals itself; tests must not have their Ctrl-C taken.
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        let task = tokio::spawn(server);
        Ok(RunningSandbox { addr, handle, task })
    }
}

/// A started sandbox. Dropping it leaves the server running until the runtime ends; call
/// [`RunningSandbox::stop`] for a clean shutdown.
pub struct RunningSandbox {
    addr: SocketAddr,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<io::Result<()>>,
}

impl RunningSandbox {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, without a trailing slash: the value for a client's API base.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Graceful stop: in-flight requests finish, background pulls and webhooks are dropped.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
    }
}
