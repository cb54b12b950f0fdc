//! The results as Markdown: printed to the terminal and written between the markers of
//! docs/benchmarks.md.

use std::fmt::Write as _;
use std::time::Duration;

use crate::instructions::Counted;
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
    /// The minimal actix-web server making the same calls (`baseline.rs`).
    pub baseline: Sample,
    pub bare: Sample,
    pub api_cpu: CpuSpent,
    pub baseline_cpu: CpuSpent,
    /// This process's CPU over the bare run: what the SDK calls alone cost.
    pub bare_cpu: CpuSpent,
}

impl Row {
    pub fn ratio(&self) -> f64 {
        self.api.p50.as_secs_f64() / self.bare.p50.as_secs_f64().max(1e-9)
    }

    /// The API's p50 over the minimal server's: what our code adds to the latency.
    pub fn ratio_to_baseline(&self) -> f64 {
        self.api.p50.as_secs_f64() / self.baseline.p50.as_secs_f64().max(1e-9)
    }

    pub fn api_cpu_us(&self) -> f64 {
        self.api_cpu.per_request(self.api.requests).as_secs_f64() * 1e6
    }

    pub fn baseline_cpu_us(&self) -> f64 {
        self.baseline_cpu
            .per_request(self.baseline.requests)
            .as_secs_f64()
            * 1e6
    }

    pub fn bare_cpu_us(&self) -> f64 {
        self.bare_cpu.per_request(self.bare.requests).as_secs_f64() * 1e6
    }

    /// The API's own CPU per request as issue 17 defines it: its CPU per request less what the
    /// same storage calls cost the bare SDK loop in the same run.
    pub fn own_cpu_us(&self) -> f64 {
        self.api_cpu_us() - self.bare_cpu_us()
    }

    /// What Postiqo's code adds per request: the API's CPU less the minimal server's for the
    /// same calls (negative when the API's calls are cheaper).
    pub fn ours_cpu_us(&self) -> f64 {
        self.api_cpu_us() - self.baseline_cpu_us()
    }

    /// What serving HTTP around the calls costs any actix-web server: minimal server − bare.
    pub fn serving_cpu_us(&self) -> f64 {
        self.baseline_cpu_us() - self.bare_cpu_us()
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
    /// Instructions per request under callgrind; `None` when valgrind was missing.
    pub counted: Option<Vec<Counted>>,
    pub ready: Vec<Duration>,
    pub idle_rss: u64,
    pub idle_peak_rss: u64,
    pub connections: Connections,
    pub uploads: Vec<UploadResult>,
    /// The API's CPU per second of wall time while nothing calls it (its timers), measured just
    /// before the uploads.
    pub idle_cpu_per_s: Duration,
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

    /// The worst endpoint's CPU beyond the minimal server's, in µs.
    pub fn max_ours_cpu_us(&self) -> f64 {
        self.rows
            .iter()
            .map(Row::ours_cpu_us)
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// What the flow cost the API beyond its idle timers over the same wall time.
    pub fn upload_net_cpu(&self, u: &UploadResult) -> Duration {
        u.api_cpu
            .sched
            .saturating_sub(self.idle_cpu_per_s.mul_f64(u.took.as_secs_f64()))
    }

    pub fn uploads_flat(&self) -> Option<(f64, u64, bool)> {
        let first = self.uploads.first()?;
        let last = self.uploads.last()?;
        let cpu_factor = self.upload_net_cpu(last).as_secs_f64()
            / self.upload_net_cpu(first).as_secs_f64().max(1e-9);
        let rss_growth = last.peak_rss.saturating_sub(first.peak_rss);
        Some((
            cpu_factor,
            rss_growth,
            cpu_factor <= FLAT_CPU_FACTOR && rss_growth <= FLAT_RSS_SLACK,
        ))
    }

    fn counted_markdown(&self, s: &mut String) {
        let Some(counted) = &self.counted else {
            let _ = writeln!(
                s,
                "\nInstructions per request: not counted in this run (valgrind is not installed).\n"
            );
            return;
        };
        let requests = counted.first().map_or(0, |c| c.requests);
        let _ = writeln!(
            s,
            "\nInstructions per request, counted by valgrind's callgrind (1 client, {requests} requests per endpoint after a warm-up, one process driven at a time; `crates/bench/src/instructions.rs`). Unlike CPU time, the machine's load does not move this count, so what Postiqo's code adds can be compared between commits; it leaves out the kernel (system calls, scheduling) and counts a cache miss like any other instruction.\n"
        );
        let _ = writeln!(
            s,
            "| endpoint | API | minimal server | Postiqo's code (API − minimal) | its share of the API's |"
        );
        let _ = writeln!(s, "|---|--:|--:|--:|--:|");
        for c in counted {
            let _ = writeln!(
                s,
                "| `{}` | {:.1} k | {:.1} k | {:.1} k | {:.0} % |",
                c.endpoint,
                c.api / 1e3,
                c.minimal / 1e3,
                c.ours() / 1e3,
                100.0 * c.ours() / c.api.max(1.0),
            );
        }
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
            "Three sides in one run, alternated: the API; a minimal actix-web server whose route makes the same storage calls and answers `{{}}` (no auth, middleware, access log or JSON of ours; `crates/bench/src/baseline.rs`); and a bare SDK loop. Overhead ratio = API p50 / bare SDK p50 (target ≤ {MAX_RATIO}).\n"
        );
        let _ = writeln!(
            s,
            "| endpoint | clients | API req/s | API p50 | API p99 | minimal server p50 | bare SDK operation | bare req/s | bare p50 | bare p99 | ratio | target | API / minimal server |"
        );
        let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|---|--:|");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| `{}` | {} | {:.0} | {} | {} | {} | {} | {:.0} | {} | {} | {:.2} | {} | {:.2} |",
                r.endpoint,
                r.clients,
                r.api.rps,
                ms(r.api.p50),
                ms(r.api.p99),
                ms(r.baseline.p50),
                r.bare_op,
                r.bare.rps,
                ms(r.bare.p50),
                ms(r.bare.p99),
                r.ratio(),
                verdict(r.ratio() <= MAX_RATIO),
                r.ratio_to_baseline(),
            );
        }
        let _ = writeln!(
            s,
            "\nCPU per request: each process's utime+stime over its runs divided by their requests (the bare side: this benchmark process over the bare runs). The API's own CPU as issue 17 defines it is API − bare SDK (target ≤ {}); it splits into what serving HTTP around the calls costs any actix-web server (minimal server − bare) and what Postiqo's code adds (API − minimal server).\n",
            us(MAX_CPU_PER_REQUEST)
        );
        let _ = writeln!(
            s,
            "| endpoint | clients | API | minimal server | bare SDK | API − bare (issue 17) | target | of which serving HTTP (minimal − bare) | of which Postiqo's code (API − minimal) |"
        );
        let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|---|--:|--:|");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| `{}` | {} | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} µs | {} | {:.0} µs | {:.0} µs |",
                r.endpoint,
                r.clients,
                r.api_cpu_us(),
                r.baseline_cpu_us(),
                r.bare_cpu_us(),
                r.own_cpu_us(),
                verdict(r.own_cpu_us() <= MAX_CPU_PER_REQUEST.as_secs_f64() * 1e6),
                r.serving_cpu_us(),
                r.ours_cpu_us(),
            );
        }

        self.counted_markdown(&mut s);

        let _ = writeln!(s, "\n### 2. The API process\n");
        let _ = writeln!(s, "| measure | value | target | |\n|---|---|---|---|");
        let own = self.max_own_cpu_us();
        let _ = writeln!(
            s,
            "| the API's own CPU per request (API − bare SDK), worst endpoint above | {own:.0} µs | ≤ {} | {} |",
            us(MAX_CPU_PER_REQUEST),
            verdict(own <= MAX_CPU_PER_REQUEST.as_secs_f64() * 1e6)
        );
        let ours = self.max_ours_cpu_us();
        let _ = writeln!(
            s,
            "| of that, Postiqo's code (API − minimal actix-web server making the same calls), worst endpoint | {ours:.0} µs | ≤ {} | {} |",
            us(MAX_CPU_PER_REQUEST),
            verdict(ours <= MAX_CPU_PER_REQUEST.as_secs_f64() * 1e6)
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
            "create → PUT the bytes to S3 (parts 4 at a time) → upload-complete. API CPU is the API's CPU time (per-thread schedstat, ns), for the whole flow and for its three parts; during the PUTs the API is not called (the bytes go to S3) and runs only its timers. The API's idle CPU, measured just before: {:.0} µs per second. Net = the whole flow less that idle rate over the flow's wall time: what the upload cost the API. Peak RSS is VmHWM, reset before each flow.\n",
            self.idle_cpu_per_s.as_secs_f64() * 1e6
        );
        let _ = writeln!(
            s,
            "| size | upload | API CPU, whole flow | create | during the PUTs | upload-complete (its wall time) | flow wall time | net of idle | API RSS after | API peak RSS | PUTs to S3 |\n|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
        );
        let msf = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
        for u in &self.uploads {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} ({:.2} s) | {:.2} s | {} | {:.1} MiB | {:.1} MiB | {:.2} s, {:.0} MiB/s |",
                size_label(u.size),
                if u.parts == 0 {
                    "single PUT".to_owned()
                } else {
                    format!("multipart, {} parts", u.parts)
                },
                msf(u.api_cpu.sched),
                msf(u.create_cpu.sched),
                msf(u.transfer_cpu.sched),
                msf(u.complete_cpu.sched),
                u.complete_took.as_secs_f64(),
                u.took.as_secs_f64(),
                msf(self.upload_net_cpu(u)),
                mib(u.rss_after),
                mib(u.peak_rss),
                u.transfer.as_secs_f64(),
                mib(u.size) / u.transfer.as_secs_f64().max(1e-9),
            );
        }
        if let Some((factor, growth, ok)) = self.uploads_flat() {
            let _ = writeln!(
                s,
                "\nFlat from {} to {}: net CPU ×{:.2} (target ≤ ×{FLAT_CPU_FACTOR}; whole flow ×{:.2}), peak RSS +{:.1} MiB (target ≤ +{:.0} MiB): {}.",
                self.uploads
                    .first()
                    .map(|u| size_label(u.size))
                    .unwrap_or_default(),
                self.uploads
                    .last()
                    .map(|u| size_label(u.size))
                    .unwrap_or_default(),
                factor,
                match (self.uploads.first(), self.uploads.last()) {
                    (Some(a), Some(b)) => {
                        b.api_cpu.sched.as_secs_f64() / a.api_cpu.sched.as_secs_f64().max(1e-9)
                    }
                    _ => 0.0,
                },
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
