//! Building the application: adapters once, then the HTTP server around them.

use std::net::{SocketAddr, TcpListener};

use actix_cors::Cors;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest};
use actix_web::http::{Method, header};
use actix_web::{App, HttpServer, middleware, web};
use postiqo_storage::Storage;
use utoipa::OpenApi;
use utoipa_actix_web::{AppExt, UtoipaApp, scope};
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::JwtCodec;
use crate::config::Settings;
use crate::extract;
use crate::middleware::RequestContext;
use crate::openapi::ApiDoc;
use std::sync::Arc;

use postiqo_tiktok::{TikTokClient, TikTokConfig};

use crate::crypto::TokenCipher;
use crate::routes::{
    account, auth, fallback, health, me, media, publish, tiktok, videos, webhooks,
};
use crate::services::media::MediaUrls;
use crate::services::{AccountService, AuthService, PublishService, TikTokAccess, VideoService};
use crate::worker::Worker;

/// Everything handlers share, in one `web::Data`.
pub struct AppState {
    pub storage: Storage,
    pub videos: VideoService,
    pub auth: AuthService,
    pub tiktok: TikTokAccess,
    pub publish: PublishService,
    pub account: AccountService,
    pub limits: crate::limits::Limits,
    /// Sessions recently found alive (see `auth::session_cache`).
    pub sessions: crate::auth::session_cache::SessionCache,
    pub jwt: Arc<JwtCodec>,
    pub bucket: String,
    pub settings: Arc<Settings>,
}

impl AppState {
    /// Builds the adapters and services once. No network call is made: storage and TikTok
    /// are contacted when requests need them.
    pub async fn build(settings: Settings) -> std::io::Result<Self> {
        let sdk = postiqo_storage::sdk_config().await;
        let storage = postiqo_storage::connect(&sdk, &settings.storage.storage);
        let client = Arc::new(tiktok_client(&settings)?);
        let cipher = Arc::new(TokenCipher::new(&settings.sessions.encryption_keys));
        let jwt = Arc::new(JwtCodec::new(&settings.jwt));
        let auth = AuthService::new(
            storage.clone(),
            client.clone(),
            cipher.clone(),
            jwt.clone(),
            settings.storage.allowed_origins.clone(),
            settings.sessions.ttl,
        );
        let tiktok = TikTokAccess::new(storage.clone(), client, cipher);
        let media = MediaUrls::new(
            storage.clone(),
            settings.publish.media_mode,
            settings.publish.media_url_ttl,
            settings.public_url.clone(),
            jwt.mac_key(),
        );
        let instance = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let publish = PublishService::new(
            storage.clone(),
            tiktok.clone(),
            media,
            settings.publish.clone(),
            instance,
        );
        Ok(Self {
            videos: VideoService::new(storage.clone(), settings.uploads.clone()),
            account: AccountService::new(storage.clone(), tiktok.clone()),
            limits: crate::limits::Limits::new(&settings.rate_limits),
            sessions: crate::auth::session_cache::SessionCache::new(settings.sessions.cache_ttl),
            tiktok,
            publish,
            auth,
            jwt,
            bucket: settings.storage.storage.bucket.clone(),
            storage,
            settings: Arc::new(settings),
        })
    }

    pub fn worker(&self) -> Worker {
        Worker::new(
            self.storage.clone(),
            self.publish.clone(),
            self.account.clone(),
        )
    }
}

/// The TikTok client for our app, redirecting back to our callback.
fn tiktok_client(settings: &Settings) -> std::io::Result<TikTokClient> {
    let redirect_uri = settings
        .public_url
        .join("/v1/auth/tiktok/callback")
        .map_err(std::io::Error::other)?;
    let config = TikTokConfig {
        client_key: settings.tiktok.client_key.clone(),
        client_secret: settings.tiktok.client_secret.clone(),
        auth_url: settings.tiktok.auth_url.clone(),
        api_base: settings.tiktok.api_url.clone(),
        scopes: settings.tiktok.scopes.clone(),
        redirect_uri,
        pkce: settings.tiktok.pkce,
        request_timeout: postiqo_tiktok::DEFAULT_REQUEST_TIMEOUT,
    };
    TikTokClient::new(config).map_err(std::io::Error::other)
}

/// Registers every documented route. The server and the OpenAPI generator both call this, so
/// the document lists exactly what is routed.
pub fn register<T>(app: UtoipaApp<T>) -> UtoipaApp<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    app.openapi(ApiDoc::openapi())
        .service(health::healthz)
        .service(health::readyz)
        .service(
            scope("/v1")
                .configure(auth::configure)
                .configure(me::configure)
                .configure(account::configure)
                .configure(videos::configure)
                .configure(publish::configure)
                .configure(tiktok::configure)
                .configure(media::configure)
                .configure(webhooks::configure),
        )
}

/// The routes alone, for generating the document without a server.
pub fn routes_app() -> UtoipaApp<
    impl ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
> {
    register(App::new().into_utoipa_app())
}

fn cors(settings: &Settings) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("x-csrf-token"),
            header::HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            header::LOCATION,
            header::CONTENT_DISPOSITION,
        ])
        .supports_credentials()
        .max_age(3600);
    // Exact origins only: credentials are never combined with a wildcard.
    for origin in &settings.storage.allowed_origins {
        cors = cors.allowed_origin(origin.as_str());
    }
    cors
}

pub struct Application {
    server: Server,
    addr: SocketAddr,
    worker_stop: Option<tokio::sync::watch::Sender<bool>>,
}

impl Application {
    /// Binds the listener and builds the adapters. Storage is not contacted here: the server
    /// starts even when storage is down, and `/readyz` says so.
    pub async fn build(settings: Settings) -> std::io::Result<Self> {
        let state = web::Data::new(AppState::build(settings).await?);
        let settings = state.settings.clone();
        let worker_stop = if settings.publish.worker {
            let (tx, rx) = tokio::sync::watch::channel(false);
            actix_web::rt::spawn(state.worker().run(rx));
            Some(tx)
        } else {
            None
        };
        let known = web::Data::new(fallback::KnownRoutes::from_openapi(
            &crate::openapi::document(),
        ));
        let context = RequestContext {
            hsts: settings.public_url.scheme() == "https",
            in_flight: Arc::new(tokio::sync::Semaphore::new(settings.max_in_flight)),
        };
        let listener = TcpListener::bind(settings.bind)?;
        let addr = listener.local_addr()?;

        let server = HttpServer::new(move || {
            let context = context.clone();
            let app = App::new()
                .app_data(state.clone())
                .app_data(known.clone())
                .app_data(extract::json_config(settings.json_limit))
                .app_data(web::PayloadConfig::new(settings.json_limit))
                .app_data(extract::query_config())
                .app_data(extract::path_config())
                .wrap(cors(&settings))
                .wrap(middleware::from_fn(move |req, next| {
                    context.clone().handle(req, next)
                }))
                .into_utoipa_app();
            let (app, doc) = register(app).split_for_parts();
            app.service(SwaggerUi::new("/swagger-ui/{_:.*}").url("/openapi.json", doc))
                .default_service(web::to(fallback::not_found))
        })
        // actix answers a bare 408 (no problem body) to a new connection whose first request
        // head it has not read within this time. Its 5 s default fired under a 256-client soak
        // on 2 cores, where requests already in the socket waited that long for a worker.
        .client_request_timeout(std::time::Duration::from_secs(20))
        // Idle keep-alive connections stay open longer than a load balancer's own idle timeout
        // (AWS ALB: 60 s), so the balancer closes them first: one that sends a request on a
        // connection we just closed answers the client 502. actix's default is 5 s.
        .keep_alive(std::time::Duration::from_secs(75))
        .listen(listener)?
        .shutdown_timeout(30)
        .run();
        Ok(Self {
            server,
            addr,
            worker_stop,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until SIGINT/SIGTERM, then stops accepting and lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        if let Some(stop) = self.worker_stop {
            let _ = stop.send(true);
        }
        result
    }
}
