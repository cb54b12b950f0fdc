//! Structured JSON logs on stdout, one object per line.

mod json_lines;

use tracing_subscriber::EnvFilter;

use json_lines::{JsonFragments, JsonLines};

/// Installs the global subscriber. `RUST_LOG` filters (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,aws_config=warn,aws_smithy_runtime=warn,actix_server=warn")
    });
    let _ = tracing_subscriber::fmt()
        .fmt_fields(JsonFragments)
        .event_format(JsonLines)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .try_init();
}
