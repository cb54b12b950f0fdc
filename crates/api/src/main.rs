//! `postiqo-api [serve|bootstrap|openapi]`.

use std::process::ExitCode;

use postiqo_api::config::{ProcessEnv, Settings, StorageSettings};
use postiqo_api::startup::Application;
use postiqo_api::{bootstrap, openapi, telemetry};

const USAGE: &str = "usage: postiqo-api [serve|bootstrap|openapi]
  serve      run the HTTP API (default)
  bootstrap  create the DynamoDB table and the S3 bucket (idempotent)
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
    tracing::info!(address = %app.addr(), "listening");
    match app.run_until_stopped().await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

async fn run_bootstrap() -> ExitCode {
    let settings = match StorageSettings::from_env(&ProcessEnv) {
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
