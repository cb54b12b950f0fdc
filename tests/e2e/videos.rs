//! Reading, listing, editing and deleting videos; isolation between users.

use std::collections::HashSet;

use postiqo_e2e::TestApp;
use serde_json::{Value, json};

#[tokio::test]
async fn create_returns_video_and_presigned_put() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let body = app
        .create_video_ok(&user, "Morning run #running", "video/mp4", 1234)
        .await;
    let video = &body["video"];
    assert_eq!(video["status"], "PENDING");
    assert_eq!(video["title"], "Morning run #running");
    assert_eq!(video["size_bytes"], 1234);
    assert_eq!(video["storage"]["bucket"], app.bucket.as_str());
    let key = video["storage"]["key"].as_str().unwrap();
    assert!(
        key.starts_with(&format!("users/{}/videos/", user.id)),
        "{key}"
    );
    let upload = &body["upload"];
    assert_eq!(upload["kind"], "single");
    assert_eq!(upload["method"], "PUT");
    assert_eq!(upload["headers"]["content-type"], "video/mp4");
    assert!(upload["url"].as_str().unwrap().contains("X-Amz-Signature"));
    assert!(upload["expires_at"].is_string());
    assert_eq!(
        upload["complete_url"],
        format!(
            "/v1/videos/{}/upload-complete",
            video["id"].as_str().unwrap()
        )
    );
    assert_eq!(video["history"][0]["status"], "PENDING");
}

#[tokio::test]
async fn invalid_videos_are_refused_with_field_errors() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let cases = [
        (
            json!({"title": "x".repeat(2201), "content_type": "video/mp4", "size_bytes": 10}),
            "title",
        ),
        (
            json!({"title": "😀".repeat(1101), "content_type": "video/mp4", "size_bytes": 10}),
            "title",
        ),
        (
            json!({"title": "nul\u{0}byte", "content_type": "video/mp4", "size_bytes": 10}),
            "title",
        ),
        (
            json!({"title": "ok", "content_type": "video/mp4", "size_bytes": 0}),
            "size_bytes",
        ),
        (
            json!({"title": "ok", "content_type": "video/mp4", "size_bytes": 5_000_000_000u64}),
            "size_bytes",
        ),
    ];
    for (body, field) in cases {
        let res = app
            .http
            .post(app.url("/v1/videos"))
            .bearer_auth(&user.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{field}");
        let problem: Value = res.json().await.unwrap();
        assert_eq!(problem["code"], "validation_failed");
        assert_eq!(problem["errors"][0]["field"], field);
    }
    // Exactly 2200 UTF-16 units is fine.
    let res = app
        .create_video(&user, &"😀".repeat(1100), "video/mp4", 10)
        .await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn other_users_videos_are_invisible() {
    let app = TestApp::spawn().await;
    let alice = app.new_user().await;
    let bob = app.new_user().await;
    let created = app
        .create_video_ok(&alice, "alice's", "video/mp4", 100)
        .await;
    let id = created["video"]["id"].as_str().unwrap();

    let get = app.get_video(&bob, id).await;
    assert_eq!(get.status(), 404);
    let body: Value = get.json().await.unwrap();
    assert_eq!(body["code"], "video_not_found");
    assert!(!body.to_string().contains("alice's"));

    let patch = app
        .http
        .patch(app.url(&format!("/v1/videos/{id}")))
        .bearer_auth(&bob.token)
        .json(&json!({"title": "mine now"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 404);
    let del = app
        .http
        .delete(app.url(&format!("/v1/videos/{id}")))
        .bearer_auth(&bob.token)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 404);
    assert_eq!(app.complete_upload(&bob, id, None).await.status(), 404);
    let list: Value = app.get_json("/v1/videos", &bob.token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);

    let still: Value = app.get_video(&alice, id).await.json().await.unwrap();
    assert_eq!(still["title"], "alice's");
    assert_eq!(still["status"], "PENDING");

    // A malformed id is simply not found.
    assert_eq!(app.get_video(&alice, "../../etc").await.status(), 404);
}

#[tokio::test]
async fn listing_pages_newest_first_without_gaps_or_duplicates() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let mut created = Vec::new();
    for i in 0..45 {
        let body = app
            .create_video_ok(&user, &format!("v{i}"), "video/mp4", 10)
            .await;
        created.push(body["video"]["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut url = app.url("/v1/videos?limit=20");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = app
            .http
            .get(url)
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        if pages == 1 {
            // An insert between pages must not shift what the next pages return.
            app.create_video_ok(&user, "late", "video/mp4", 10).await;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates");
    let mut expected = created.clone();
    expected.reverse();
    assert_eq!(seen, expected, "all 45, newest first, no gaps");
}

#[tokio::test]
async fn status_filter_and_title_edit_and_delete() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let uploaded = app.uploaded_video(&user, 4096).await;
    let pending = app
        .create_video_ok(&user, "pending", "video/webm", 10)
        .await;
    let pending_id = pending["video"]["id"].as_str().unwrap();

    let list: Value = app
        .get_json("/v1/videos?status=UPLOADED", &user.token)
        .await;
    let ids: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![uploaded.as_str()]);

    let res = app
        .http
        .patch(app.url(&format!("/v1/videos/{uploaded}")))
        .bearer_auth(&user.token)
        .json(&json!({"title": "renamed ✨"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let got: Value = app.get_video(&user, &uploaded).await.json().await.unwrap();
    assert_eq!(got["title"], "renamed ✨");
    assert_eq!(got["status"], "UPLOADED");

    // Deleting removes the record and the object.
    let key = got["storage"]["key"].as_str().unwrap().to_owned();
    let s3 = postiqo_e2e::s3_client().await;
    assert!(
        s3.head_object()
            .bucket(&app.bucket)
            .key(&key)
            .send()
            .await
            .is_ok()
    );
    let res = app
        .http
        .delete(app.url(&format!("/v1/videos/{uploaded}")))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(app.get_video(&user, &uploaded).await.status(), 404);
    assert!(
        s3.head_object()
            .bucket(&app.bucket)
            .key(&key)
            .send()
            .await
            .is_err(),
        "object gone"
    );

    let res = app
        .http
        .delete(app.url(&format!("/v1/videos/{pending_id}")))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}
