//! The sharded publish job queue (`POSTIQO_JOB_SHARDS`): several API processes and a separate
//! `postiqo-api worker` take a few hundred publishes through one table with every job done
//! exactly once, and a change of the shard count between runs loses no job.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::StreamExt;
use postiqo_e2e::{
    ChildProcess, Item, Scrape, TestApp, TestAppBuilder, TestUser, attr_s, free_port, scan_table,
};
use reqwest::Method;
use serde_json::{Value, json};

fn public() -> Value {
    json!({"privacy_level": "PUBLIC_TO_EVERYONE", "disable_comment": false, "disable_duet": false,
           "disable_stitch": false, "brand_content_toggle": false, "brand_organic_toggle": false, "is_aigc": false})
}

async fn scan(table: &str) -> Vec<Item> {
    scan_table(&postiqo_e2e::ddb_client().await, table).await
}

/// The job items in the table, by video id, with their index partition key.
async fn jobs(table: &str) -> BTreeMap<String, String> {
    scan(table)
        .await
        .iter()
        .filter(|i| attr_s(i, "SK").starts_with("PUBJOB#"))
        .map(|i| {
            (
                attr_s(i, "SK").trim_start_matches("PUBJOB#").to_owned(),
                attr_s(i, "GSI2PK").to_owned(),
            )
        })
        .collect()
}

/// The shard number of a `PUBJOB#<n>` index key.
fn shard(key: &str) -> u16 {
    key.strip_prefix("PUBJOB#")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a shard key: {key:?}"))
}

/// Inits TikTok saw, by open id (the sandbox's admin API).
async fn inits(app: &TestApp) -> HashMap<String, u64> {
    let stats = app.sandbox(Method::GET, "/stats", None).await;
    stats["inits_by_open_id"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}

async fn open_id(app: &TestApp, user: &TestUser) -> String {
    app.get_json("/v1/me", &user.token).await["open_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Signs in `n` users and uploads `per_user` videos for each, a few at a time.
async fn users_with_videos(
    app: &Arc<TestApp>,
    n: usize,
    per_user: usize,
) -> Vec<(TestUser, Vec<String>)> {
    futures_util::stream::iter(0..n)
        .map(|_| {
            let app = app.clone();
            async move {
                let user = app.new_user().await;
                let mut ids = Vec::new();
                for _ in 0..per_user {
                    ids.push(app.uploaded_video(&user, 4096).await);
                }
                (user, ids)
            }
        })
        .buffer_unordered(12)
        .collect()
        .await
}

/// Every video, read once through the API: `PUBLISHED` with its post id, by way of
/// `PUBLISHING` once.
async fn assert_all_published(http: &reqwest::Client, base: &str, videos: &[(TestUser, String)]) {
    let seen: Vec<Value> = futures_util::stream::iter(videos)
        .map(|(user, id)| async move {
            http.get(format!("{base}/v1/videos/{id}"))
                .bearer_auth(&user.token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for v in &seen {
        assert_eq!(v["status"], "PUBLISHED", "{v}");
        assert!(v["tiktok"]["post_id"].is_string(), "{v}");
        let statuses: Vec<&str> = v["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses,
            ["PENDING", "UPLOADED", "PUBLISHING", "PUBLISHED"],
            "{v}"
        );
    }
    assert_eq!(seen.len(), videos.len());
}

/// Waits until no job is left in the table: each job's last step (the post id recorded, or
/// a failure) deletes it.
async fn wait_no_jobs(table: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = jobs(table).await;
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} jobs left after {secs} s: {left:?}",
            left.len()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `POST /v1/videos/{id}/publish` as a careful client sends it: with an idempotency key, and
/// again with the same key when no answer came (a busy machine resets some connections) or the
/// first attempt is still running. Returns the last status and the attempts made.
async fn publish(http: &reqwest::Client, base: &str, user: &TestUser, id: &str) -> (u16, usize) {
    let mut tries = 0;
    loop {
        tries += 1;
        let res = http
            .post(format!("{base}/v1/videos/{id}/publish"))
            .bearer_auth(&user.token)
            .header("idempotency-key", format!("queue-{id}"))
            .json(&public())
            .send()
            .await;
        let again = match &res {
            Err(_) => true,
            Ok(r) => matches!(r.status().as_u16(), 409 | 503),
        };
        if !again || tries == 10 {
            return (res.map_or(0, |r| r.status().as_u16()), tries);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn scrape(http: &reqwest::Client, addr: &str) -> Scrape {
    let text = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Scrape::parse(&text).unwrap()
}

/// Lets the sandbox take media URLs on the storage server (presigned mode).
async fn verify_s3_prefix(app: &TestApp) {
    let s3 = std::env::var("AWS_ENDPOINT_URL_S3")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .unwrap();
    app.sandbox(
        Method::PATCH,
        "/settings",
        Some(json!({"verified_url_prefixes": [format!("{s3}/")]})),
    )
    .await;
}

// ---------------------------------------------------------------------------------------------

const SHARDS: &str = "8";
/// Under TikTok's 6 inits a minute per user, so no init is deferred a minute.
const PER_USER: usize = 5;

/// Users (of `PER_USER` publishes each): 20 in the test command; scripts/soak sets
/// POSTIQO_QUEUE_USERS=120 (600 publishes).
fn users() -> usize {
    std::env::var("POSTIQO_QUEUE_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20usize)
        .clamp(1, 1000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_processes_and_a_worker_process_do_every_job_exactly_once() {
    let metrics: Vec<String> = (0..4)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let app = Arc::new(
        TestAppBuilder::new()
            .env("POSTIQO_JOB_SHARDS", SHARDS)
            .env("POSTIQO_RATE_LIMIT", "off")
            // Four workers each querying 8 shards and 4 strays a pass: every 500 ms keeps the
            // storage emulator's share of two busy cores for the publishes.
            .env("POSTIQO_WORKER_INTERVAL_MS", "500")
            .env("POSTIQO_METRICS_BIND", &metrics[0])
            // Media straight from S3: TikTok's pulls do not queue on one API process.
            .env("POSTIQO_MEDIA_MODE", "presigned")
            // Every status change comes from the workers' polls, none from a webhook.
            .env("SANDBOX_WEBHOOK_URL", "")
            .spawn()
            .await,
    );
    verify_s3_prefix(&app).await;
    // Two more API processes, each with its worker, and the worker alone: four workers on
    // one queue.
    let (_peer1, url1) = app.spawn_peer_with(&[("POSTIQO_METRICS_BIND", &metrics[1])]);
    let (_peer2, url2) = app.spawn_peer_with(&[("POSTIQO_METRICS_BIND", &metrics[2])]);
    let worker: ChildProcess = app.spawn_worker(&[("POSTIQO_METRICS_BIND", &metrics[3])]);
    let apis = [app.base_url.clone(), url1, url2];

    let t0 = Instant::now();
    let users = users();
    let prepared = users_with_videos(&app, users, PER_USER).await;
    // Users taking turns, so no user's publishes all contend for its rate windows at once.
    let videos: Vec<(TestUser, String)> = (0..PER_USER)
        .flat_map(|i| {
            prepared
                .iter()
                .map(move |(u, ids)| (u.clone(), ids[i].clone()))
        })
        .collect();
    let n = videos.len();
    eprintln!(
        "queue: {n} videos of {users} users ready in {:?}",
        t0.elapsed()
    );

    // Every publish at once, spread over the three API processes.
    let t1 = Instant::now();
    let http = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let outcomes: Vec<(u16, usize)> = futures_util::stream::iter(videos.iter().enumerate())
        .map(|(i, (user, id))| publish(&http, &apis[i % apis.len()], user, id))
        .buffer_unordered(16)
        .collect()
        .await;
    let retried = outcomes.iter().filter(|(_, tries)| *tries > 1).count();
    eprintln!(
        "queue: {n} publishes accepted {:?} after the first was sent ({retried} needed a retry)",
        t1.elapsed()
    );
    assert!(outcomes.iter().all(|(s, _)| *s == 202), "{outcomes:?}");

    // While they are in flight, the jobs sit in the configured shards, and in most of them.
    let in_flight = jobs(&app.table).await;
    let used: HashSet<u16> = in_flight.values().map(|k| shard(k)).collect();
    eprintln!(
        "queue: {} jobs in flight right after the publishes, in shards {used:?}",
        in_flight.len()
    );
    assert!(used.iter().all(|s| *s < 8), "{used:?}");
    assert!(used.len() >= 6, "jobs spread over the shards: {used:?}");

    wait_no_jobs(&app.table, 90).await;
    eprintln!(
        "queue: {n} publishes done (no job left) {:?} after the first was sent",
        t1.elapsed()
    );
    assert_all_published(&http, &apis[1], &videos).await;

    // Exactly one init per video at TikTok, for every user.
    let by_open_id = inits(&app).await;
    for (user, ids) in &prepared {
        let open_id = open_id(&app, user).await;
        assert_eq!(
            by_open_id.get(&open_id).copied(),
            Some(ids.len() as u64),
            "{open_id}"
        );
    }
    assert_eq!(by_open_id.values().sum::<u64>(), n as u64);
    // Each PUBLISHED transition was made once, by one of the four processes, and the worker
    // process did its share.
    let mut finished = Vec::new();
    for addr in &metrics {
        let m = scrape(&http, addr).await;
        finished.push(m.sum("postiqo_publishes_total", &[("outcome", "published")]) as u64);
    }
    eprintln!("queue: PUBLISHED by [api, api, api, worker]: {finished:?}");
    assert_eq!(finished.iter().sum::<u64>(), n as u64, "{finished:?}");
    assert!(
        finished[3] > 0,
        "the worker process took jobs: {finished:?}"
    );
    drop(worker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_shard_count_between_runs_loses_no_job() {
    // First run: 16 shards and no worker, so every job stays where it was written.
    let app = TestAppBuilder::new()
        .env("POSTIQO_JOB_SHARDS", "16")
        .env("POSTIQO_WORKER", "off")
        // Media straight from S3, so TikTok's downloads do not depend on the restart.
        .env("POSTIQO_MEDIA_MODE", "presigned")
        .env("POSTIQO_RATE_LIMIT", "off")
        .env("SANDBOX_WEBHOOK_URL", "")
        .spawn()
        .await;
    verify_s3_prefix(&app).await;
    let app_arc = Arc::new(app);
    let prepared = users_with_videos(&app_arc, 8, 5).await;
    let Ok(mut app) = Arc::try_unwrap(app_arc) else {
        panic!("the app is still shared")
    };
    let videos: Vec<(TestUser, String)> = prepared
        .iter()
        .flat_map(|(u, ids)| ids.iter().map(move |id| (u.clone(), id.clone())))
        .collect();
    for (user, id) in &videos {
        let res = app.publish(user, id, &format!("k-{id}"), public()).await;
        assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    }
    let written = jobs(&app.table).await;
    assert_eq!(written.len(), videos.len());
    let shards: HashSet<u16> = written.values().map(|k| shard(k)).collect();
    assert!(shards.iter().all(|s| *s < 16), "{shards:?}");
    let above_four = written.values().filter(|k| shard(k) >= 4).count();
    assert!(
        above_four > 0,
        "some jobs sit above the next count: {written:?}"
    );

    // One job as the release before sharding left it: in the single partition `PUBJOB`.
    let (legacy_user, legacy_video) = &videos[0];
    postiqo_e2e::ddb_client()
        .await
        .update_item()
        .table_name(&app.table)
        .key("PK", AttributeValue::S(format!("USER#{}", legacy_user.id)))
        .key("SK", AttributeValue::S(format!("PUBJOB#{legacy_video}")))
        .update_expression("SET GSI2PK = :legacy")
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_values(":legacy", AttributeValue::S("PUBJOB".into()))
        .send()
        .await
        .unwrap();

    // Second run: the count lowered to 4, with the worker. Jobs in shards 4..15 and the legacy
    // key are found by the sweep; each job's next write moves it into shards 0..3.
    app.set_env("POSTIQO_JOB_SHARDS", "4");
    app.set_env("POSTIQO_WORKER", "on");
    let t = Instant::now();
    app.restart_api().await;
    wait_no_jobs(&app.table, 90).await;
    assert_all_published(&reqwest::Client::new(), &app.base_url, &videos).await;
    eprintln!(
        "queue: {} jobs written over {} of 16 shards ({above_four} above 4, one legacy) all published {:?} after the restart with 4 shards",
        videos.len(),
        shards.len(),
        t.elapsed(),
    );
    let by_open_id = inits(&app).await;
    assert_eq!(by_open_id.values().sum::<u64>(), videos.len() as u64);
    for (user, ids) in &prepared {
        let open_id = open_id(&app, user).await;
        assert_eq!(by_open_id.get(&open_id).copied(), Some(ids.len() as u64));
    }
}
