//! The API under test: a release `postiqo-api serve` started (and killed) by the benchmark, and
//! the few plain HTTP calls that set the scene (seeding, uploads). Load itself comes from oha.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::error::{Context, Result};
use crate::procfs::Proc;

/// Where the API listens and how to start it. Its configuration is this process's environment
/// (scripts/bench sets it).
#[derive(Debug, Clone)]
pub struct ApiSpec {
    pub bin: PathBuf,
    pub base_url: String,
    pub log_dir: PathBuf,
    /// Set on top of this process's environment.
    pub env: Vec<(String, String)>,
    /// A command the API runs under (`valgrind …`, [`crate::instructions`]); empty: none.
    pub wrapper: Vec<String>,
}

pub struct ApiProcess {
    child: Child,
    pub proc: Proc,
}

/// A client for set-up calls: no proxies (everything is on 127.0.0.1), no redirects followed.
pub fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(300))
        // Below the API's 5 s keep-alive: a pooled connection the server may be closing at
        // that moment is never reused. Under callgrind the steps between requests (a dump, a
        // read-back) take several seconds, and a reuse that met the close failed the run.
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .context("build HTTP client")
}

impl ApiSpec {
    /// Starts the API and measures the time from spawning it to `/readyz` answering 200
    /// (polled every 2 ms, for at most 30 s).
    pub async fn start(&self, run: usize) -> Result<(ApiProcess, Duration)> {
        let log_path = self.log_dir.join(format!("api-{run}.log"));
        let log = std::fs::File::create(&log_path).context("create API log")?;
        let err_log = log.try_clone().context("clone API log")?;
        let probe = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(4))
            .build()
            .context("build probe client")?;
        let readyz = format!("{}/readyz", self.base_url);

        // Under valgrind the API starts tens of times slower.
        let patience = if self.wrapper.is_empty() {
            Duration::from_secs(30)
        } else {
            Duration::from_secs(180)
        };
        let started = Instant::now();
        let mut child = wrapped(&self.wrapper, self.bin.as_os_str())
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .kill_on_drop(true)
            .spawn()
            .context("start postiqo-api")?;
        let pid = child.id().context("postiqo-api has no pid")?;
        let ready = loop {
            if let Ok(res) = probe.get(&readyz).send().await
                && res.status() == reqwest::StatusCode::OK
            {
                break started.elapsed();
            }
            if let Some(status) = child.try_wait().context("wait for postiqo-api")? {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(
                    format!("postiqo-api exited ({status}) before it was ready:\n{log}").into(),
                );
            }
            if started.elapsed() > patience {
                return Err(format!(
                    "postiqo-api not ready after {} s (log: {})",
                    patience.as_secs(),
                    log_path.display()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        Ok((
            ApiProcess {
                child,
                proc: Proc::new(pid),
            },
            ready,
        ))
    }
}

/// `program`, or `wrapper… program` when a wrapper is given.
pub fn wrapped(wrapper: &[String], program: &std::ffi::OsStr) -> Command {
    match wrapper.split_first() {
        Some((first, rest)) => {
            let mut command = Command::new(first);
            command.args(rest).arg(program);
            command
        }
        None => Command::new(program),
    }
}

impl ApiProcess {
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// `POST /v1/videos`; returns the 201 body.
pub async fn create_video(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    title: &str,
    size: u64,
) -> Result<Value> {
    let res = http
        .post(format!("{base}/v1/videos"))
        .bearer_auth(token)
        .json(&json!({"title": title, "content_type": "video/mp4", "size_bytes": size}))
        .send()
        .await
        .context("POST /v1/videos")?;
    let status = res.status();
    let body = res.text().await.context("read POST /v1/videos")?;
    if status != reqwest::StatusCode::CREATED {
        return Err(format!("POST /v1/videos: {status}: {body}").into());
    }
    serde_json::from_str(&body).context("POST /v1/videos body")
}

/// Makes sure a request works (right status) before oha repeats it thousands of times.
pub async fn check(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    token: &str,
    body: Option<&str>,
) -> Result<()> {
    let mut req = match method {
        "POST" => http.post(url),
        _ => http.get(url),
    }
    .bearer_auth(token);
    if let Some(b) = body {
        req = req
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(b.to_owned());
    }
    let res = req.send().await.context(url)?;
    let status = res.status();
    if !status.is_success() {
        let text = res.text().await.unwrap_or_default();
        return Err(format!("{method} {url}: {status}: {text}").into());
    }
    Ok(())
}
