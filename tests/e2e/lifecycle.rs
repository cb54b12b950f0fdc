//! Start-up validation, bootstrap, graceful shutdown.

use std::process::Command;
use std::time::Duration;

use postiqo_e2e::{TestApp, TestAppBuilder, bin_path};

fn run_with_env(remove: &[&str], set: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(bin_path("postiqo-api"));
    for r in remove {
        cmd.env_remove(r);
    }
    for (k, v) in set {
        cmd.env(k, v);
    }
    cmd.env("POSTIQO_BIND", "127.0.0.1:0");
    cmd.output().expect("run")
}

#[test]
fn missing_or_malformed_config_stops_with_one_clear_line() {
    let out = run_with_env(&["POSTIQO_TABLE"], &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "exactly one line: {stderr}");
    assert!(stderr.contains("POSTIQO_TABLE"), "{stderr}");

    let mut cmd = Command::new(bin_path("postiqo-api"));
    cmd.env("POSTIQO_BIND", "nonsense");
    let out = cmd.output().expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("POSTIQO_BIND"), "{stderr}");

    // A malformed secret is named, never printed.
    let out = run_with_env(&[], &[("POSTIQO_JWT_KEYS", "k1:dG9vLXNob3J0LXNlY3JldA==")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("POSTIQO_JWT_KEYS"), "{stderr}");
    assert!(!stderr.contains("dG9vLXNob3J0LXNlY3JldA"), "{stderr}");
}

#[tokio::test]
async fn bootstrap_is_idempotent() {
    let builder = TestAppBuilder::new();
    for run in 1..=2 {
        let out = builder.bootstrap();
        assert!(
            out.status.success(),
            "run {run}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let app = builder.spawn().await;
    let (ddb, s3) = postiqo_e2e::aws_clients().await;
    let table = ddb
        .describe_table()
        .table_name(&app.table)
        .send()
        .await
        .unwrap();
    let indexes: Vec<_> = table
        .table
        .unwrap()
        .global_secondary_indexes
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| i.index_name)
        .collect();
    assert!(indexes.contains(&"GSI1".to_owned()), "{indexes:?}");
    let ttl = ddb
        .describe_time_to_live()
        .table_name(&app.table)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description
            .unwrap()
            .attribute_name
            .as_deref(),
        Some("expires_at")
    );
    let cors = s3
        .get_bucket_cors()
        .bucket(&app.bucket)
        .send()
        .await
        .unwrap();
    let rule = &cors.cors_rules()[0];
    assert!(rule.allowed_methods().contains(&"PUT".to_owned()));
    assert!(rule.expose_headers().contains(&"ETag".to_owned()));
    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&app.bucket)
        .send()
        .await
        .unwrap();
    assert!(
        lifecycle
            .rules()
            .iter()
            .any(|r| r.abort_incomplete_multipart_upload().is_some()),
        "a rule aborts unfinished multipart uploads"
    );
    assert!(
        lifecycle.rules().iter().any(|r| r.expiration().is_some()
            && r.filter()
                .and_then(|f| f.tag())
                .is_some_and(|t| t.value() == "pending")),
        "a rule expires uploads never confirmed: {:?}",
        lifecycle.rules()
    );
}

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_and_exits_zero() {
    let mut app = TestApp::spawn().await;
    let user = app.new_user().await;
    // A request whose body arrives slowly is in flight when the signal comes.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    let mut rx = rx;
    let body =
        reqwest::Body::wrap_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let http = app.http.clone();
    let url = app.url("/v1/videos");
    let token = user.token.clone();
    let request = tokio::spawn(async move {
        http.post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
    });
    tx.send(Ok(
        br#"{"title": "slow", "content_type": "video/mp4","#.to_vec()
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = app.process.pid();
    Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    tx.send(Ok(br#" "size_bytes": 1000}"#.to_vec()))
        .await
        .unwrap();
    drop(tx);
    let res = request.await.unwrap().expect("in-flight request answered");
    assert_eq!(res.status(), 201);
    let code = app.process.terminate(Duration::from_secs(35));
    assert_eq!(
        code,
        Some(0),
        "graceful exit:\n{}",
        app.process.lines().join("\n")
    );
    // New connections are refused once it stopped.
    assert!(app.http.get(app.url("/healthz")).send().await.is_err());
}
