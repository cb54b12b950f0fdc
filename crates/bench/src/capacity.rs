//! What whole flows cost in DynamoDB capacity and S3 requests (docs/capacity.md).
//!
//! An API process started with `POSTIQO_METRICS_DYNAMODB_CAPACITY=on` records the capacity
//! units every DynamoDB call consumed and counts its S3 calls; each flow here is bracketed by
//! two scrapes of its `/metrics`, and the difference is the flow's bill. S3 requests the client
//! sends itself with presigned URLs (the bytes of an upload) never reach the API and are
//! counted here.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::create_video;
use crate::auth::{AuthConfig, access_token};
use crate::error::{Context, Result};
use crate::procfs::Proc;
use crate::profile::MIB;
use crate::scrape::Scrape;
use crate::uploads;

const CAPACITY_SUM: &str = "postiqo_dynamodb_consumed_capacity_units_sum";
const STORAGE_CALLS: &str = "postiqo_storage_calls_total";
const PUBLISHES: &str = "postiqo_publishes_total";

/// One flow's bill.
#[derive(Debug, Clone, Default)]
pub struct FlowCost {
    pub name: String,
    /// (operation, read|write, table|index) → units.
    pub units: BTreeMap<(String, String, String), f64>,
    /// DynamoDB and S3 calls the API made, by operation (`dynamodb.PutItem`, `s3.HeadObject`).
    pub calls: BTreeMap<String, f64>,
    /// S3 requests the client sent itself with presigned URLs, by operation.
    pub client_s3: BTreeMap<String, f64>,
    pub took: Duration,
    /// Whatever the reader needs to know about this flow.
    pub note: String,
}

impl FlowCost {
    fn between(name: &str, before: &Scrape, after: &Scrape, took: Duration) -> Self {
        let mut units = BTreeMap::new();
        for (l, d) in after.moved(before, CAPACITY_SUM) {
            let key = (
                l.get("operation").cloned().unwrap_or_default(),
                l.get("capacity").cloned().unwrap_or_default(),
                l.get("index").cloned().unwrap_or_default(),
            );
            *units.entry(key).or_insert(0.0) += d;
        }
        let mut calls = BTreeMap::new();
        for (l, d) in after.moved(before, STORAGE_CALLS) {
            *calls
                .entry(l.get("operation").cloned().unwrap_or_default())
                .or_insert(0.0) += d;
        }
        Self {
            name: name.to_owned(),
            units,
            calls,
            took,
            ..Self::default()
        }
    }

    pub fn units_of(&self, kind: &str) -> f64 {
        self.units
            .iter()
            .filter(|((_, k, _), _)| k == kind)
            .map(|(_, u)| u)
            .sum()
    }

    /// Units of `kind` on one table or index.
    pub fn units_on(&self, kind: &str, index: &str) -> f64 {
        self.units
            .iter()
            .filter(|((_, k, i), _)| k == kind && i == index)
            .map(|(_, u)| u)
            .sum()
    }

    pub fn dynamodb_calls(&self) -> f64 {
        self.calls
            .iter()
            .filter(|(op, _)| op.starts_with("dynamodb."))
            .map(|(_, n)| n)
            .sum()
    }

    /// S3 requests by operation, the API's and the client's together.
    pub fn s3_requests(&self) -> BTreeMap<String, f64> {
        let mut out: BTreeMap<String, f64> = self
            .calls
            .iter()
            .filter_map(|(op, n)| op.strip_prefix("s3.").map(|o| (o.to_owned(), *n)))
            .collect();
        for (op, n) in &self.client_s3 {
            *out.entry(format!("{op} (client)")).or_insert(0.0) += n;
        }
        out
    }

    /// Scaled by `factor` (the idle worker: seconds measured → an hour).
    fn scaled(mut self, factor: f64) -> Self {
        for u in self.units.values_mut() {
            *u *= factor;
        }
        for n in self.calls.values_mut() {
            *n *= factor;
        }
        self
    }
}

/// Where the capacity-recording API and its helpers are.
pub struct Ctx<'a> {
    pub http: &'a reqwest::Client,
    pub base: &'a str,
    pub metrics_url: &'a str,
    pub sandbox_url: &'a str,
    pub auth: &'a AuthConfig,
    pub api: &'a Proc,
    pub idle: Duration,
    pub big_upload: u64,
    pub list_seed: usize,
}

impl Ctx<'_> {
    async fn scrape(&self) -> Result<Scrape> {
        Scrape::fetch(self.http, self.metrics_url).await
    }

    async fn sandbox_settings(&self, patch: Value) -> Result<()> {
        let res = self
            .http
            .patch(format!("{}/_sandbox/settings", self.sandbox_url))
            .json(&patch)
            .send()
            .await
            .context("PATCH sandbox settings")?;
        if !res.status().is_success() {
            return Err(format!("PATCH sandbox settings: {}", res.status()).into());
        }
        Ok(())
    }

    /// Publishes `video` privately and waits until the API counted it PUBLISHED (watching
    /// `/metrics`, so the wait itself reads nothing from DynamoDB).
    async fn publish(&self, token: &str, video: &str) -> Result<()> {
        let published = |s: &Scrape| s.sum(PUBLISHES, &[("outcome", "published")]);
        let before = published(&self.scrape().await?);
        let body = json!({"privacy_level": "SELF_ONLY", "disable_comment": false,
            "disable_duet": false, "disable_stitch": false, "brand_content_toggle": false,
            "brand_organic_toggle": false, "is_aigc": false});
        let res = self
            .http
            .post(format!("{}/v1/videos/{video}/publish", self.base))
            .bearer_auth(token)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&body)
            .send()
            .await
            .context("POST publish")?;
        let status = res.status();
        let answer: Value = res.json().await.context("publish answer")?;
        if status != reqwest::StatusCode::ACCEPTED || answer["status"] != "PUBLISHING" {
            return Err(format!("publish: {status}: {answer}").into());
        }
        let deadline = Instant::now() + Duration::from_secs(90);
        while published(&self.scrape().await?) <= before {
            if Instant::now() > deadline {
                return Err("the publish did not reach PUBLISHED within 90 s".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Let the job's last writes and late webhooks (TikTok sends more than one) land.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Ok(())
    }
}

/// Runs `f` between two scrapes.
async fn measured<F, T>(ctx: &Ctx<'_>, name: &str, f: F) -> Result<(FlowCost, T)>
where
    F: std::future::Future<Output = Result<T>>,
{
    let before = ctx.scrape().await?;
    let started = Instant::now();
    let out = f.await?;
    let took = started.elapsed();
    let after = ctx.scrape().await?;
    eprintln!("    {name}: {:.1} s", took.as_secs_f64());
    Ok((FlowCost::between(name, &before, &after, took), out))
}

fn client_puts(u: &uploads::UploadResult) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    if u.parts == 0 {
        m.insert("PutObject".to_owned(), 1.0);
    } else {
        m.insert("UploadPart".to_owned(), u.parts as f64);
    }
    m
}

pub async fn run(ctx: &Ctx<'_>) -> Result<Vec<FlowCost>> {
    let mut flows = Vec::new();

    // The worker alone, before any job exists: what an idle instance costs per hour.
    let (idle, ()) = measured(ctx, "idle worker", async {
        tokio::time::sleep(ctx.idle).await;
        Ok(())
    })
    .await?;
    let secs = idle.took.as_secs_f64().max(1e-9);
    let mut idle = idle.scaled(3600.0 / secs);
    idle.name = "idle worker, per hour (one instance)".to_owned();
    idle.note = format!("measured over {secs:.0} s, scaled to an hour");
    idle.took = Duration::from_secs(3600);

    // A creator new to Postiqo, then the same creator again.
    let username = format!("bench_cap_{}", chrono::Utc::now().timestamp_millis());
    let (mut first, _) = measured(
        ctx,
        "sign-in, new creator",
        access_token(ctx.auth, &username),
    )
    .await?;
    first.note = "login → TikTok consent → callback → token exchange".to_owned();
    flows.push(first);
    let (mut again, session) = measured(
        ctx,
        "sign-in, returning creator",
        access_token(ctx.auth, &username),
    )
    .await?;
    again.note = "the same, for a creator with an account".to_owned();
    flows.push(again);
    let token = session.token;

    let mut uploaded = Vec::new();
    for size in [MIB, ctx.big_upload] {
        let name = format!(
            "create + upload + complete, {}",
            if size >= 1 << 30 {
                format!("{} GiB", size >> 30)
            } else {
                format!("{} MiB", size >> 20)
            }
        );
        let (mut flow, u) = measured(
            ctx,
            &name,
            uploads::upload(ctx.http, ctx.base, &token, ctx.api, size),
        )
        .await?;
        flow.client_s3 = client_puts(&u);
        flow.note = if u.parts == 0 {
            "one presigned PUT".to_owned()
        } else {
            format!("{} presigned parts", u.parts)
        };
        flows.push(flow);
        uploaded.push(u.id);
    }

    // Publishing: TikTok pulls the bytes through the API's media route. First with no
    // webhooks, so the worker's status polls take it to PUBLISHED; then with TikTok's webhooks.
    ctx.sandbox_settings(json!({"webhook_url": ""})).await?;
    let video = uploaded.first().context("no uploaded video")?.clone();
    let (mut polled, ()) = measured(
        ctx,
        "publish → PUBLISHED, by polling",
        ctx.publish(&token, &video),
    )
    .await?;
    polled.note = "1 MiB, private; no webhooks: the worker polls TikTok's status".to_owned();
    flows.push(polled);

    let extra = uploads::upload(ctx.http, ctx.base, &token, ctx.api, MIB).await?;
    ctx.sandbox_settings(json!({"webhook_url": format!("{}/v1/webhooks/tiktok", ctx.base)}))
        .await?;
    let (mut hooked, ()) = measured(
        ctx,
        "publish → PUBLISHED, by webhook",
        ctx.publish(&token, &extra.id),
    )
    .await?;
    hooked.note = "1 MiB, private; TikTok's webhooks report the outcome".to_owned();
    flows.push(hooked);
    ctx.sandbox_settings(json!({"webhook_url": ""})).await?;

    // A full first page of the list.
    for i in 0..ctx.list_seed {
        create_video(ctx.http, ctx.base, &token, &format!("list {i}"), MIB).await?;
    }
    let (mut list, ()) = measured(ctx, "list, one page of 20", async {
        let res = ctx
            .http
            .get(format!("{}/v1/videos?limit=20", ctx.base))
            .bearer_auth(&token)
            .send()
            .await
            .context("GET /v1/videos")?;
        let body: Value = res.json().await.context("list body")?;
        let n = body["items"].as_array().map_or(0, Vec::len);
        if n != 20 {
            return Err(format!("the list page has {n} videos, not 20: {body}").into());
        }
        Ok(())
    })
    .await?;
    list.note = "`GET /v1/videos?limit=20`".to_owned();
    flows.push(list);

    let videos = ctx.list_seed + 3;
    let (mut export, ()) = measured(ctx, "export", async {
        let res = ctx
            .http
            .get(format!("{}/v1/me/export", ctx.base))
            .bearer_auth(&token)
            .send()
            .await
            .context("GET /v1/me/export")?;
        let status = res.status();
        let body = res.text().await.context("export body")?;
        if !status.is_success() {
            return Err(format!("export: {status}: {body}").into());
        }
        Ok(())
    })
    .await?;
    export.note = format!("an account with {videos} videos and 2 sessions");
    flows.push(export);

    let (mut deletion, ()) = measured(ctx, "account deletion", async {
        let res = ctx
            .http
            .delete(format!("{}/v1/me", ctx.base))
            .bearer_auth(&token)
            .send()
            .await
            .context("DELETE /v1/me")?;
        let status = res.status();
        if !status.is_success() {
            let body = res.text().await.unwrap_or_default();
            return Err(format!("account deletion: {status}: {body}").into());
        }
        Ok(())
    })
    .await?;
    deletion.note = format!("the same account: {videos} videos (4 uploaded), 2 sessions");
    flows.push(deletion);

    flows.push(idle);
    Ok(flows)
}
