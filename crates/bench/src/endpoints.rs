//! Section 1: each endpoint against the same storage calls, made three ways in one run: by the
//! API, by a minimal actix-web server ([`crate::baseline`]) and by a bare SDK loop in this
//! process ([`crate::bare`]), at 1 and 64 clients.

use std::sync::Arc;

use crate::api::check;
use crate::bare::{Bare, Op, measure};
use crate::baseline::BaselineProcess;
use crate::error::Result;
use crate::oha::{Load, Oha};
use crate::perf;
use crate::procfs::{CpuSpent, Proc};
use crate::profile::Profile;
use crate::report::Row;
use crate::stats;

/// One endpoint and the storage calls it stands for.
pub struct Case {
    pub endpoint: &'static str,
    pub bare_op: &'static str,
    pub method: &'static str,
    pub path: String,
    pub body: Option<String>,
    pub op: Op,
}

/// Who is measured, and with what.
pub struct Sides<'a> {
    pub profile: &'a Profile,
    pub oha: &'a Oha,
    pub http: &'a reqwest::Client,
    pub token: &'a str,
    pub api_base: &'a str,
    pub api: &'a Proc,
    pub baseline: &'a BaselineProcess,
    pub bare: Arc<Bare>,
}

pub async fn compare(sides: &Sides<'_>, cases: Vec<Case>) -> Result<Vec<Row>> {
    let profile = sides.profile;
    let me = Proc::new(std::process::id());
    let mut rows = Vec::new();
    for case in cases {
        let api_url = format!("{}{}", sides.api_base, case.path);
        let base_url = format!("{}{}", sides.baseline.base_url, case.path);
        for url in [&api_url, &base_url] {
            check(
                sides.http,
                case.method,
                url,
                sides.token,
                case.body.as_deref(),
            )
            .await?;
        }
        let op = Arc::new(case.op);
        sides.bare.run(&op).await?;
        for (clients, requests) in [(1, profile.requests_1), (64, profile.requests_64)] {
            crate::step(&format!(
                "{} vs. a minimal server vs. {} — {clients} client(s), {requests} requests each",
                case.endpoint, case.bare_op
            ));
            let load = |url: &str, requests| Load {
                method: case.method,
                url: url.to_owned(),
                json_body: case.body.clone(),
                token: sides.token.to_owned(),
                requests,
                concurrency: clients,
            };
            let bare_run = |requests| {
                measure(
                    sides.bare.clone(),
                    op.clone(),
                    requests,
                    clients,
                    profile.run_limit,
                )
            };
            let warm = profile.warmup.max(clients);
            sides
                .oha
                .run(&load(&api_url, warm), profile.run_limit)
                .await?;
            sides
                .oha
                .run(&load(&base_url, warm), profile.run_limit)
                .await?;
            bare_run(profile.warmup).await?;

            // Alternate the three sides so that whatever else the machine is doing falls on
            // all of them alike; each side's numbers are the medians over the rounds.
            let per_round = (requests / profile.rounds).max(clients);
            let (mut api_rounds, mut base_rounds, mut bare_rounds) =
                (Vec::new(), Vec::new(), Vec::new());
            let (mut api_cpu, mut base_cpu, mut bare_cpu) = (
                CpuSpent::default(),
                CpuSpent::default(),
                CpuSpent::default(),
            );
            for _ in 0..profile.rounds {
                let before = sides.api.cpu()?;
                api_rounds.push(
                    sides
                        .oha
                        .run(&load(&api_url, per_round), profile.run_limit)
                        .await?,
                );
                api_cpu += sides.api.cpu()?.since(&before, sides.api.clock_ticks());
                let base = &sides.baseline.proc;
                let before = base.cpu()?;
                base_rounds.push(
                    sides
                        .oha
                        .run(&load(&base_url, per_round), profile.run_limit)
                        .await?,
                );
                base_cpu += base.cpu()?.since(&before, base.clock_ticks());
                let before = me.cpu()?;
                bare_rounds.push(bare_run(per_round).await?);
                bare_cpu += me.cpu()?.since(&before, me.clock_ticks());
            }
            // Profiles of one more run of each side, outside the measured rounds.
            if let Some(dir) = perf::dir() {
                let name = perf::slug(case.endpoint, clients);
                for (who, pid, url) in [
                    ("api", sides.api.pid(), &api_url),
                    ("baseline", sides.baseline.proc.pid(), &base_url),
                ] {
                    let rec = perf::start(&dir, &format!("{who}-{name}"), pid).await?;
                    sides
                        .oha
                        .run(&load(url, per_round), profile.run_limit)
                        .await?;
                    rec.stop().await?;
                }
                let rec = perf::start(&dir, &format!("bare-{name}"), std::process::id()).await?;
                bare_run(per_round).await?;
                rec.stop().await?;
            }
            let row = Row {
                endpoint: case.endpoint,
                bare_op: case.bare_op,
                clients,
                api: stats::combine(&api_rounds),
                baseline: stats::combine(&base_rounds),
                bare: stats::combine(&bare_rounds),
                api_cpu,
                baseline_cpu: base_cpu,
                bare_cpu,
            };
            eprintln!(
                "    p50: API {:.2} ms ({:.0}/s) | minimal server {:.2} ms ({:.0}/s) | bare {:.2} ms ({:.0}/s) | ratio {:.2}",
                row.api.p50.as_secs_f64() * 1e3,
                row.api.rps,
                row.baseline.p50.as_secs_f64() * 1e3,
                row.baseline.rps,
                row.bare.p50.as_secs_f64() * 1e3,
                row.bare.rps,
                row.ratio(),
            );
            eprintln!(
                "    CPU/request: API {:.0} µs | minimal server {:.0} µs | bare {:.0} µs",
                row.api_cpu_us(),
                row.baseline_cpu_us(),
                row.bare_cpu_us(),
            );
            rows.push(row);
        }
    }
    Ok(rows)
}
