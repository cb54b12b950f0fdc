//! Optional CPU profiles of the benchmark's own loads (`BENCH_PERF_DIR`): `perf record`
//! attached to the API process during an extra API run, and to this process during an extra
//! bare run, one file per endpoint and concurrency. The measured rounds never run under perf.
//! Read them with `perf report -i FILE --sort dso,sym`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::error::{Context, Result};

/// Where profiles go, when asked for.
pub fn dir() -> Option<PathBuf> {
    std::env::var_os("BENCH_PERF_DIR").map(PathBuf::from)
}

pub struct Recording {
    child: Child,
}

/// Starts `perf record` on `pid`, writing `dir/name.data`.
pub async fn start(dir: &Path, name: &str, pid: u32) -> Result<Recording> {
    std::fs::create_dir_all(dir).context("BENCH_PERF_DIR")?;
    let out = dir.join(format!("{name}.data"));
    let child = Command::new("perf")
        .args(["record", "-F", "2999", "-q", "-o"])
        .arg(&out)
        .args(["-p", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("perf record (install linux-perf)")?;
    // perf needs a moment to attach to every thread.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(Recording { child })
}

impl Recording {
    /// Stops with SIGINT, so perf writes its file out.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(id) = self.child.id() {
            Command::new("kill")
                .args(["-INT", &id.to_string()])
                .status()
                .await
                .context("kill -INT perf")?;
        }
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .context("perf did not stop")?
            .context("perf record")?;
        Ok(())
    }
}

/// A file name for an endpoint and a concurrency.
pub fn slug(endpoint: &str, clients: u64) -> String {
    let s: String = endpoint
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let s = s
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    format!("{s}-{clients}")
}
