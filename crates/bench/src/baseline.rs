//! The third side of the endpoint comparison: a minimal actix-web server (the API's framework,
//! its default worker count) whose three routes make exactly the bare storage calls
//! ([`Bare::run`]) and answer `{}`. No authentication, middleware, access log, limits, item
//! mapping or JSON of ours: what any actix-web service pays to serve a request while it waits on
//! DynamoDB/S3. The API's CPU minus this server's is what Postiqo's own code adds; this
//! server's minus the bare loop's is the cost of serving HTTP around the calls.
//!
//! It runs as its own process (`postiqo-bench baseline-server …`, started by the benchmark),
//! so its CPU is read from `/proc/<pid>` like the API's and never mixes with the bare loop's.

use std::process::Stdio;
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use tokio::process::Child;

use crate::bare::{Bare, Op};
use crate::error::{Context, Result};
use crate::procfs::Proc;

/// What the server needs to make the same calls as the API for the seeded user and video.
#[derive(Debug, Clone)]
pub struct Target {
    pub table: String,
    pub bucket: String,
    pub pk: String,
    pub sk: String,
    pub user_id: String,
}

impl Target {
    fn to_args(&self, bind: &str) -> Vec<String> {
        [
            "baseline-server",
            "--bind",
            bind,
            "--table",
            &self.table,
            "--bucket",
            &self.bucket,
            "--pk",
            &self.pk,
            "--sk",
            &self.sk,
            "--user-id",
            &self.user_id,
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// Parses what [`Target::to_args`] wrote (after `baseline-server`).
    pub fn from_args(args: &[String]) -> Result<(String, Self)> {
        let value = |flag: &str| -> Result<String> {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1))
                .cloned()
                .context(&format!("baseline-server: {flag} is required"))
        };
        Ok((
            value("--bind")?,
            Self {
                table: value("--table")?,
                bucket: value("--bucket")?,
                pk: value("--pk")?,
                sk: value("--sk")?,
                user_id: value("--user-id")?,
            },
        ))
    }
}

struct Ops {
    bare: Bare,
    get: Op,
    list: Op,
    create: Op,
}

async fn call(ops: &Ops, op: &Op) -> HttpResponse {
    match ops.bare.run(op).await {
        Ok(()) => HttpResponse::Ok()
            .content_type("application/json")
            .body("{}"),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

/// `postiqo-bench baseline-server`: serves until killed.
pub fn serve(bind: String, target: Target) -> Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let bare = Bare::connect(&target.table, &target.bucket).await;
        let template = bare.item(&target.pk, &target.sk).await?;
        let ops = web::Data::new(Ops {
            bare,
            get: Op::Get {
                pk: target.pk.clone(),
                sk: target.sk.clone(),
            },
            list: Op::Query {
                pk: target.pk.clone(),
            },
            create: Op::Create {
                template,
                user_id: target.user_id.clone(),
            },
        });
        HttpServer::new(move || {
            App::new()
                .app_data(ops.clone())
                .route("/healthz", web::get().to(HttpResponse::Ok))
                .route(
                    "/v1/videos/{id}",
                    web::get().to(|o: web::Data<Ops>| async move { call(&o, &o.get).await }),
                )
                .route(
                    "/v1/videos",
                    web::get().to(|o: web::Data<Ops>| async move { call(&o, &o.list).await }),
                )
                .route(
                    "/v1/videos",
                    web::post().to(|o: web::Data<Ops>| async move { call(&o, &o.create).await }),
                )
        })
        .bind(&bind)
        .context(&format!("baseline server: bind {bind}"))?
        .run()
        .await
        .context("baseline server")
    })
}

/// The running baseline server, seen from the benchmark.
pub struct BaselineProcess {
    child: Child,
    pub proc: Proc,
    pub base_url: String,
}

impl BaselineProcess {
    /// Starts this binary as `baseline-server` on `bind` (under `wrapper`, when not empty) and
    /// waits for it to answer.
    pub async fn start(
        bind: &str,
        target: &Target,
        log: &std::path::Path,
        wrapper: &[String],
    ) -> Result<Self> {
        let exe = std::env::current_exe().context("the benchmark's own path")?;
        let out = std::fs::File::create(log).context("create baseline log")?;
        let err = out.try_clone().context("clone baseline log")?;
        let patience = if wrapper.is_empty() {
            Duration::from_secs(30)
        } else {
            Duration::from_secs(180)
        };
        let mut child = crate::api::wrapped(wrapper, exe.as_os_str())
            .args(target.to_args(bind))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .context("start the baseline server")?;
        let pid = child.id().context("baseline server has no pid")?;
        let base_url = format!("http://{bind}");
        let probe = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .context("build probe client")?;
        let started = Instant::now();
        loop {
            if let Ok(res) = probe.get(format!("{base_url}/healthz")).send().await
                && res.status().is_success()
            {
                break;
            }
            if let Some(status) = child.try_wait().context("wait for baseline server")? {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                return Err(format!("baseline server exited ({status}):\n{text}").into());
            }
            if started.elapsed() > patience {
                return Err(format!(
                    "baseline server not answering after {} s",
                    patience.as_secs()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Self {
            child,
            proc: Proc::new(pid),
            base_url,
        })
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
