//! The presigned upload flow end to end: create → PUT the bytes straight to S3 (one request,
//! or parts four at a time) → upload-complete, with the API's CPU and memory around it.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};

use crate::api::create_video;
use crate::error::{Context, Result};
use crate::procfs::{CpuSpent, Proc};

#[derive(Debug, Clone)]
pub struct UploadResult {
    /// The video uploaded (now `UPLOADED`).
    pub id: String,
    pub size: u64,
    /// 0 for a single PUT.
    pub parts: usize,
    /// The API's CPU time for the whole flow (create + complete; the PUTs do not reach it).
    pub api_cpu: CpuSpent,
    /// Its parts: `POST /v1/videos`, the PUTs to S3 (the API is idle then), upload-complete.
    pub create_cpu: CpuSpent,
    pub transfer_cpu: CpuSpent,
    pub complete_cpu: CpuSpent,
    /// Wall time of the whole flow, and of upload-complete alone.
    pub took: Duration,
    pub complete_took: Duration,
    pub rss_after: u64,
    /// VmHWM during the flow (reset just before it).
    pub peak_rss: u64,
    /// Wall time of the PUTs to S3.
    pub transfer: Duration,
}

/// A well-formed MP4 of `len` bytes, so upload-complete's container checks pass.
fn mp4_bytes(len: usize) -> Bytes {
    Bytes::from(postiqo_media_probe::sample::mp4(len))
}

fn presigned(http: &reqwest::Client, req: &Value, body: Bytes) -> Result<reqwest::RequestBuilder> {
    let method = req["method"].as_str().unwrap_or("PUT");
    let url = req["url"]
        .as_str()
        .context("presigned request without url")?;
    if !url.starts_with("http://127.0.0.1:") {
        return Err(format!("presigned URL is not on 127.0.0.1: {url}").into());
    }
    let mut builder = http.request(
        reqwest::Method::from_bytes(method.as_bytes()).context("presigned method")?,
        url,
    );
    if let Some(headers) = req["headers"].as_object() {
        for (k, v) in headers {
            // reqwest sets Content-Length from the body.
            if !k.eq_ignore_ascii_case("content-length") {
                builder = builder.header(k, v.as_str().unwrap_or_default());
            }
        }
    }
    Ok(builder.body(body))
}

async fn put(http: reqwest::Client, req: Value, body: Bytes) -> Result<Option<String>> {
    let res = presigned(&http, &req, body)?
        .send()
        .await
        .context("PUT to S3")?;
    let status = res.status();
    let etag = res
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if !status.is_success() {
        let text = res.text().await.unwrap_or_default();
        return Err(format!("PUT to S3: {status}: {text}").into());
    }
    Ok(etag)
}

pub async fn upload(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    api: &Proc,
    size: u64,
) -> Result<UploadResult> {
    api.reset_peak_rss()?;
    let before = api.cpu()?;
    let flow_started = Instant::now();

    let created = create_video(http, base, token, "bench upload", size).await?;
    let created_at = api.cpu()?;
    let id = created["video"]["id"]
        .as_str()
        .context("create: no video id")?
        .to_owned();
    let upload = &created["upload"];
    let started = Instant::now();
    let (parts, complete_body) = match upload["kind"].as_str() {
        Some("single") => {
            let len = usize::try_from(size).context("size")?;
            put(http.clone(), upload.clone(), mp4_bytes(len)).await?;
            (0, json!({}))
        }
        Some("multipart") => {
            let list = upload["parts"]
                .as_array()
                .context("multipart without parts")?;
            let part_size = upload["part_size"].as_u64().context("no part_size")?;
            // Only the first part carries the MP4's boxes; the others are its mdat.
            let part_len = usize::try_from(part_size).context("part size")?;
            let mut first = postiqo_media_probe::sample::mp4_head(size);
            first.resize(part_len.max(first.len()), 0xAB);
            let first = Bytes::from(first);
            let data = Bytes::from(vec![0xABu8; part_len]);
            let mut done = Vec::with_capacity(list.len());
            for window in list.chunks(4) {
                let mut puts = tokio::task::JoinSet::new();
                for part in window {
                    let n = part["part_number"].as_u64().context("part_number")?;
                    let len = usize::try_from(part["size_bytes"].as_u64().context("part size")?)
                        .context("part size")?;
                    let source = if n == 1 { &first } else { &data };
                    let body = source.slice(..len.min(source.len()));
                    let (http, part) = (http.clone(), part.clone());
                    puts.spawn(async move {
                        Ok::<_, crate::error::Error>((n, put(http, part, body).await?))
                    });
                }
                while let Some(r) = puts.join_next().await {
                    let (n, etag) = r.context("part upload task")??;
                    done.push(json!({"part_number": n, "etag": etag.context("part PUT returned no ETag")?}));
                }
            }
            done.sort_by_key(|p| p["part_number"].as_u64());
            (list.len(), json!({ "parts": done }))
        }
        other => return Err(format!("unknown upload kind {other:?}").into()),
    };
    let transfer = started.elapsed();
    let transferred_at = api.cpu()?;
    let complete_started = Instant::now();

    let res = http
        .post(format!("{base}/v1/videos/{id}/upload-complete"))
        .bearer_auth(token)
        .json(&complete_body)
        .send()
        .await
        .context("upload-complete")?;
    let status = res.status();
    let body: Value = res.json().await.context("upload-complete body")?;
    if !status.is_success() || body["status"] != "UPLOADED" {
        return Err(format!("upload-complete: {status}: {body}").into());
    }

    let after = api.cpu()?;
    let ticks = api.clock_ticks();
    Ok(UploadResult {
        id,
        size,
        parts,
        api_cpu: after.since(&before, ticks),
        create_cpu: created_at.since(&before, ticks),
        transfer_cpu: transferred_at.since(&created_at, ticks),
        complete_cpu: after.since(&transferred_at, ticks),
        took: flow_started.elapsed(),
        complete_took: complete_started.elapsed(),
        rss_after: api.rss()?,
        peak_rss: api.peak_rss()?,
        transfer,
    })
}

/// The API's CPU per second of wall time over `window` with no request.
pub async fn idle_cpu(proc: &Proc, window: Duration) -> Result<Duration> {
    let before = proc.cpu()?;
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let spent = proc.cpu()?.since(&before, proc.clock_ticks()).sched;
    Ok(spent.div_f64(started.elapsed().as_secs_f64().max(1e-9)))
}
