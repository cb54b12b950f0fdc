//! What the kernel knows about the API process: CPU time and memory, read from `/proc`.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Context, Result};

/// The API process, seen through `/proc/<pid>`.
#[derive(Debug, Clone)]
pub struct Proc {
    pid: u32,
    clock_ticks: u64,
}

/// CPU time used so far, two ways: `utime + stime` of `/proc/<pid>/stat` (whole process,
/// clock ticks of 10 ms) and the sum of every thread's `schedstat` run time (nanoseconds;
/// threads that exited in between are not counted).
#[derive(Debug, Clone, Copy)]
pub struct Cpu {
    ticks: u64,
    sched_ns: u64,
}

/// CPU time spent between two snapshots.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSpent {
    /// From `/proc/<pid>/stat` (10 ms resolution).
    pub stat: Duration,
    /// From the threads' `schedstat` (ns resolution).
    pub sched: Duration,
}

impl std::ops::AddAssign for CpuSpent {
    fn add_assign(&mut self, other: Self) {
        self.stat += other.stat;
        self.sched += other.sched;
    }
}

impl CpuSpent {
    /// Per request, from `/proc/<pid>/stat`, the number the targets are stated in.
    pub fn per_request(&self, requests: u64) -> Duration {
        self.stat / u32::try_from(requests.max(1)).unwrap_or(u32::MAX)
    }
}

impl Cpu {
    pub fn since(&self, earlier: &Cpu, clock_ticks: u64) -> CpuSpent {
        let ticks = self.ticks.saturating_sub(earlier.ticks);
        CpuSpent {
            stat: Duration::from_nanos(ticks * 1_000_000_000 / clock_ticks.max(1)),
            sched: Duration::from_nanos(self.sched_ns.saturating_sub(earlier.sched_ns)),
        }
    }
}

/// `USER_HZ`, the unit of `/proc/<pid>/stat` times (100 on Linux).
fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

impl Proc {
    pub fn new(pid: u32) -> Self {
        Self {
            pid,
            clock_ticks: clock_ticks(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn clock_ticks(&self) -> u64 {
        self.clock_ticks
    }

    fn path(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/{name}", self.pid))
    }

    pub fn cpu(&self) -> Result<Cpu> {
        let stat = std::fs::read_to_string(self.path("stat")).context("read /proc/<pid>/stat")?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .context("malformed /proc/<pid>/stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat(5); `rest` starts at field 3.
        let field = |n: usize| -> Result<u64> {
            fields
                .get(n - 3)
                .context("short /proc/<pid>/stat")?
                .parse::<u64>()
                .context("bad /proc/<pid>/stat field")
        };
        let ticks = field(14)? + field(15)?;
        let mut sched_ns = 0;
        for task in std::fs::read_dir(self.path("task")).context("read /proc/<pid>/task")? {
            let Ok(task) = task else { continue };
            if let Ok(s) = std::fs::read_to_string(task.path().join("schedstat"))
                && let Some(Ok(ns)) = s.split_whitespace().next().map(str::parse::<u64>)
            {
                sched_ns += ns;
            }
        }
        Ok(Cpu { ticks, sched_ns })
    }

    /// A `kB` line of `/proc/<pid>/status` (VmRSS, VmHWM, ...), in bytes.
    pub fn status_bytes(&self, key: &str) -> Result<u64> {
        let status =
            std::fs::read_to_string(self.path("status")).context("read /proc/<pid>/status")?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .context(&format!("{key} missing from /proc/<pid>/status"))
    }

    pub fn rss(&self) -> Result<u64> {
        self.status_bytes("VmRSS")
    }

    pub fn peak_rss(&self) -> Result<u64> {
        self.status_bytes("VmHWM")
    }

    /// Resets VmHWM to the current RSS (`echo 5 > /proc/<pid>/clear_refs`, Linux ≥ 4.0), so
    /// each phase reports its own peak.
    pub fn reset_peak_rss(&self) -> Result<()> {
        std::fs::write(self.path("clear_refs"), "5").context("write /proc/<pid>/clear_refs")
    }

    /// Open sockets (client connections plus the SDK's connections to storage).
    pub fn sockets(&self) -> usize {
        std::fs::read_dir(self.path("fd"))
            .map(|dir| {
                dir.filter_map(|e| e.ok())
                    .filter_map(|e| std::fs::read_link(e.path()).ok())
                    .filter(|l| l.to_string_lossy().starts_with("socket:"))
                    .count()
            })
            .unwrap_or(0)
    }
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = Proc::new(std::process::id());
        let cpu = me.cpu().expect("cpu");
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        let later = me.cpu().expect("cpu");
        assert!(later.since(&cpu, me.clock_ticks()).sched > Duration::ZERO);
        assert!(me.rss().expect("rss") > 0);
        assert!(me.peak_rss().expect("hwm") >= me.rss().expect("rss") / 2);
    }
}
