//! Health, documents, and the problem+json contract for bad requests.

use postiqo_e2e::TestApp;
use serde_json::Value;

async fn assert_problem(res: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status(), status);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert_eq!(body["code"], code);
    assert_eq!(body["type"], format!("urn:postiqo:problem:{code}"));
    assert_eq!(
        body["request_id"],
        request_id.as_str(),
        "problem carries the request id"
    );
    body
}

#[tokio::test]
async fn health_ready_and_documents() {
    let app = TestApp::spawn().await;
    let res = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ready");

    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/videos"]["post"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer_auth"].is_object());

    let ui = app.http.get(app.url("/swagger-ui/")).send().await.unwrap();
    assert_eq!(ui.status(), 200);
    let csp = ui.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = ui.text().await.unwrap();
    assert!(html.contains("swagger"), "Swagger UI page served");

    // Swagger UI reads its own copy, served as JSON, without the cookie scheme a browser page
    // cannot use; /openapi.json keeps both.
    let init = app
        .http
        .get(app.url("/swagger-ui/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(init.contains("/swagger-ui/openapi.json"), "{init}");
    let res = app
        .http
        .get(app.url("/swagger-ui/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let swagger: Value = res.json().await.unwrap();
    let schemes = |d: &Value| {
        let mut names: Vec<String> = d["components"]["securitySchemes"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    };
    assert_eq!(schemes(&swagger), ["bearer_auth"]);
    assert_eq!(schemes(&doc), ["bearer_auth", "cookie_auth"]);
    assert_eq!(swagger["paths"], {
        let mut paths = doc["paths"].clone();
        strip_cookie_security(&mut paths);
        paths
    });
}

/// `doc`'s operations without their `cookie_auth` security requirement (what Swagger UI's copy
/// leaves out).
fn strip_cookie_security(paths: &mut Value) {
    for item in paths
        .as_object_mut()
        .into_iter()
        .flat_map(|o| o.values_mut())
    {
        for op in item
            .as_object_mut()
            .into_iter()
            .flat_map(|o| o.values_mut())
        {
            if let Some(reqs) = op.get_mut("security").and_then(Value::as_array_mut) {
                reqs.retain(|r| r.get("cookie_auth").is_none());
            }
        }
    }
}

#[tokio::test]
async fn bad_requests_are_problems() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;

    assert_problem(
        app.http
            .get(app.url("/no/such/route"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;

    let res = app
        .http
        .put(app.url("/v1/videos"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    let allow = res.headers()["allow"].to_str().unwrap().to_owned();
    assert_problem(res, 405, "method_not_allowed").await;
    assert_eq!(allow, "GET, POST");

    let res = app
        .http
        .post(app.url("/v1/videos"))
        .bearer_auth(&user.token)
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "malformed_json").await;

    let res = app
        .http
        .post(app.url("/v1/videos"))
        .bearer_auth(&user.token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(res, 415, "unsupported_media_type").await;

    let res = app
        .http
        .post(app.url("/v1/videos"))
        .bearer_auth(&user.token)
        .header("content-type", "application/json")
        .body(vec![b' '; 10 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_problem(res, 413, "payload_too_large").await;

    let res = app
        .http
        .post(app.url("/v1/videos"))
        .bearer_auth(&user.token)
        .json(&serde_json::json!({"title": "x", "content_type": "video/avi", "size_bytes": 10}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "invalid_body").await;

    let res = app
        .http
        .get(app.url("/v1/videos?limit=1000"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "invalid_query").await;

    let res = app
        .http
        .get(app.url("/v1/videos?cursor=bogus"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "invalid_cursor").await;
}

#[tokio::test]
async fn request_ids_are_echoed_when_sane_and_replaced_otherwise() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-abc.123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-abc.123");

    let hostile = "x\",\"level\":\"ERROR";
    let res = app
        .http
        .get(app.url("/nope"))
        .header("x-request-id", hostile)
        .send()
        .await
        .unwrap();
    let echoed = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(echoed, hostile);
    assert!(echoed.chars().all(|c| c.is_ascii_alphanumeric()));

    // Every access line is JSON with the request id, method, route, status and latency.
    let access: Vec<Value> = app
        .process
        .lines_when(|ls| {
            ls.iter()
                .any(|l| l.contains("trace-abc.123") && l.contains("\"target\":\"access\""))
        })
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "access")
        .collect();
    let line = access
        .iter()
        .find(|v| v["span"]["request_id"] == "trace-abc.123")
        .expect("access line for the request");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "/healthz");
    assert_eq!(line["status"], 200);
    assert!(line["latency_ms"].is_number());
    assert!(line["client_ip"].is_string());
}

#[tokio::test]
async fn tokens_are_checked() {
    let app = TestApp::spawn().await;
    let res = app.http.get(app.url("/v1/videos")).send().await.unwrap();
    assert_problem(res, 401, "unauthenticated").await;

    let user = app.new_user().await;
    let cases = [
        (
            "expired",
            app.mint_token(&user.id, &user.session_id, -120, None),
        ),
        (
            "wrong audience",
            app.mint_token(&user.id, &user.session_id, 600, Some("someone-else")),
        ),
        ("garbage", "not.a.jwt".to_owned()),
        ("tampered", format!("{}x", user.token)),
        (
            "not a user id",
            app.mint_token("admin", &user.session_id, 600, None),
        ),
    ];
    for (name, token) in cases {
        let res = app
            .http
            .get(app.url("/v1/videos"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{name}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer", "{name}");
        assert_problem(res, 401, "invalid_token").await;
    }
    let res = app
        .http
        .get(app.url("/v1/videos"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = TestApp::spawn().await;
    let allowed = std::env::var("POSTIQO_ALLOWED_ORIGINS").unwrap();
    let origin = allowed.split(',').next().unwrap().trim().to_owned();
    let res = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/v1/videos"))
        .header("origin", &origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        origin.as_str()
    );
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");

    let res = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/v1/videos"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert!(res.status().is_client_error());
}
