//! What TikTok pulls: `HEAD` like `GET`, and only the bytes upload-complete verified.

use std::time::{Duration, Instant};

use postiqo_e2e::{TestApp, TestAppBuilder, TestUser};
use reqwest::Method;
use serde_json::{Value, json};

fn public() -> Value {
    json!({"privacy_level": "SELF_ONLY", "disable_comment": false, "disable_duet": false,
           "disable_stitch": false, "brand_content_toggle": false, "brand_organic_toggle": false, "is_aigc": false})
}

async fn problem_code(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

/// The sandbox's record of the (only) publish of this test: its media URL and what it pulled.
async fn sandbox_publish(app: &TestApp) -> Value {
    let publishes = app.sandbox(Method::GET, "/publishes", None).await;
    let all = publishes.as_array().unwrap();
    assert_eq!(all.len(), 1, "{publishes}");
    all[0].clone()
}

/// A video uploaded and verified, plus the presigned PUT that uploaded it (still valid).
async fn uploaded_with_url(app: &TestApp, user: &TestUser, bytes: Vec<u8>) -> (String, Value) {
    let created = app
        .create_video_ok(user, "clip", "video/mp4", bytes.len() as u64)
        .await;
    let id = created["video"]["id"].as_str().unwrap().to_owned();
    let put = app.send_presigned(&created["upload"], bytes).await;
    assert!(put.status().is_success());
    let done = app.complete_upload(user, &id, None).await;
    assert_eq!(done.status(), 200, "{}", done.text().await.unwrap());
    (id, created["upload"].clone())
}

/// Bytes of the declared size that verification would refuse (not a video).
fn not_a_video(len: usize) -> Vec<u8> {
    postiqo_e2e::png_bytes(len)
}

#[tokio::test]
async fn head_answers_like_get_without_the_body() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let id = app.uploaded_video(&user, 10_000).await;
    assert_eq!(app.publish(&user, &id, "k", public()).await.status(), 202);
    app.wait_for_status(&user, &id, "PUBLISHED", 30).await;
    let url = sandbox_publish(&app).await["video_url"]
        .as_str()
        .unwrap()
        .to_owned();

    for range in [None, Some("bytes=100-1099"), Some("bytes=-10")] {
        let request = |method: Method| {
            let mut req = app.http.request(method, &url);
            if let Some(r) = range {
                req = req.header("range", r);
            }
            req.send()
        };
        let get = request(Method::GET).await.unwrap();
        let head = request(Method::HEAD).await.unwrap();
        assert_eq!(head.status(), get.status(), "{range:?}");
        assert!(get.status().is_success(), "{range:?}: {}", get.status());
        for name in [
            "content-length",
            "content-type",
            "content-range",
            "accept-ranges",
            "cache-control",
        ] {
            assert_eq!(
                head.headers().get(name),
                get.headers().get(name),
                "{name} for {range:?}"
            );
        }
        let get_len: usize = get.headers()["content-length"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(get.bytes().await.unwrap().len(), get_len);
        assert!(head.bytes().await.unwrap().is_empty(), "no body for HEAD");
    }

    // Refusals too: an unknown token is 404 for both.
    let forged = format!("{}x", url);
    for method in [Method::GET, Method::HEAD] {
        let res = app
            .http
            .request(method.clone(), &forged)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{method}");
    }
}

#[tokio::test]
async fn s3_serves_a_conditioned_read_only_the_content_it_names() {
    // The semantics the pin relies on, checked against the storage server itself.
    let app = TestApp::spawn().await;
    let s3 = postiqo_e2e::s3_client().await;
    let key = "probe/if-match";
    let put = |body: &'static [u8]| {
        s3.put_object()
            .bucket(&app.bucket)
            .key(key)
            .body(body.to_vec().into())
            .send()
    };
    let first = put(b"verified bytes").await.unwrap().e_tag.unwrap();
    let head = s3
        .head_object()
        .bucket(&app.bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag.as_deref(), Some(first.as_str()));
    let ok = s3
        .get_object()
        .bucket(&app.bucket)
        .key(key)
        .if_match(&first)
        .range("bytes=0-7")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ok.body.collect().await.unwrap().into_bytes().as_ref(),
        b"verified"
    );

    put(b"other  bytes!!").await.unwrap();
    let err = s3
        .get_object()
        .bucket(&app.bucket)
        .key(key)
        .if_match(&first)
        .send()
        .await
        .unwrap_err();
    let raw = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(raw, Some(412), "{err:?}");
}

#[tokio::test]
async fn bytes_written_after_verification_never_reach_tiktok() {
    // TikTok pulls three seconds after the init: time to overwrite the object under it.
    let app = TestAppBuilder::new()
        .env("SANDBOX_DOWNLOAD_DELAY_MS", "3000")
        .spawn()
        .await;
    let user = app.new_user().await;
    let (id, put_url) = uploaded_with_url(&app, &user, postiqo_e2e::mp4_bytes(8192)).await;
    let res = app.publish(&user, &id, "k1", public()).await;
    assert_eq!(res.status(), 202);

    // The still-valid upload URL overwrites the verified video with something else.
    let put = app.send_presigned(&put_url, not_a_video(8192)).await;
    assert!(put.status().is_success(), "the URL is still valid");

    let video = app.wait_for_status(&user, &id, "FAILED", 30).await;
    let failure = &video["tiktok"]["failure"];
    assert_eq!(failure["code"], "upload_changed", "{video}");
    assert_eq!(failure["retryable"], false);
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("upload it again"),
        "{failure}"
    );
    let publish = sandbox_publish(&app).await;
    assert_eq!(publish["fail_reason"], "video_pull_failed", "{publish}");
    assert_eq!(
        publish["downloaded_bytes"], 0,
        "not one overwritten byte reached TikTok"
    );

    // The media URL refuses the new bytes outright (GET and HEAD alike).
    let url = publish["video_url"].as_str().unwrap();
    for method in [Method::GET, Method::HEAD] {
        let res = app.http.request(method.clone(), url).send().await.unwrap();
        assert_eq!(res.status(), 409, "{method}");
    }
    let res = app.http.get(url).send().await.unwrap();
    assert_eq!(problem_code(res).await.1, "upload_changed");

    // Publishing again is refused at once, with the reason, and nothing goes to TikTok.
    let res = app.publish(&user, &id, "k2", public()).await;
    let (status, code) = problem_code(res).await;
    assert_eq!((status, code.as_str()), (409, "upload_changed"));
    let stats = app.sandbox(Method::GET, "/stats", None).await;
    let inits: u64 = stats["inits_by_open_id"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(inits, 1, "{stats}");
    assert_eq!(
        app.get_video(&user, &id)
            .await
            .json::<Value>()
            .await
            .unwrap()["status"],
        "FAILED"
    );
}

#[tokio::test]
async fn an_overwrite_before_publishing_is_refused_in_either_media_mode() {
    for mode in ["proxy", "presigned"] {
        let app = TestAppBuilder::new()
            .env("POSTIQO_MEDIA_MODE", mode)
            .spawn()
            .await;
        if mode == "presigned" {
            // TikTok pulls straight from the storage server.
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
        let user = app.new_user().await;
        let (id, put_url) = uploaded_with_url(&app, &user, postiqo_e2e::mp4_bytes(4096)).await;
        // Same bytes again: the same content, nothing to object to.
        let put = app
            .send_presigned(&put_url, postiqo_e2e::mp4_bytes(4096))
            .await;
        assert!(put.status().is_success());
        let (other_id, other_url) =
            uploaded_with_url(&app, &user, postiqo_e2e::mp4_bytes(4096)).await;
        let put = app.send_presigned(&other_url, not_a_video(4096)).await;
        assert!(put.status().is_success());

        let res = app.publish(&user, &other_id, "k-other", public()).await;
        let (status, code) = problem_code(res).await;
        assert_eq!((status, code.as_str()), (409, "upload_changed"), "{mode}");
        let video: Value = app.get_video(&user, &other_id).await.json().await.unwrap();
        assert_eq!(video["status"], "UPLOADED", "{mode}: nothing changed");

        // The video whose bytes are still the verified ones publishes normally.
        let res = app.publish(&user, &id, "k-same", public()).await;
        assert_eq!(res.status(), 202, "{mode}");
        let stats = app.sandbox(Method::GET, "/stats", None).await;
        let inits: u64 = stats["inits_by_open_id"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(inits, 1, "{mode}: only the untouched video reached TikTok");
    }
}

#[tokio::test]
async fn verification_file_lookups_do_not_reach_s3_each_time() {
    let app = TestApp::spawn().await;
    let dir = std::env::temp_dir().join(format!("postiqo-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tiktokHeadCheck9.txt");
    std::fs::write(&file, "tiktok-developers-site-verification=head").unwrap();
    let out = std::process::Command::new(postiqo_e2e::bin_path("postiqo-api"))
        .arg("tiktok-verification-file")
        .arg(&file)
        .env("POSTIQO_TABLE", &app.table)
        .env("POSTIQO_BUCKET", &app.bucket)
        .output()
        .unwrap();
    assert!(out.status.success());
    let url = app.url("/v1/media/tiktokHeadCheck9.txt");
    let head = app.http.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "40");
    assert!(head.bytes().await.unwrap().is_empty());

    // Hits and made-up names alike are answered from memory: with the bucket's files gone,
    // the instance still answers as it did (a new or removed file shows within a minute).
    let s3 = postiqo_e2e::s3_client().await;
    s3.delete_object()
        .bucket(&app.bucket)
        .key("site/tiktok-verification/tiktokHeadCheck9.txt")
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    for i in 0..200 {
        let res = app
            .http
            .get(app.url(&format!("/v1/media/tiktokMadeUp{i}.txt")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
    }
    let res = app.http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200, "served from the copy in memory");
    assert_eq!(
        res.text().await.unwrap(),
        "tiktok-developers-site-verification=head"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}
