//! Direct-to-S3 uploads through real presigned requests against the local S3 server.

use std::time::Duration;

use postiqo_e2e::{TestApp, TestAppBuilder, mp4_bytes, png_bytes};
use serde_json::{Value, json};

#[tokio::test]
async fn presigned_put_then_complete_marks_uploaded() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let created = app.create_video_ok(&user, "clip", "video/mp4", 2048).await;
    let id = created["video"]["id"].as_str().unwrap();
    let put = app
        .send_presigned(&created["upload"], mp4_bytes(2048))
        .await;
    assert_eq!(put.status(), 200);
    let res = app.complete_upload(&user, id, None).await;
    assert_eq!(res.status(), 200);
    let video: Value = res.json().await.unwrap();
    assert_eq!(video["status"], "UPLOADED");
    let statuses: Vec<_> = video["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].clone())
        .collect();
    assert_eq!(statuses, vec![json!("PENDING"), json!("UPLOADED")]);
    // Confirmed objects lose the "pending" tag the lifecycle rule expires.
    let s3 = postiqo_e2e::s3_client().await;
    let key = video["storage"]["key"].as_str().unwrap();
    let tags = s3
        .get_object_tagging()
        .bucket(&app.bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let tags: Vec<_> = tags
        .tag_set()
        .iter()
        .map(|t| format!("{}={}", t.key(), t.value()))
        .collect();
    assert_eq!(tags, vec!["postiqo-upload=confirmed".to_owned()]);
    // Calling it again answers with the same video.
    let again: Value = app
        .complete_upload(&user, id, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["status"], "UPLOADED");
    assert_eq!(again["updated_at"], video["updated_at"]);
}

#[tokio::test]
async fn s3_refuses_other_sizes_and_types() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let created = app.create_video_ok(&user, "clip", "video/mp4", 1000).await;
    let upload = &created["upload"];

    let longer = app.send_presigned(upload, mp4_bytes(1001)).await;
    assert!(
        longer.status().is_client_error(),
        "longer body: {}",
        longer.status()
    );
    let shorter = app.send_presigned(upload, mp4_bytes(999)).await;
    assert!(
        shorter.status().is_client_error(),
        "shorter body: {}",
        shorter.status()
    );

    let mut other_type = upload.clone();
    other_type["headers"]["content-type"] = json!("video/webm");
    let res = app.send_presigned(&other_type, mp4_bytes(1000)).await;
    assert!(
        res.status().is_client_error(),
        "other type: {}",
        res.status()
    );

    let id = created["video"]["id"].as_str().unwrap();
    let res = app.complete_upload(&user, id, None).await;
    assert_eq!(res.status(), 409, "nothing was stored");
}

#[tokio::test]
async fn expired_presigned_url_is_refused() {
    let app = TestAppBuilder::new()
        // Long enough that the fresh URL below is still valid when a busy machine sends it
        // (the signature's clock has whole seconds), short enough to wait out once.
        .env("POSTIQO_UPLOAD_URL_TTL_SECS", "3")
        .spawn()
        .await;
    let user = app.new_user().await;
    let created = app.create_video_ok(&user, "clip", "video/mp4", 100).await;
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let res = app.send_presigned(&created["upload"], mp4_bytes(100)).await;
    assert_eq!(res.status(), 403);

    // A fresh URL can be asked for and works.
    let id = created["video"]["id"].as_str().unwrap();
    let fresh: Value = app
        .http
        .post(app.url(&format!("/v1/videos/{id}/upload-url")))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let res = app.send_presigned(&fresh, mp4_bytes(100)).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn completing_early_or_with_a_non_video_keeps_it_pending() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let created = app.create_video_ok(&user, "clip", "video/mp4", 1024).await;
    let id = created["video"]["id"].as_str().unwrap();
    let key = created["video"]["storage"]["key"]
        .as_str()
        .unwrap()
        .to_owned();

    assert!(
        created["upload"]["headers"]["x-amz-tagging"].is_string(),
        "uploads are tagged pending until confirmed: {}",
        created["upload"]
    );
    let early = app.complete_upload(&user, id, None).await;
    assert_eq!(early.status(), 409);
    assert_eq!(
        early.json::<Value>().await.unwrap()["code"],
        "upload_missing"
    );
    assert_eq!(
        app.get_video(&user, id)
            .await
            .json::<Value>()
            .await
            .unwrap()["status"],
        "PENDING"
    );

    // A PNG renamed .mp4: right size and declared type, wrong bytes.
    let put = app
        .send_presigned(&created["upload"], png_bytes(1024))
        .await;
    assert_eq!(put.status(), 200);
    let res = app.complete_upload(&user, id, None).await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "upload_not_a_video"
    );
    let s3 = postiqo_e2e::s3_client().await;
    assert!(
        s3.head_object()
            .bucket(&app.bucket)
            .key(&key)
            .send()
            .await
            .is_err(),
        "object deleted"
    );
    assert_eq!(
        app.get_video(&user, id)
            .await
            .json::<Value>()
            .await
            .unwrap()["status"],
        "PENDING"
    );

    // The client uploads the right file and succeeds.
    let put = app
        .send_presigned(&created["upload"], mp4_bytes(1024))
        .await;
    assert_eq!(put.status(), 200);
    assert_eq!(app.complete_upload(&user, id, None).await.status(), 200);
}

#[tokio::test]
async fn concurrent_completions_make_one_transition() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let created = app.create_video_ok(&user, "clip", "video/mp4", 1024).await;
    let id = created["video"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.send_presigned(&created["upload"], mp4_bytes(1024))
            .await
            .status(),
        200
    );

    let calls = (0..8).map(|_| app.complete_upload(&user, &id, None));
    let results = futures_util::future::join_all(calls).await;
    let mut bodies = Vec::new();
    for res in results {
        assert_eq!(res.status(), 200);
        bodies.push(res.json::<Value>().await.unwrap());
    }
    for b in &bodies {
        assert_eq!(b["status"], "UPLOADED");
        assert_eq!(
            b["updated_at"], bodies[0]["updated_at"],
            "everyone sees the one transition"
        );
    }
    let final_video: Value = app.get_video(&user, &id).await.json().await.unwrap();
    assert_eq!(
        final_video["history"].as_array().unwrap().len(),
        2,
        "exactly one UPLOADED entry"
    );
}

#[tokio::test]
async fn multipart_upload_of_200_mib() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let size: usize = 200 * 1024 * 1024;
    let created = app
        .create_video_ok(&user, "big", "video/mp4", size as u64)
        .await;
    let id = created["video"]["id"].as_str().unwrap().to_owned();
    let upload = &created["upload"];
    assert_eq!(upload["kind"], "multipart");
    let parts = upload["parts"].as_array().unwrap().clone();
    let part_size = upload["part_size"].as_u64().unwrap() as usize;
    assert_eq!(parts.len(), size.div_ceil(part_size));

    let data = mp4_bytes(size);
    // A lost part URL can be asked for again.
    let again: Value = app
        .http
        .post(app.url(&format!("/v1/videos/{id}/upload-parts")))
        .bearer_auth(&user.token)
        .json(&json!({"part_numbers": [1]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut parts_to_send = parts.clone();
    parts_to_send[0] = again["parts"][0].clone();

    let mut completed = Vec::new();
    for part in &parts_to_send {
        let n = part["part_number"].as_u64().unwrap() as usize;
        let len = part["size_bytes"].as_u64().unwrap() as usize;
        let start = (n - 1) * part_size;
        let res = app
            .send_presigned(part, data[start..start + len].to_vec())
            .await;
        assert_eq!(res.status(), 200, "part {n}");
        let etag = res.headers()["etag"].to_str().unwrap().to_owned();
        completed.push(json!({"part_number": n, "etag": etag}));
    }
    // Without the parts list the API cannot complete a multipart upload.
    assert_eq!(app.complete_upload(&user, &id, None).await.status(), 422);
    let res = app
        .complete_upload(&user, &id, Some(json!({"parts": completed})))
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let video: Value = app.get_video(&user, &id).await.json().await.unwrap();
    assert_eq!(video["status"], "UPLOADED");
    assert_eq!(video["upload_kind"], "multipart");
}

#[tokio::test]
async fn multipart_with_wrong_etags_is_refused() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let size: usize = 70 * 1024 * 1024;
    let created = app
        .create_video_ok(&user, "big", "video/mp4", size as u64)
        .await;
    let id = created["video"]["id"].as_str().unwrap().to_owned();
    let parts = created["upload"]["parts"].as_array().unwrap();
    let data = mp4_bytes(size);
    let part_size = created["upload"]["part_size"].as_u64().unwrap() as usize;
    let mut completed = Vec::new();
    for part in parts {
        let n = part["part_number"].as_u64().unwrap() as usize;
        let len = part["size_bytes"].as_u64().unwrap() as usize;
        let start = (n - 1) * part_size;
        let res = app
            .send_presigned(part, data[start..start + len].to_vec())
            .await;
        assert_eq!(res.status(), 200);
        completed.push(json!({"part_number": n, "etag": "\"0000000000000000000000000000000\""}));
    }
    let res = app
        .complete_upload(&user, &id, Some(json!({"parts": completed})))
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "upload_parts_invalid"
    );
    assert_eq!(
        app.get_video(&user, &id)
            .await
            .json::<Value>()
            .await
            .unwrap()["status"],
        "PENDING"
    );
}

#[tokio::test]
async fn presigned_urls_are_signed_for_the_public_s3_endpoint() {
    // The API reaches S3 at 127.0.0.1; browsers are told to use "localhost" (as when S3 sits
    // behind another name for them). The signature covers the host, so it must be signed for
    // the public one — and S3 accepts it there.
    let internal = std::env::var("AWS_ENDPOINT_URL_S3")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .unwrap();
    let public = internal.replace("127.0.0.1", "localhost");
    assert_ne!(public, internal);
    let app = TestAppBuilder::new()
        .env("POSTIQO_S3_PUBLIC_ENDPOINT", &public)
        .spawn()
        .await;
    let user = app.new_user().await;
    let created = app.create_video_ok(&user, "clip", "video/mp4", 1024).await;
    let url = created["upload"]["url"].as_str().unwrap();
    assert!(url.starts_with(&public), "{url}");
    let put = app
        .send_presigned(&created["upload"], mp4_bytes(1024))
        .await;
    assert_eq!(put.status(), 200);
    let id = created["video"]["id"].as_str().unwrap();
    assert_eq!(app.complete_upload(&user, id, None).await.status(), 200);
}
