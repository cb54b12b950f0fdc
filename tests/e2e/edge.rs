//! Stalled and slow clients hold nothing: bodies that never arrive, a full in-flight queue,
//! heads trickled byte by byte, idle connections, requests refused before routing, and
//! `/readyz` that neither lets a saturated instance look ready nor calls AWS per probe.
//! Everything over raw sockets against the real binary (docs/reliability.md, "Limits").

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use postiqo_e2e::{TestApp, TestAppBuilder};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------------------------
// raw HTTP/1.1

fn host(app: &TestApp) -> String {
    app.base_url.trim_start_matches("http://").to_owned()
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(host(app)).await.unwrap()
}

/// One response read off a raw socket.
#[derive(Debug)]
struct Raw {
    status: u16,
    head: String,
    body: Vec<u8>,
    /// Since the reader started waiting.
    took: Duration,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }

    fn problem(&self) -> Value {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.head
        );
        let body: Value = serde_json::from_slice(&self.body).unwrap();
        assert_eq!(body["status"], self.status, "{body}");
        assert_eq!(
            body["type"],
            format!("urn:postiqo:problem:{}", body["code"].as_str().unwrap())
        );
        let id = body["request_id"].as_str().expect("a request id");
        assert_eq!(self.header("x-request-id"), Some(id));
        assert_eq!(self.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(self.header("cache-control"), Some("no-store"));
        body
    }
}

/// Reads one response (head, then a `Content-Length` body) within `limit`; `None` if the
/// connection ended first without a response.
async fn read_response(s: &mut TcpStream, limit: Duration) -> Option<Raw> {
    let started = Instant::now();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let left = limit
            .checked_sub(started.elapsed())
            .expect("response in time");
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => panic!(
                "no response within {limit:?}: {}",
                String::from_utf8_lossy(&buf)
            ),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let took = started.elapsed();
    let mut raw = Raw {
        status,
        head,
        body: buf[head_end..].to_vec(),
        took,
    };
    let length: usize = raw
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while raw.body.len() < length {
        let left = limit.checked_sub(started.elapsed()).expect("body in time");
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => raw.body.extend_from_slice(&chunk[..n]),
            _ => panic!("body cut short: {raw:?}"),
        }
    }
    Some(raw)
}

/// Waits for the server to close: how long it took, or `None` if it was still open at `limit`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut chunk = [0u8; 4096];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

// ---------------------------------------------------------------------------------------------

const MAX_IN_FLIGHT: usize = 4;
const BODY_TIMEOUT: Duration = Duration::from_secs(2);

/// A webhook TikTok signed: the API checks the HMAC over the raw body it buffered.
fn signed_webhook() -> (String, Vec<u8>) {
    let secret = std::env::var("POSTIQO_TIKTOK_CLIENT_SECRET").unwrap();
    let t = chrono::Utc::now().timestamp();
    let body = json!({
        "client_key": std::env::var("POSTIQO_TIKTOK_CLIENT_KEY").unwrap(),
        "event": "post.publish.complete",
        "create_time": t,
        "user_openid": "nobody-we-know",
        "content": "{\"publish_id\":\"v_pub_1\"}",
    })
    .to_string()
    .into_bytes();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&body);
    (
        format!("t={t},s={}", hex::encode(mac.finalize().into_bytes())),
        body,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_hold_no_permit_and_end_in_408() {
    let app = TestAppBuilder::new()
        .env("POSTIQO_MAX_IN_FLIGHT", &MAX_IN_FLIGHT.to_string())
        .env(
            "POSTIQO_BODY_TIMEOUT_SECS",
            &BODY_TIMEOUT.as_secs().to_string(),
        )
        .env("SANDBOX_WEBHOOK_URL", "")
        .spawn()
        .await;
    let user = app.new_user().await;

    // Twice as many clients as permits send a webhook's headers, announce 64 KiB, send one
    // byte and stop.
    let mut stalled = Vec::new();
    for _ in 0..2 * MAX_IN_FLIGHT {
        let mut s = connect(&app).await;
        s.write_all(
            b"POST /v1/webhooks/tiktok HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              TikTok-Signature: t=1,s=00\r\nContent-Length: 65536\r\n\r\n{",
        )
        .await
        .unwrap();
        stalled.push((s, Instant::now()));
    }

    // Meanwhile every /v1 route answers: a signed-in listing, an anonymous /v1/me. (The
    // timeout only turns a hang, as before the fix, into a failure.)
    let mut slowest = Duration::ZERO;
    let patience = Duration::from_secs(10);
    for _ in 0..5 {
        let t = Instant::now();
        let res = app
            .http
            .get(app.url("/v1/videos"))
            .bearer_auth(&user.token)
            .timeout(patience)
            .send()
            .await
            .expect("/v1/videos answers while bodies stall");
        assert_eq!(res.status(), 200);
        slowest = slowest.max(t.elapsed());
        let t = Instant::now();
        let res = app
            .http
            .get(app.url("/v1/me"))
            .timeout(patience)
            .send()
            .await
            .expect("/v1/me answers while bodies stall");
        assert_eq!(res.status(), 401);
        slowest = slowest.max(t.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(1),
        "/v1 answered while {} bodies stalled: slowest {slowest:?}",
        2 * MAX_IN_FLIGHT
    );

    // Each stalled request ends in 408 problem+json at the body timeout, and its connection
    // closes.
    let mut held = Vec::new();
    for (mut s, since) in stalled {
        let raw = read_response(&mut s, Duration::from_secs(15))
            .await
            .expect("a 408");
        let after = since.elapsed();
        assert_eq!(raw.status, 408, "{}", raw.head);
        let problem = raw.problem();
        assert_eq!(problem["code"], "request_timeout");
        assert_eq!(raw.header("connection"), Some("close"));
        assert!(
            after >= BODY_TIMEOUT - Duration::from_millis(100)
                && after < BODY_TIMEOUT + Duration::from_secs(3),
            "answered at the body timeout: {after:?}"
        );
        let closed = closed_within(&mut s, Duration::from_secs(5))
            .await
            .expect("the connection closes after the 408");
        held.push((ms(after), ms(after + closed)));
    }
    eprintln!(
        "stalled bodies: /v1 slowest {} ms meanwhile; 408 at / connection closed at (ms): {held:?}",
        ms(slowest)
    );

    // A body that arrives in pieces, but in time, is read whole: the webhook's signature over
    // the raw bytes still verifies.
    let (signature, body) = signed_webhook();
    let mut s = connect(&app).await;
    let head = format!(
        "POST /v1/webhooks/tiktok HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         TikTok-Signature: {signature}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    s.write_all(first).await.unwrap();
    tokio::time::sleep(BODY_TIMEOUT / 3).await;
    s.write_all(rest).await.unwrap();
    let raw = read_response(&mut s, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        raw.status,
        200,
        "{} {}",
        raw.head,
        String::from_utf8_lossy(&raw.body)
    );
    // The same bytes with one changed are refused: the signature really covers the body.
    let mut s = connect(&app).await;
    let mut forged = body.clone();
    forged[2] ^= 0x01;
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&forged).await.unwrap();
    let raw = read_response(&mut s, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(raw.status, 401);
    assert_eq!(raw.problem()["code"], "invalid_webhook_signature");
}

// ---------------------------------------------------------------------------------------------

const QUEUE_TIMEOUT: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_503_overloaded_and_readyz_turns_traffic_away() {
    let permits = 2;
    let app = TestAppBuilder::new()
        .env("POSTIQO_MAX_IN_FLIGHT", &permits.to_string())
        .env(
            "POSTIQO_QUEUE_TIMEOUT_MS",
            &QUEUE_TIMEOUT.as_millis().to_string(),
        )
        .env("SANDBOX_WEBHOOK_URL", "")
        .spawn()
        .await;
    let user = app.new_user().await;
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    // TikTok answers after 30 s: each creator-info call holds its permit until the TikTok
    // client gives up (15 s).
    app.sandbox(
        Method::POST,
        "/faults",
        Some(json!({"path": "/v2/post/publish/creator_info/query/", "kind": "delay", "delay_ms": 30_000, "count": 100})),
    )
    .await;
    let holders: Vec<_> = (0..permits)
        .map(|_| {
            let http = app.http.clone();
            let url = app.url("/v1/tiktok/creator-info");
            let token = user.token.clone();
            tokio::spawn(async move {
                http.get(url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();

    // Once both permits are held, a request waits the queue timeout and is refused.
    let started = Instant::now();
    let refused = loop {
        let t = Instant::now();
        let res = app
            .http
            .get(app.url("/v1/videos"))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap();
        if res.status() == 503 {
            break (res, t.elapsed());
        }
        assert_eq!(res.status(), 200);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never saturated"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (res, took) = refused;
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&retry), "Retry-After {retry}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "overloaded");
    assert!(
        took >= QUEUE_TIMEOUT - Duration::from_millis(50) && took < QUEUE_TIMEOUT * 4,
        "refused after the queue timeout: {took:?}"
    );

    // While requests keep queuing, /readyz says so (a load balancer moves traffic away), and
    // /healthz and the media route (no permit) still answer at once.
    let stop = Arc::new(AtomicBool::new(false));
    let queuers: Vec<_> = (0..2)
        .map(|_| {
            let (http, url, token, stop) = (
                app.http.clone(),
                app.url("/v1/videos"),
                user.token.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let mut refusals = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let t = Instant::now();
                    let res = http.get(&url).bearer_auth(&token).send().await.unwrap();
                    if res.status() == 503 {
                        refusals.push(t.elapsed());
                    }
                }
                refusals
            })
        })
        .collect();
    let started = Instant::now();
    let not_ready = loop {
        let res = app.http.get(app.url("/readyz")).send().await.unwrap();
        if res.status() == 503 {
            break res;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "/readyz never turned 503"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(not_ready.headers().contains_key("retry-after"));
    let body: Value = not_ready.json().await.unwrap();
    assert_eq!(body["code"], "overloaded");
    for path in ["/healthz", "/v1/media/not-a-token"] {
        let t = Instant::now();
        let res = app.http.get(app.url(path)).send().await.unwrap();
        assert!(res.status() == 200 || res.status() == 404, "{path}");
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "{path}: {:?}",
            t.elapsed()
        );
    }

    // When the holders finish, the instance is ready again and serves.
    for h in holders {
        assert_eq!(h.await.unwrap(), 502, "TikTok timed out");
    }
    stop.store(true, Ordering::SeqCst);
    let mut refusals = Vec::new();
    for q in queuers {
        refusals.extend(q.await.unwrap());
    }
    let started = Instant::now();
    loop {
        let res = app.http.get(app.url("/readyz")).send().await.unwrap();
        if res.status() == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "ready again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let res = app
        .http
        .get(app.url("/v1/videos"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    refusals.sort();
    assert!(!refusals.is_empty());
    assert!(
        *refusals.last().unwrap() < QUEUE_TIMEOUT * 4,
        "every refusal came at the queue timeout: {refusals:?}"
    );
    eprintln!(
        "queue timeout {} ms: first refusal after {} ms; {} more refusals, {}-{} ms",
        ms(QUEUE_TIMEOUT),
        ms(took),
        refusals.len(),
        ms(refusals[0]),
        ms(*refusals.last().unwrap())
    );
}

// ---------------------------------------------------------------------------------------------

/// Writes `request` while reading the answer (the server may answer before it has read all).
async fn exchange(app: &TestApp, request: Vec<u8>) -> Option<Raw> {
    let s = connect(app).await;
    let (mut reader, mut writer) = s.into_split();
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(&request).await;
        writer
    });
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut buf)).await;
    drop(writing.await);
    parse_all(&mut buf.as_slice()).await.into_iter().next()
}

/// Every response in `src` (a closed connection's bytes).
async fn parse_all<R: tokio::io::AsyncRead + Unpin>(src: &mut R) -> Vec<Raw> {
    let mut bytes = Vec::new();
    src.read_to_end(&mut bytes).await.unwrap();
    let mut out = Vec::new();
    let mut rest = bytes.as_slice();
    while let Some(i) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&rest[..i + 4]).into_owned();
        let mut raw = Raw {
            status: head.split_whitespace().nth(1).unwrap().parse().unwrap(),
            head,
            body: Vec::new(),
            took: Duration::ZERO,
        };
        let length: usize = raw
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        raw.body = rest[i + 4..i + 4 + length].to_vec();
        rest = &rest[i + 4 + length..];
        out.push(raw);
    }
    out
}

#[tokio::test]
async fn requests_refused_before_routing_are_problem_documents() {
    let app = TestApp::spawn().await;
    let malformed: [(&str, &[u8]); 4] = [
        (
            "junk after the version",
            b"GET /v1/me HTTP/1.1 junk\r\nHost: x\r\n\r\n",
        ),
        (
            "binary request line",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        ),
        (
            "space in a header name",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n",
        ),
        (
            "HTTP/1.1 without Host",
            b"GET /healthz HTTP/1.1\r\nAccept: */*\r\n\r\n",
        ),
    ];
    for (what, request) in malformed {
        let raw = exchange(&app, request.to_vec()).await.expect(what);
        assert_eq!(raw.status, 400, "{what}: {}", raw.head);
        assert_eq!(raw.problem()["code"], "bad_request", "{what}");
        assert_eq!(raw.header("connection"), Some("close"), "{what}");
    }
    for size in [200_000, 2_000_000] {
        let mut request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ".to_vec();
        request.extend(std::iter::repeat_n(b'a', size));
        request.extend_from_slice(b"\r\n\r\n");
        let raw = exchange(&app, request).await.expect("an answer");
        assert_eq!(raw.status, 431, "{size}");
        assert_eq!(raw.problem()["code"], "headers_too_large");
    }
    let mut many = b"GET /healthz HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..200 {
        many.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let raw = exchange(&app, many).await.expect("an answer");
    assert_eq!(raw.status, 431);
    assert_eq!(raw.problem()["code"], "headers_too_large");

    // Pipelined behind good requests: those are answered first, in order.
    let mut s = connect(&app).await;
    let mut pipelined = get("/healthz");
    pipelined.extend(get("/v1/me"));
    pipelined.extend_from_slice(b"GET /healthz HTTP/1.1 junk\r\nHost: x\r\n\r\n");
    s.write_all(&pipelined).await.unwrap();
    let mut all = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut all)).await;
    let answers = parse_all(&mut all.as_slice()).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 401, 400]);
    assert_eq!(answers[2].problem()["code"], "bad_request");

    // The server carries on, and says what it refused in its access log.
    let res = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let started = Instant::now();
    loop {
        let lines = app.process.lines();
        let logged: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains("refused by the connection guard"))
            .collect();
        if logged.len() >= 8 {
            let line: Value = serde_json::from_str(logged[0]).unwrap();
            assert_eq!(line["status"], 400, "{line}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{} refusals logged: {logged:?}",
            logged.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------

const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const KEEP_ALIVE: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_and_idle_connections_are_bounded() {
    let app = TestAppBuilder::new()
        .env(
            "POSTIQO_HEADER_TIMEOUT_SECS",
            &HEADER_TIMEOUT.as_secs().to_string(),
        )
        .env("POSTIQO_KEEP_ALIVE_SECS", &KEEP_ALIVE.as_secs().to_string())
        .spawn()
        .await;
    let bound = |d: Duration, what: &str| {
        assert!(
            d >= HEADER_TIMEOUT - Duration::from_millis(100)
                && d < HEADER_TIMEOUT + Duration::from_secs(3),
            "{what}: {d:?}"
        );
    };

    // Connected, sends nothing.
    let mut silent = connect(&app).await;
    let raw = read_response(&mut silent, Duration::from_secs(15))
        .await
        .expect("a 408");
    assert_eq!(raw.status, 408);
    assert_eq!(raw.problem()["code"], "request_timeout");
    bound(raw.took, "silent connection");
    let silent_took = raw.took;

    // A head trickled one byte every 200 ms: cut at the header timeout, whatever it sends.
    let s = connect(&app).await;
    let (mut reader, writer) = s.into_split();
    let started = Instant::now();
    let writing = trickle_half(writer);
    let raw = read_half(&mut reader, Duration::from_secs(15)).await;
    writing.abort();
    assert_eq!(raw.status, 408);
    assert_eq!(raw.problem()["code"], "request_timeout");
    let first_took = started.elapsed();
    bound(first_took, "first head trickled");

    // The same on a kept-alive connection's second request, which actix alone never times:
    // the clock starts at its first byte.
    let mut s = connect(&app).await;
    s.write_all(&get("/healthz")).await.unwrap();
    let raw = read_response(&mut s, Duration::from_secs(5)).await.unwrap();
    assert_eq!(raw.status, 200);
    let (mut reader, writer) = s.into_split();
    let started = Instant::now();
    let writing = trickle_half(writer);
    let raw = read_half(&mut reader, Duration::from_secs(15)).await;
    writing.abort();
    assert_eq!(raw.status, 408);
    assert_eq!(raw.problem()["code"], "request_timeout");
    let second_took = started.elapsed();
    bound(second_took, "second head trickled");

    // Idle after a response: closed at the keep-alive timeout, without an answer.
    let mut s = connect(&app).await;
    s.write_all(&get("/healthz")).await.unwrap();
    read_response(&mut s, Duration::from_secs(5)).await.unwrap();
    let idle = closed_within(&mut s, Duration::from_secs(10))
        .await
        .expect("idle connection closed");
    // actix times keep-alive on its cached clock, which ticks every 500 ms.
    assert!(
        idle >= KEEP_ALIVE - Duration::from_millis(600)
            && idle < KEEP_ALIVE + Duration::from_secs(3),
        "keep-alive: {idle:?}"
    );
    eprintln!(
        "header timeout {} ms: silent connection answered 408 at {} ms, trickled first head at {} ms, \
         trickled second head at {} ms; idle keep-alive ({} ms) closed at {} ms",
        ms(HEADER_TIMEOUT),
        ms(silent_took),
        ms(first_took),
        ms(second_took),
        ms(KEEP_ALIVE),
        ms(idle)
    );
}

/// Sends a request head one byte every 200 ms, forever (until aborted or cut off).
fn trickle_half(mut w: tokio::net::tcp::OwnedWriteHalf) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let head = b"GET /v1/me HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        let mut i = 0usize;
        loop {
            let b = head.get(i).copied().unwrap_or(b'a');
            if w.write_all(&[b]).await.is_err() {
                return;
            }
            i += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

async fn read_half(r: &mut tokio::net::tcp::OwnedReadHalf, limit: Duration) -> Raw {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let started = Instant::now();
    loop {
        let left = limit
            .checked_sub(started.elapsed())
            .expect("answer in time");
        match tokio::time::timeout(left, r.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => panic!("no answer within {limit:?}"),
        }
    }
    parse_all(&mut buf.as_slice())
        .await
        .into_iter()
        .next()
        .expect("one response before the close")
}

// ---------------------------------------------------------------------------------------------

/// A TCP proxy to the storage server that counts the HTTP requests going through it, and can
/// be switched off (every connection dropped) to play an outage.
struct CountingProxy {
    addr: String,
    requests: Arc<AtomicUsize>,
    open: Arc<AtomicBool>,
}

impl CountingProxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicBool::new(true));
        let (count, gate) = (requests.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !gate.load(Ordering::SeqCst) {
                    continue;
                }
                let (count, gate, upstream) = (count.clone(), gate.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let down = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    });
                    let mut chunk = [0u8; 16384];
                    let mut tail: Vec<u8> = Vec::new();
                    loop {
                        let n = match cr.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if !gate.load(Ordering::SeqCst) {
                            break;
                        }
                        // A request line ends in " HTTP/1.1\r\n"; it may straddle two reads.
                        tail.extend_from_slice(&chunk[..n]);
                        let needle = b" HTTP/1.1\r\n";
                        let found = tail.windows(needle.len()).filter(|w| w == needle).count();
                        count.fetch_add(found, Ordering::SeqCst);
                        let keep = tail.len().min(needle.len() - 1);
                        tail.drain(..tail.len() - keep);
                        if sw.write_all(&chunk[..n]).await.is_err() {
                            break;
                        }
                    }
                    down.abort();
                });
            }
        });
        Self {
            addr,
            requests,
            open,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_checks_storage_about_once_a_second_and_still_sees_an_outage() {
    let upstream = std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL (scripts/local-env.sh)")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let proxy = CountingProxy::start(upstream).await;
    let endpoint = format!("http://{}", proxy.addr);
    let app = TestAppBuilder::new()
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ENDPOINT_URL_DYNAMODB", &endpoint)
        .env("AWS_ENDPOINT_URL_S3", &endpoint)
        // Nothing else may talk to storage while we count.
        .env("POSTIQO_WORKER", "off")
        .spawn()
        .await;
    let res = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);

    // A load balancer gone wild: 8 clients probing back to back for 3 s.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    proxy.requests.store(0, Ordering::SeqCst);
    let window = Duration::from_secs(3);
    let probers: Vec<_> = (0..8)
        .map(|_| {
            let (http, url) = (app.http.clone(), app.url("/readyz"));
            tokio::spawn(async move {
                let started = Instant::now();
                let mut n = 0;
                while started.elapsed() < window {
                    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut probes = 0;
    for p in probers {
        probes += p.await.unwrap();
    }
    let storage_calls = proxy.requests.load(Ordering::SeqCst);
    eprintln!("readyz: {probes} probes in {window:?} made {storage_calls} storage requests");
    assert!(probes >= 100, "{probes} probes");
    // One check (a DynamoDB and an S3 call) per 2 s: 2 or 3 checks in 3 s; room for retries.
    assert!(
        (2..=8).contains(&storage_calls),
        "{storage_calls} storage requests for {probes} probes"
    );

    // Storage goes away: /readyz says so within the cache time plus the check's timeout.
    proxy.open.store(false, Ordering::SeqCst);
    let started = Instant::now();
    let down = loop {
        let res = app.http.get(app.url("/readyz")).send().await.unwrap();
        if res.status() == 503 {
            break res;
        }
        assert!(started.elapsed() < Duration::from_secs(8), "outage unseen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let seen_down = started.elapsed();
    let body: Value = down.json().await.unwrap();
    assert_eq!(body["code"], "storage_unavailable");

    // And back: ready again within the failure's cache time plus a check.
    proxy.open.store(true, Ordering::SeqCst);
    let started = Instant::now();
    loop {
        let res = app.http.get(app.url("/readyz")).send().await.unwrap();
        if res.status() == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "recovery unseen"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "readyz: outage seen after {} ms, recovery after {} ms",
        ms(seen_down),
        ms(started.elapsed())
    );
}
