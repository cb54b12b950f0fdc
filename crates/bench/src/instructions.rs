//! Section 1b: instructions per request, counted by valgrind's callgrind, for the API and for
//! the minimal server ([`crate::baseline`]) making the same storage calls.
//!
//! CPU time on this shared 2-vCPU VM moves by ±15 % between identical runs, which is more than
//! the whole of Postiqo's own share of a request. An instruction count does not move with the
//! machine's load: the same build and requests give the same count to within a fraction of a
//! percent, so "what Postiqo's code adds" (API − minimal server) can be compared between
//! commits. It leaves out the kernel (system calls, scheduling) and counts every instruction
//! alike (a cache miss costs nothing here), so it complements the CPU table, never replaces it.
//!
//! Each process runs under `valgrind --tool=callgrind` with instrumentation off until its
//! first request is answered; then per endpoint and process: warm-up requests, counters
//! zeroed, the measured requests one at a time, a dump whose `totals:` line is read back.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;

use crate::api::{ApiSpec, check};
use crate::baseline::{BaselineProcess, Target};
use crate::error::{Context, Result};
use crate::profile::Profile;

/// One endpoint's request, as section 1 sends it.
#[derive(Debug, Clone)]
pub struct Request {
    pub endpoint: &'static str,
    pub method: &'static str,
    pub path: String,
    pub body: Option<String>,
}

/// Instructions per request of one endpoint.
#[derive(Debug, Clone)]
pub struct Counted {
    pub endpoint: &'static str,
    pub api: f64,
    pub minimal: f64,
    pub requests: u64,
}

impl Counted {
    /// What Postiqo's code adds: API − minimal server.
    pub fn ours(&self) -> f64 {
        self.api - self.minimal
    }
}

/// Whether `valgrind` and `callgrind_control` are on the PATH (scripts/bench installs them).
pub fn available() -> bool {
    ["valgrind", "callgrind_control"].iter().all(|tool| {
        std::process::Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// The command line that runs a program under callgrind, dumps going to `out.N`.
pub fn wrapper(out: &Path) -> Vec<String> {
    vec![
        "valgrind".to_owned(),
        "--tool=callgrind".to_owned(),
        "--instr-atstart=no".to_owned(),
        format!("--callgrind-out-file={}", out.display()),
    ]
}

/// A process running under callgrind.
pub struct Counter {
    pid: u32,
    out: PathBuf,
    dumps: u32,
    instrumenting: bool,
}

impl Counter {
    pub fn new(pid: u32, out: &Path) -> Self {
        Self {
            pid,
            out: out.to_owned(),
            dumps: 0,
            instrumenting: false,
        }
    }

    async fn control(&self, flags: &[&str]) -> Result<()> {
        let out = Command::new("callgrind_control")
            .args(flags)
            .arg(self.pid.to_string())
            .stdin(Stdio::null())
            .output()
            .await
            .context("callgrind_control")?;
        if !out.status.success() {
            return Err(format!(
                "callgrind_control {flags:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(())
    }

    /// Instructions per request of `request`: `warmup` requests, counters zeroed, `requests`
    /// requests one after another, a dump.
    pub async fn per_request(
        &mut self,
        http: &reqwest::Client,
        base_url: &str,
        token: &str,
        request: &Request,
        warmup: u64,
        requests: u64,
    ) -> Result<f64> {
        let url = format!("{base_url}{}", request.path);
        let send = || check(http, request.method, &url, token, request.body.as_deref());
        if !self.instrumenting {
            // Start-up and the first requests run uninstrumented (fast); the code paths are
            // then instrumented before the warm-up that precedes every count.
            send().await?;
            self.control(&["-i", "on"]).await?;
            self.instrumenting = true;
        }
        for _ in 0..warmup {
            send().await?;
        }
        self.control(&["-z"]).await?;
        for _ in 0..requests {
            send().await?;
        }
        self.control(&["-d"]).await?;
        self.dumps += 1;
        let total = self.read_total().await?;
        Ok(total as f64 / requests.max(1) as f64)
    }

    /// The `totals:` of the latest dump (`out.N`), waiting for valgrind to write it.
    async fn read_total(&self) -> Result<u64> {
        let path = PathBuf::from(format!("{}.{}", self.out.display(), self.dumps));
        let started = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&path)
                && let Some(total) = total_of(&text)
            {
                return Ok(total);
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(format!("no callgrind totals in {}", path.display()).into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Who is counted, and with what.
pub struct Setup<'a> {
    pub profile: &'a Profile,
    pub http: &'a reqwest::Client,
    pub token: &'a str,
    /// How the measured API is started; the counted one gets `api_bind` instead of its bind.
    pub api: &'a ApiSpec,
    pub api_bind: &'a str,
    pub baseline_bind: &'a str,
    pub baseline: &'a Target,
    /// Where the dumps and logs go.
    pub dir: &'a Path,
}

/// Counts every request for the API and for the minimal server, endpoint by endpoint (both
/// processes run; one is driven at a time), so both read the same items before either
/// creates any.
pub async fn count(setup: &Setup<'_>, requests: &[Request]) -> Result<Vec<Counted>> {
    let p = setup.profile;
    std::fs::create_dir_all(setup.dir).context("create the callgrind folder")?;
    let _ = std::fs::read_dir(setup.dir).map(|entries| {
        for entry in entries.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
    });

    crate::step("the API and the minimal server under callgrind (instructions per request)");
    let api_out = setup.dir.join("api.callgrind");
    let base_url = format!("http://{}", setup.api_bind);
    let mut env = setup.api.env.clone();
    // Only the bind moves: the public URL names the tokens' issuer, and the token is the
    // measured process's.
    env.push(("POSTIQO_BIND".to_owned(), setup.api_bind.to_owned()));
    let spec = ApiSpec {
        bin: setup.api.bin.clone(),
        base_url,
        log_dir: setup.dir.to_owned(),
        env,
        wrapper: wrapper(&api_out),
    };
    let (api, _) = spec.start(0).await?;
    let minimal_out = setup.dir.join("minimal.callgrind");
    let minimal = BaselineProcess::start(
        setup.baseline_bind,
        setup.baseline,
        &setup.dir.join("minimal.log"),
        &wrapper(&minimal_out),
    )
    .await?;
    let mut api_counter = Counter::new(api.proc.pid(), &api_out);
    let mut minimal_counter = Counter::new(minimal.proc.pid(), &minimal_out);
    let mut counted = Vec::new();
    for r in requests {
        let (warmup, n) = (p.counted_warmup, p.counted_requests);
        let api_n = api_counter
            .per_request(setup.http, &spec.base_url, setup.token, r, warmup, n)
            .await?;
        let minimal_n = minimal_counter
            .per_request(setup.http, &minimal.base_url, setup.token, r, warmup, n)
            .await?;
        eprintln!(
            "    {}: API {api_n:.0}, minimal server {minimal_n:.0} instructions per request",
            r.endpoint
        );
        counted.push(Counted {
            endpoint: r.endpoint,
            api: api_n,
            minimal: minimal_n,
            requests: n,
        });
    }
    api.stop().await;
    minimal.stop().await;
    Ok(counted)
}

/// The event count of a callgrind dump: its `totals:` line. (The `summary:` line in its header
/// is wrong after the counters were zeroed: valgrind 3.19 writes a wrapped negative number.)
fn total_of(dump: &str) -> Option<u64> {
    dump.lines()
        .find_map(|l| l.strip_prefix("totals:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_totals_line() {
        let dump = "# callgrind format\nevents: Ir\nsummary: 18446744073561779712\n\nfn=(1) main\n5 3\n\ntotals: 795905404\n";
        assert_eq!(total_of(dump), Some(795_905_404));
        assert_eq!(total_of("events: Ir\nsummary: 12\n"), None);
        assert_eq!(total_of("totals: many\n"), None);
    }
}
