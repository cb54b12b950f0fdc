//! Building the application: adapters once, then the HTTP server around them.

use std::net::{SocketAddr, TcpListener};

use actix_cors::Cors;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest};
use actix_web::http::{Method, header};
use actix_web::{App, middleware, web};
use utoipa::OpenApi;
use utoipa_actix_web::{AppExt, UtoipaApp, scope};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::config::Settings;
use crate::extract;
use crate::metrics::MetricsServer;
use crate::middleware::{ClientAddrLayer, RequestContext};
use crate::openapi::ApiDoc;
use std::sync::Arc;

use crate::routes::videos::dto::VideoView;
use crate::routes::{
    account, auth, fallback, health, me, media, publish, publish_check, tiktok, videos, webhooks,
};
use crate::state::AppState;

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
                .configure(publish_check::configure)
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
    for origin in &settings.allowed_origins {
        cors = cors.allowed_origin(origin.as_str());
    }
    cors
}

pub struct Application {
    server: Server,
    addr: SocketAddr,
    metrics: Option<MetricsServer>,
    worker_stop: Option<tokio::sync::watch::Sender<bool>>,
}

impl Application {
    /// Binds the listener and builds the adapters. Storage is not contacted here: the server
    /// starts even when storage is down, and `/readyz` says so.
    pub async fn build(settings: Settings) -> std::io::Result<Self> {
        // First, so the worker's first pass is counted.
        let metrics = settings
            .metrics_bind
            .map(MetricsServer::start)
            .transpose()?;
        crate::metrics::set_max_in_flight(settings.max_in_flight);
        let (state, worker) = AppState::build(&settings).await?;
        let state = web::Data::new(state);
        let video_view = web::Data::new(VideoView {
            bucket: settings.storage.bucket.clone(),
            post_id_wait: settings.publish.post_id_wait,
        });
        let settings = Arc::new(settings);
        let worker_stop = if settings.publish.worker {
            let (tx, rx) = tokio::sync::watch::channel(false);
            actix_web::rt::spawn(worker.run(rx));
            Some(tx)
        } else {
            None
        };
        // Built and serialized once; each worker's routes leave their own copy unused.
        let doc = crate::openapi::document_at(settings.public_url.as_str());
        let known = web::Data::new(fallback::KnownRoutes::from_openapi(&doc));
        let documents =
            web::Data::new(crate::openapi::Documents::new(doc).map_err(std::io::Error::other)?);
        let admission = Arc::new(crate::admission::Admission::new(
            settings.max_in_flight,
            settings.edge.queue_timeout,
        ));
        let hsts = settings.public_url.scheme() == "https";
        let context = RequestContext {
            hsts,
            admission: admission.clone(),
            body_limit: settings.json_limit,
            body_timeout: settings.edge.body_timeout,
        };
        let admission = web::Data::from(admission);
        let client_addr = ClientAddrLayer {
            proxies: Arc::new(settings.proxies.trusted.clone()),
            header: settings.proxies.header,
        };
        let listener = TcpListener::bind(settings.bind)?;
        let addr = listener.local_addr()?;
        let edge = settings.edge;

        let app = move || {
            let context = context.clone();
            let client_addr = client_addr.clone();
            let app = App::new()
                .app_data(state.clone())
                .app_data(video_view.clone())
                .app_data(known.clone())
                .app_data(admission.clone())
                .app_data(extract::json_config(settings.json_limit))
                .app_data(web::PayloadConfig::new(settings.json_limit))
                .app_data(extract::query_config())
                .app_data(extract::path_config())
                .wrap(cors(&settings))
                .wrap(middleware::from_fn(move |req, next| {
                    context.clone().handle(req, next)
                }))
                // Outside the request context: the access log and the limits read what it finds.
                .wrap(middleware::from_fn(move |req, next| {
                    client_addr.clone().handle(req, next)
                }))
                .wrap(middleware::from_fn(crate::middleware::metrics::record))
                .into_utoipa_app();
            let (app, _) = register(app).split_for_parts();
            app.app_data(documents.clone())
                .configure(crate::openapi::configure_documents)
                .service(
                    SwaggerUi::new("/swagger-ui/{_:.*}")
                        .config(Config::new([crate::openapi::SWAGGER_DOCUMENT])),
                )
                .default_service(web::to(fallback::not_found))
        };
        // Timeouts, connection limits and the answers to requests refused before routing:
        // `edge` (docs/reliability.md, "Limits").
        let server = crate::edge::serve(listener, app, edge, hsts)?;
        Ok(Self {
            server,
            addr,
            metrics,
            worker_stop,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `/metrics` is served, when it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(MetricsServer::addr)
    }

    /// Serves until SIGINT/SIGTERM, then stops accepting and lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        if let Some(stop) = self.worker_stop {
            let _ = stop.send(true);
        }
        if let Some(metrics) = self.metrics {
            metrics.stop().await;
        }
        result
    }
}
