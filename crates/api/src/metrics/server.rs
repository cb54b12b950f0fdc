//! The `/metrics` listener: its own address (`POSTIQO_METRICS_BIND`), so the numbers are never
//! reachable on the public port, and a scrape never waits behind API requests for a worker.

use std::net::{SocketAddr, TcpListener};
use std::sync::Once;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::{App, HttpResponse, HttpServer, web};
use metrics_exporter_prometheus::PrometheusHandle;

/// Prometheus' text exposition format, version 0.0.4.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Histogram samples wait in per-metric buffers until folded into buckets; a scrape folds
/// them, and this does it too when nobody scrapes, so memory stays flat.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

pub struct MetricsServer {
    handle: ServerHandle,
    addr: SocketAddr,
}

impl MetricsServer {
    /// Installs the recorder and starts serving `GET /metrics` on `addr`. Call from within the
    /// actix runtime. The server ignores signals: its owner stops it after the API stopped.
    pub fn start(addr: SocketAddr) -> std::io::Result<Self> {
        let prometheus = super::install();
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let data = web::Data::new(prometheus.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .service(web::resource("/metrics").route(web::get().to(scrape)))
                .default_service(web::to(HttpResponse::NotFound))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .shutdown_timeout(1)
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        static UPKEEP: Once = Once::new();
        UPKEEP.call_once(|| {
            actix_web::rt::spawn(async move {
                let mut every = tokio::time::interval(UPKEEP_EVERY);
                loop {
                    every.tick().await;
                    prometheus.run_upkeep();
                }
            });
        });
        Ok(Self { handle, addr })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

async fn scrape(prometheus: web::Data<PrometheusHandle>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(prometheus.render())
}
