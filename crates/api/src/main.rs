//! `postiqo-api [serve|bootstrap|openapi]`.

use std::process::ExitCode;

use postiqo_api::config::{BootstrapSettings, ProcessEnv, Settings};
use postiqo_api::metrics::MetricsServer;
use postiqo_api::startup::Application;
use postiqo_api::{bootstrap, openapi, telemetry};

const USAGE: &str = "usage: postiqo-api [serve|worker|bootstrap|openapi]
  serve      run the HTTP API, with the publish worker unless POSTIQO_WORKER=off (default)
  worker     run only the publish worker (no HTTP)
  bootstrap  create the DynamoDB table and the S3 bucket (idempotent)
  tiktok-verification-file FILE
             publish TikTok's URL-prefix verification file at {POSTIQO_PUBLIC_URL}/v1/media/FILE
  openapi    print the OpenAPI document";

/// One line on stderr, then a non-zero exit: what operators see when start-up fails.
fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("postiqo-api: {msg}");
    ExitCode::FAILURE
}

#[actix_web::main]
async fn main() -> ExitCode {
    let command = std::env::args().nth(1);
    match command.as_deref() {
        None | Some("serve") => serve().await,
        Some("bootstrap") => run_bootstrap().await,
        Some("worker") => run_worker().await,
        Some("tiktok-verification-file") => match std::env::args().nth(2) {
            Some(path) => put_verification_file(&path).await,
            None => fail("tiktok-verification-file needs the path of the file TikTok gave you"),
        },
        Some("openapi") => match openapi::document_json() {
            Ok(json) => {
                print!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("postiqo-api: unknown command {other:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

async fn serve() -> ExitCode {
    let settings = match Settings::from_env(&ProcessEnv) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    telemetry::init();
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => return fail(format_args!("cannot start: {e}")),
    };
    if let Some(address) = app.metrics_addr() {
        tracing::info!(%address, "metrics listening");
    }
    tracing::info!(address = %app.addr(), "listening");
    match app.run_until_stopped().await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

async fn run_worker() -> ExitCode {
    let settings = match Settings::from_env(&ProcessEnv) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    telemetry::init();
    let metrics = match settings.metrics_bind.map(MetricsServer::start).transpose() {
        Ok(m) => m,
        Err(e) => return fail(format_args!("cannot serve metrics: {e}")),
    };
    if let Some(m) = &metrics {
        tracing::info!(address = %m.addr(), "metrics listening");
    }
    let worker = match postiqo_api::state::AppState::build(&settings).await {
        Ok((_, worker)) => worker,
        Err(e) => return fail(format_args!("cannot start: {e}")),
    };
    let (tx, rx) = tokio::sync::watch::channel(false);
    let worker = actix_web::rt::spawn(worker.run(rx));
    shutdown_signal().await;
    let _ = tx.send(true);
    let _ = worker.await;
    if let Some(m) = metrics {
        m.stop().await;
    }
    ExitCode::SUCCESS
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Uploads TikTok's verification file where the media proxy serves it, so the URL prefix
/// `{POSTIQO_PUBLIC_URL}/v1/media/` can be verified in TikTok's developer portal.
async fn put_verification_file(path: &str) -> ExitCode {
    let settings = match BootstrapSettings::from_env(&ProcessEnv) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let name = std::path::Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    if !postiqo_api::routes::media::is_verification_file(&name) {
        return fail("the file must be named like TikTok's: tiktok<letters and digits>.txt");
    }
    let body = match std::fs::read(path) {
        Ok(b) if b.len() <= 4096 => b,
        Ok(_) => {
            return fail("the file is larger than 4 KiB; is it really TikTok's verification file?");
        }
        Err(e) => return fail(format_args!("cannot read {path}: {e}")),
    };
    let sdk = postiqo_storage::sdk_config().await;
    let storage = postiqo_storage::connect(&sdk, &settings.storage);
    match storage
        .blobs
        .put_site_file(
            &format!("tiktok-verification/{name}"),
            body,
            "text/plain; charset=utf-8",
        )
        .await
    {
        Ok(()) => {
            let base = std::env::var("POSTIQO_PUBLIC_URL")
                .unwrap_or_else(|_| "<POSTIQO_PUBLIC_URL>".into());
            println!(
                "TikTok will find it at {}/v1/media/{name}",
                base.trim_end_matches('/')
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(format_args!("upload failed: {e}")),
    }
}

async fn run_bootstrap() -> ExitCode {
    let settings = match BootstrapSettings::from_env(&ProcessEnv) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    telemetry::init();
    match bootstrap::run(&settings).await {
        Ok(()) => {
            tracing::info!(table = %settings.storage.table, bucket = %settings.storage.bucket, "bootstrap complete");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = ?e, "bootstrap failed");
            fail(format_args!("bootstrap failed: {e}"))
        }
    }
}
