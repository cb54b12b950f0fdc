//! HTTP load with oha (https://github.com/hatoo/oha), run as a subprocess: its JSON summary
//! gives requests/s and latency percentiles. Only ever pointed at 127.0.0.1.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};

use crate::error::{Context, Result};
use crate::stats::Sample;

/// One load: `requests` requests over `concurrency` connections.
#[derive(Debug, Clone)]
pub struct Load {
    pub method: &'static str,
    pub url: String,
    pub json_body: Option<String>,
    pub token: String,
    pub requests: u64,
    pub concurrency: u64,
}

#[derive(Debug, Clone)]
pub struct Oha {
    bin: PathBuf,
}

/// A running oha.
pub struct Running {
    child: Child,
    load: Load,
    timeout: Duration,
}

impl Oha {
    pub fn new(bin: PathBuf) -> Self {
        Self { bin }
    }

    pub async fn version(&self) -> String {
        Command::new(&self.bin)
            .arg("--version")
            .output()
            .await
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|| "oha (unknown version)".to_owned())
    }

    pub fn start(&self, load: &Load, timeout: Duration) -> Result<Running> {
        if !load.url.starts_with("http://127.0.0.1:") {
            return Err(format!("refusing to load anything but 127.0.0.1: {}", load.url).into());
        }
        let mut cmd = Command::new(&self.bin);
        cmd.args(["--no-tui", "--output-format", "json"])
            .args(["-n", &load.requests.to_string()])
            .args(["-c", &load.concurrency.to_string()])
            .args(["-m", load.method])
            // A request that hangs is a failure, not a latency.
            .args(["-t", "30s"])
            .args(["-H", &format!("Authorization: Bearer {}", load.token)]);
        if let Some(body) = &load.json_body {
            cmd.args(["-T", "application/json", "-d", body]);
        }
        cmd.arg(&load.url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd.spawn().context("start oha")?;
        Ok(Running {
            child,
            load: load.clone(),
            timeout,
        })
    }

    pub async fn run(&self, load: &Load, timeout: Duration) -> Result<Sample> {
        self.start(load, timeout)?.finish().await
    }
}

impl Running {
    pub fn is_done(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    pub async fn finish(self) -> Result<Sample> {
        let what = format!(
            "oha {} {} ({} requests, {} clients)",
            self.load.method, self.load.url, self.load.requests, self.load.concurrency
        );
        let out = tokio::time::timeout(self.timeout, self.child.wait_with_output())
            .await
            .map_err(|_| format!("{what}: did not finish within {:?}", self.timeout))?
            .context(&what)?;
        if !out.status.success() {
            return Err(format!(
                "{what}: exit {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        let json: Value = serde_json::from_slice(&out.stdout).context(&what)?;
        parse(&json, self.load.requests).map_err(|e| format!("{what}: {e}").into())
    }
}

/// Reads oha's JSON summary; every response must be a 2xx and every request must have
/// succeeded, or the numbers would describe errors.
pub fn parse(json: &Value, expected: u64) -> Result<Sample> {
    let codes = json["statusCodeDistribution"]
        .as_object()
        .context("no statusCodeDistribution")?;
    let mut ok = 0;
    for (code, n) in codes {
        let n = n.as_u64().unwrap_or(0);
        if !code.starts_with('2') {
            return Err(format!("{n} responses with status {code}").into());
        }
        ok += n;
    }
    if let Some(errors) = json["errorDistribution"].as_object()
        && !errors.is_empty()
    {
        return Err(format!("request errors: {}", Value::Object(errors.clone())).into());
    }
    if ok != expected {
        return Err(format!("{ok} successful responses, expected {expected}").into());
    }
    let secs = |v: &Value, what: &str| -> Result<Duration> {
        v.as_f64()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
            .context(&format!("no {what} in oha's output"))
    };
    Ok(Sample {
        requests: ok,
        rps: json["summary"]["requestsPerSec"]
            .as_f64()
            .context("no summary.requestsPerSec")?,
        p50: secs(&json["latencyPercentiles"]["p50"], "p50")?,
        p99: secs(&json["latencyPercentiles"]["p99"], "p99")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_summary_and_refuses_errors() {
        let ok = serde_json::json!({
            "summary": {"requestsPerSec": 1234.5},
            "latencyPercentiles": {"p50": 0.001, "p99": 0.004},
            "statusCodeDistribution": {"200": 10},
            "errorDistribution": {}
        });
        let s = parse(&ok, 10).expect("parse");
        assert_eq!(s.p50, Duration::from_millis(1));
        assert_eq!(s.requests, 10);
        let mut bad = ok.clone();
        bad["statusCodeDistribution"] = serde_json::json!({"200": 9, "401": 1});
        assert!(parse(&bad, 10).is_err());
        assert!(parse(&ok, 11).is_err());
    }
}
