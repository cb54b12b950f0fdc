//! The results as Markdown: printed to the terminal and written between the markers of
//! docs/benchmarks.md.

use std::fmt::Write as _;
use std::time::Duration;

use crate::procfs::{CpuSpent, mib};
use crate::stats::{Sample, median};
use crate::uploads::UploadResult;

pub const BEGIN: &str =
    "<!-- results:begin (written by scripts/bench; edits here are overwritten) -->";
pub const END: &str = "<!-- results:end -->";

/// The targets of issue 7.
pub const MAX_RATIO: f64 = 1.25;
pub const MAX_CPU_PER_REQUEST: Duration = Duration::from_micros(100);
pub const MAX_RSS_256: u64 = 40 * 1024 * 1024;
pub const MAX_READY: Duration = Duration::from_millis(500);
/// "Flat" for uploads: the largest size may cost at most this many times the smallest's CPU,
/// and its peak RSS at most `FLAT_RSS_SLACK` more, while the bytes grow 1024-fold.
pub const FLAT_CPU_FACTOR: f64 = 2.0;
pub const FLAT_RSS_SLACK: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Meta {
    pub date: String,
    pub commit: String,
    pub command: String,
    pub machine: String,
    pub storage: String,
    pub load_generator: String,
    pub auth: String,
    pub profile: String,
}

#[derive(Debug, Clone)]
pub struct Row {
    pub endpoint: &'static str,
    pub bare_op: &'static str,
    pub clients: u64,
    pub api: Sample,
    pub bare: Sample,
    pub api_cpu: CpuSpent,
    /// This process's CPU over the bare run: what the SDK calls alone cost.
    pub bare_cpu: CpuSpent,
}

impl Row {
    pub fn ratio(&self) -> f64 {
        self.api.p50.as_secs_f64() / self.bare.p50.as_secs_f64().max(1e-9)
    }

    /// The API's own CPU per request: its CPU per request less what the same storage calls
    /// cost the bare SDK client in the same run (negative when the API's calls are cheaper).
    pub fn own_cpu_us(&self) -> f64 {
        (self.api_cpu.per_request(self.api.requests).as_secs_f64()
            - self.bare_cpu.per_request(self.bare.requests).as_secs_f64())
            * 1e6
    }
}

#[derive(Debug, Clone)]
pub struct Connections {
    pub clients: u64,
    pub sample: Sample,
    pub max_rss: u64,
    pub peak_rss: u64,
    pub max_sockets: usize,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub meta: Meta,
    pub rows: Vec<Row>,
    pub ready: Vec<Duration>,
    pub idle_rss: u64,
    pub idle_peak_rss: u64,
    pub connections: Connections,
    pub uploads: Vec<UploadResult>,
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

fn size_label(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes.is_multiple_of(1 << 30) {
        format!("{} GiB", bytes >> 30)
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

impl Report {
    /// The worst endpoint's own CPU per request, in µs.
    pub fn max_own_cpu_us(&self) -> f64 {
        self.rows
            .iter()
            .map(Row::own_cpu_us)
            .fold(f64::NEG_INFINITY, f64::max)
    }

    pub fn uploads_flat(&self) -> Option<(f64, u64, bool)> {
        let first = self.uploads.first()?;
        let last = self.uploads.last()?;
        let cpu_factor =
            last.api_cpu.sched.as_secs_f64() / first.api_cpu.sched.as_secs_f64().max(1e-9);
        let rss_growth = last.peak_rss.saturating_sub(first.peak_rss);
        Some((
            cpu_factor,
            rss_growth,
            cpu_factor <= FLAT_CPU_FACTOR && rss_growth <= FLAT_RSS_SLACK,
        ))
    }

    pub fn markdown(&self) -> String {
        let m = &self.meta;
        let mut s = String::new();
        let _ = writeln!(s, "### Run\n");
        let _ = writeln!(s, "| | |\n|---|---|");
        for (k, v) in [
            ("date", &m.date),
            ("commit", &m.commit),
            ("command", &format!("`{}`", m.command)),
            ("machine", &m.machine),
            ("storage", &m.storage),
            ("load generator", &m.load_generator),
            ("access token", &m.auth),
            ("profile", &m.profile),
        ] {
            let _ = writeln!(s, "| {k} | {v} |");
        }

        let _ = writeln!(
            s,
            "\n### 1. Endpoint vs. the same storage calls made directly\n"
        );
        let _ = writeln!(
            s,
            "Overhead ratio = API p50 / bare SDK p50 (target ≤ {MAX_RATIO}). API CPU/request is the API process's utime+stime over the API run divided by its requests; bare SDK CPU/op is the same for the benchmark process over the bare run (the SDK calls alone); the API's own CPU/request is the difference (target ≤ {}).\n",
            us(MAX_CPU_PER_REQUEST)
        );
        let _ = writeln!(
            s,
            "| endpoint | clients | API req/s | API p50 | API p99 | bare SDK operation | bare req/s | bare p50 | bare p99 | ratio | target | API CPU/request | bare SDK CPU/op | API's own CPU/request | target |"
        );
        let _ = writeln!(
            s,
            "|---|--:|--:|--:|--:|---|--:|--:|--:|--:|---|--:|--:|--:|---|"
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| `{}` | {} | {:.0} | {} | {} | {} | {:.0} | {} | {} | {:.2} | {} | {} | {} | {:.0} µs | {} |",
                r.endpoint,
                r.clients,
                r.api.rps,
                ms(r.api.p50),
                ms(r.api.p99),
                r.bare_op,
                r.bare.rps,
                ms(r.bare.p50),
                ms(r.bare.p99),
                r.ratio(),
                verdict(r.ratio() <= MAX_RATIO),
                us(r.api_cpu.per_request(r.api.requests)),
                us(r.bare_cpu.per_request(r.bare.requests)),
                r.own_cpu_us(),
                verdict(r.own_cpu_us() <= MAX_CPU_PER_REQUEST.as_secs_f64() * 1e6),
            );
        }

        let _ = writeln!(s, "\n### 2. The API process\n");
        let _ = writeln!(s, "| measure | value | target | |\n|---|---|---|---|");
        let own = self.max_own_cpu_us();
        let _ = writeln!(
            s,
            "| the API's own CPU per request (API − bare SDK), worst endpoint above | {own:.0} µs | ≤ {} | {} |",
            us(MAX_CPU_PER_REQUEST),
            verdict(own <= MAX_CPU_PER_REQUEST.as_secs_f64() * 1e6)
        );
        let _ = writeln!(
            s,
            "| RSS at idle (after start-up and `/readyz`) | VmRSS {:.1} MiB, VmHWM {:.1} MiB | | |",
            mib(self.idle_rss),
            mib(self.idle_peak_rss)
        );
        let c = &self.connections;
        let _ = writeln!(
            s,
            "| RSS under {} open connections (`GET /v1/videos/{{id}}`, {} requests, {:.0} req/s, p99 {}) | peak VmHWM {:.1} MiB (highest sampled VmRSS {:.1} MiB, up to {} sockets open) | ≤ {:.0} MiB | {} |",
            c.clients,
            c.sample.requests,
            c.sample.rps,
            ms(c.sample.p99),
            mib(c.peak_rss),
            mib(c.max_rss),
            c.max_sockets,
            mib(MAX_RSS_256),
            verdict(c.peak_rss <= MAX_RSS_256)
        );
        let ready = median(self.ready.clone());
        let worst = self.ready.iter().max().copied().unwrap_or_default();
        let _ = writeln!(
            s,
            "| start → `/readyz` 200 ({} starts) | median {}, worst {} | ≤ {} | {} |",
            self.ready.len(),
            ms(ready),
            ms(worst),
            ms(MAX_READY),
            verdict(worst <= MAX_READY)
        );

        let _ = writeln!(s, "\n### 3. Uploads through the presigned flow\n");
        let _ = writeln!(
            s,
            "create → PUT the bytes to S3 (parts 4 at a time) → upload-complete. API CPU is the API's whole CPU time for the flow (per-thread schedstat, ns; `/proc/<pid>/stat` ticks in brackets); peak RSS is VmHWM, reset before each flow.\n"
        );
        let _ = writeln!(
            s,
            "| size | upload | API CPU for the flow | API RSS after | API peak RSS | PUTs to S3 |\n|--:|---|--:|--:|--:|--:|"
        );
        for u in &self.uploads {
            let _ = writeln!(
                s,
                "| {} | {} | {:.2} ms ({:.0} ms) | {:.1} MiB | {:.1} MiB | {:.2} s, {:.0} MiB/s |",
                size_label(u.size),
                if u.parts == 0 {
                    "single PUT".to_owned()
                } else {
                    format!("multipart, {} parts", u.parts)
                },
                u.api_cpu.sched.as_secs_f64() * 1000.0,
                u.api_cpu.stat.as_secs_f64() * 1000.0,
                mib(u.rss_after),
                mib(u.peak_rss),
                u.transfer.as_secs_f64(),
                mib(u.size) / u.transfer.as_secs_f64().max(1e-9),
            );
        }
        if let Some((factor, growth, ok)) = self.uploads_flat() {
            let _ = writeln!(
                s,
                "\nFlat from {} to {}: CPU ×{:.2} (target ≤ ×{FLAT_CPU_FACTOR}), peak RSS +{:.1} MiB (target ≤ +{:.0} MiB): {}.",
                self.uploads
                    .first()
                    .map(|u| size_label(u.size))
                    .unwrap_or_default(),
                self.uploads
                    .last()
                    .map(|u| size_label(u.size))
                    .unwrap_or_default(),
                factor,
                mib(growth),
                mib(FLAT_RSS_SLACK),
                verdict(ok)
            );
        }
        s
    }
}

/// Replaces the text between the markers of `doc` with `block` (appends both if missing).
pub fn splice(doc: &str, block: &str) -> String {
    match (doc.find(BEGIN), doc.find(END)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{BEGIN}\n\n{block}\n{}", &doc[..b], &doc[e..])
        }
        _ => format!("{}\n{BEGIN}\n\n{block}\n{END}\n", doc.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_only_the_results() {
        let doc = format!("intro\n{BEGIN}\nold\n{END}\nfindings\n");
        let out = splice(&doc, "new\n");
        assert_eq!(out, format!("intro\n{BEGIN}\n\nnew\n\n{END}\nfindings\n"));
        let appended = splice("intro\n", "new\n");
        assert!(appended.starts_with("intro\n"));
        assert!(appended.contains(BEGIN) && appended.ends_with(&format!("{END}\n")));
    }

    #[test]
    fn sizes_are_labelled() {
        assert_eq!(size_label(1 << 20), "1 MiB");
        assert_eq!(size_label(100 << 20), "100 MiB");
        assert_eq!(size_label(1 << 30), "1 GiB");
    }
}
