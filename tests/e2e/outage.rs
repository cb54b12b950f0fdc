//! Storage down: fast 503 problems, no hang, recovery without a restart. Uses a private
//! ministack so stopping it cannot disturb the other tests.

use std::time::{Duration, Instant};

use postiqo_e2e::{TestAppBuilder, free_port};
use serde_json::Value;

#[tokio::test]
async fn storage_outage_gives_fast_503_and_recovers() {
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut ministack = postiqo_e2e::start_private_ministack(port);
    let builder = TestAppBuilder::new()
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ENDPOINT_URL_DYNAMODB", &endpoint)
        .env("AWS_ENDPOINT_URL_S3", &endpoint);
    let app = builder.clone().spawn().await;
    let user = app.new_user().await;
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    ministack.kill();
    // `/readyz` reuses a passed storage check for up to 2 s (src/readiness.rs): it sees the
    // outage within that, plus the check's own timeout.
    let started = Instant::now();
    while app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        != 503
    {
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "readyz never saw the outage"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let checks: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("readyz", app.http.get(app.url("/readyz"))),
        ("list", app.http.get(app.url("/v1/videos")).bearer_auth(&user.token)),
        (
            "get",
            app.http
                .get(app.url("/v1/videos/0190a0b0-0000-7000-8000-000000000000"))
                .bearer_auth(&user.token),
        ),
        (
            "create",
            app.http
                .post(app.url("/v1/videos"))
                .bearer_auth(&user.token)
                .json(&serde_json::json!({"title": "t", "content_type": "video/mp4", "size_bytes": 10})),
        ),
    ];
    for (name, req) in checks {
        let started = Instant::now();
        let res = req.send().await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{name} answered quickly"
        );
        assert_eq!(res.status(), 503, "{name}");
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{name}"
        );
        assert!(res.headers().get("retry-after").is_some(), "{name}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "storage_unavailable", "{name}");
        let text = body.to_string();
        assert!(
            !text.contains("127.0.0.1"),
            "{name}: no internals in the body: {text}"
        );
    }

    // The storage server comes back (empty: it keeps state in memory), is bootstrapped again,
    // and the same API process serves again without a restart.
    let _ministack = postiqo_e2e::start_private_ministack(port);
    let out = builder.bootstrap();
    assert!(out.status.success());
    // A failed check stands for 1 s.
    let started = Instant::now();
    while app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        != 200
    {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "readyz never recovered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The restarted server lost every record (it keeps them in memory), sessions included.
    let user = app.new_user().await;
    let res = app
        .http
        .post(app.url("/v1/videos"))
        .bearer_auth(&user.token)
        .json(&serde_json::json!({"title": "t", "content_type": "video/mp4", "size_bytes": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}
