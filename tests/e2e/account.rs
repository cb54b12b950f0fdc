//! The user's rights: export, disconnect TikTok, delete the account. Each test proves that
//! nothing is left behind by looking where the data lives: a full scan of the table, a listing
//! of the bucket (objects and unfinished multipart uploads) and the sandbox's view of our
//! TikTok grants.

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use postiqo_e2e::{
    ChildProcess, Item, TestApp, TestAppBuilder, TestUser, free_port, mp4_bytes, scan_table,
};
use reqwest::Method;
use serde_json::{Value, json};

fn text_of(v: &AttributeValue, out: &mut String) {
    match v {
        AttributeValue::S(s) | AttributeValue::N(s) => {
            out.push_str(s);
            out.push('\n');
        }
        AttributeValue::L(l) => l.iter().for_each(|v| text_of(v, out)),
        AttributeValue::M(m) => m.values().for_each(|v| text_of(v, out)),
        AttributeValue::Ss(l) => l.iter().for_each(|s| out.push_str(s)),
        _ => {}
    }
}

/// Items that belong to or mention the user: its partition, its identity, or any attribute
/// naming its id or TikTok open_id.
fn items_of<'a>(items: &'a [Item], user_id: &str, open_id: &str) -> Vec<&'a Item> {
    items
        .iter()
        .filter(|item| {
            let mut text = String::new();
            item.values().for_each(|v| text_of(v, &mut text));
            text.contains(user_id) || text.contains(open_id)
        })
        .collect()
}

fn attr<'a>(item: &'a Item, name: &str) -> &'a str {
    item.get(name).and_then(|v| v.as_s().ok()).map_or("", |s| s)
}

/// Every object key and every unfinished multipart upload key of the bucket.
async fn bucket_keys(s3: &aws_sdk_s3::Client, bucket: &str) -> (Vec<String>, Vec<String>) {
    let mut objects = Vec::new();
    let mut token = None;
    loop {
        let out = s3
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token.take())
            .send()
            .await
            .unwrap();
        objects.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        token = out.next_continuation_token;
        if token.is_none() {
            break;
        }
    }
    let uploads = s3
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .uploads()
        .iter()
        .filter_map(|u| u.key().map(str::to_owned))
        .collect();
    (objects, uploads)
}

async fn me(app: &TestApp, user: &TestUser) -> Value {
    let res = app
        .http
        .get(app.url("/v1/me"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn status_and_code(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

async fn delete_account(app: &TestApp, user: &TestUser) -> reqwest::Response {
    app.http
        .delete(app.url("/v1/me"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap()
}

/// A video with an unfinished multipart upload holding one uploaded part.
async fn unfinished_multipart(app: &TestApp, user: &TestUser) -> String {
    let size: usize = 70 * 1024 * 1024;
    let created = app
        .create_video_ok(user, "half uploaded", "video/mp4", size as u64)
        .await;
    assert_eq!(created["upload"]["kind"], "multipart");
    let part = &created["upload"]["parts"][0];
    let len = part["size_bytes"].as_u64().unwrap() as usize;
    let res = app.send_presigned(part, mp4_bytes(len)).await;
    assert_eq!(res.status(), 200, "part 1");
    created["video"]["id"].as_str().unwrap().to_owned()
}

async fn publish(app: &TestApp, user: &TestUser, id: &str) -> Value {
    let res = app
        .http
        .post(app.url(&format!("/v1/videos/{id}/publish")))
        .bearer_auth(&user.token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&json!({"privacy_level": "SELF_ONLY"}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 202, "publish: {body}");
    body
}

async fn wait_for_status(app: &TestApp, user: &TestUser, id: &str, want: &str) -> Value {
    let started = Instant::now();
    loop {
        let video: Value = app.get_video(user, id).await.json().await.unwrap();
        if video["status"] == want {
            return video;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "video {id} never became {want}: {video}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Videos of `user` in every state: PENDING (single, and multipart with an unfinished upload),
/// UPLOADED, PUBLISHED, FAILED and PUBLISHING (TikTok still downloading). Returns their ids.
async fn videos_in_every_state(app: &TestApp, user: &TestUser) -> Vec<String> {
    let pending = app
        .create_video_ok(user, "never uploaded", "video/mp4", 1000)
        .await["video"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let multipart = unfinished_multipart(app, user).await;
    let uploaded = app.uploaded_video(user, 2048).await;

    let published = app.uploaded_video(user, 4096).await;
    publish(app, user, &published).await;
    wait_for_status(app, user, &published, "PUBLISHED").await;

    // TikTok refuses the init when the media URL is not under a verified prefix.
    let failed = app.uploaded_video(user, 4096).await;
    let settings = app.sandbox(Method::GET, "/settings", None).await;
    app.sandbox(
        Method::PATCH,
        "/settings",
        Some(json!({"verified_url_prefixes": ["https://elsewhere.example/"]})),
    )
    .await;
    publish(app, user, &failed).await;
    wait_for_status(app, user, &failed, "FAILED").await;
    app.sandbox(
        Method::PATCH,
        "/settings",
        Some(json!({"verified_url_prefixes": settings["verified_url_prefixes"]})),
    )
    .await;

    // TikTok keeps downloading for a minute: the video stays PUBLISHING.
    let publishing = app.uploaded_video(user, 4096).await;
    app.sandbox(
        Method::PATCH,
        "/settings",
        Some(json!({"download_delay_ms": 60_000})),
    )
    .await;
    let video = publish(app, user, &publishing).await;
    assert_eq!(video["status"], "PUBLISHING", "{video}");

    vec![pending, multipart, uploaded, published, failed, publishing]
}

#[tokio::test]
async fn deleting_the_account_leaves_nothing_of_it_and_touches_no_one_else() {
    let app = TestApp::spawn().await;
    let (ddb, s3) = postiqo_e2e::aws_clients().await;
    let user = app.new_user().await;
    let other = app.new_user().await;
    let open_id = me(&app, &user).await["open_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_open_id = me(&app, &other).await["open_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A second device of the same user.
    let (browser, _) = app.sign_in_browser(&user.username).await;

    let other_video = app.uploaded_video(&other, 1024).await;
    let other_pending = unfinished_multipart(&app, &other).await;
    let ids = videos_in_every_state(&app, &user).await;
    let publishing = ids.last().unwrap().clone();

    let before = scan_table(&ddb, &app.table).await;
    assert!(items_of(&before, &user.id, &open_id).len() >= ids.len() + 4);
    let other_before: Vec<Item> = items_of(&before, &other.id, &other_open_id)
        .into_iter()
        .cloned()
        .collect();
    let (objects, uploads) = bucket_keys(&s3, &app.bucket).await;
    let prefix = format!("users/{}/", user.id);
    let other_prefix = format!("users/{}/", other.id);
    assert!(objects.iter().filter(|k| k.starts_with(&prefix)).count() >= 4);
    assert!(uploads.iter().any(|k| k.starts_with(&prefix)));
    let other_objects: Vec<&String> = objects
        .iter()
        .filter(|k| k.starts_with(&other_prefix))
        .collect();
    let stats = app.sandbox(Method::GET, "/stats", None).await;
    let revoked_before = stats["revoked_tokens"].as_array().unwrap().len();
    let grants_before = stats["active_grants"].as_u64().unwrap();

    let res = delete_account(&app, &user).await;
    assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());

    // Nothing of the user in the table, the bucket or its unfinished uploads.
    let after = scan_table(&ddb, &app.table).await;
    let left = items_of(&after, &user.id, &open_id);
    assert!(left.is_empty(), "left behind: {left:?}");
    let (objects, uploads) = bucket_keys(&s3, &app.bucket).await;
    assert!(
        !objects.iter().any(|k| k.starts_with(&prefix)),
        "objects left: {objects:?}"
    );
    assert!(
        !uploads.iter().any(|k| k.starts_with(&prefix)),
        "uploads left: {uploads:?}"
    );

    // TikTok saw our grant revoked (exactly one: the other user's is alive), and the publish
    // still downloading was stopped.
    let stats = app.sandbox(Method::GET, "/stats", None).await;
    assert_eq!(
        stats["revoked_tokens"].as_array().unwrap().len(),
        revoked_before + 1
    );
    assert_eq!(stats["active_grants"].as_u64().unwrap(), grants_before - 1);
    let publishes = app.sandbox(Method::GET, "/publishes", None).await;
    let mine: Vec<&Value> = publishes
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["open_id"] == open_id.as_str())
        .collect();
    assert!(
        mine.iter().all(|p| p["status"] != "PROCESSING_DOWNLOAD"),
        "a publish is still running: {mine:?}"
    );
    assert!(
        mine.iter()
            .any(|p| p["status"] == "FAILED" && p["fail_reason"] == "publish_cancelled"),
        "the publish of {publishing} was cancelled: {mine:?}"
    );

    // Every session of the user is gone: bearer, cookie, refresh.
    assert_eq!(me_status(&app, &user).await, 401);
    assert_eq!(
        browser
            .get(app.url("/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let res = app
        .http
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({"refresh_token": user.refresh_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // The other user is untouched: same records, same objects, videos and TikTok access work.
    let other_after: Vec<Item> = items_of(&after, &other.id, &other_open_id)
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(other_after.len(), other_before.len());
    for item in &other_before {
        assert!(
            other_after.contains(item),
            "changed: {:?} {:?}",
            attr(item, "PK"),
            attr(item, "SK")
        );
    }
    let (objects, uploads) = bucket_keys(&s3, &app.bucket).await;
    for key in &other_objects {
        assert!(objects.contains(key), "{key} was deleted");
    }
    assert!(uploads.iter().any(|k| k.starts_with(&other_prefix)));
    assert_eq!(app.get_video(&other, &other_video).await.status(), 200);
    assert_eq!(app.get_video(&other, &other_pending).await.status(), 200);
    let res = app
        .http
        .post(app.url("/v1/me/sync"))
        .bearer_auth(&other.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "the other user's TikTok access still works"
    );

    // Signing in again with the same TikTok account starts from nothing.
    let again = app.sign_in(&user.username).await;
    assert_ne!(again.id, user.id);
    let list: Value = app.get_json("/v1/videos", &again.token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
}

async fn me_status(app: &TestApp, user: &TestUser) -> u16 {
    app.http
        .get(app.url("/v1/me"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn profile_marked(ddb: &aws_sdk_dynamodb::Client, table: &str, user_id: &str) -> bool {
    let out = ddb
        .get_item()
        .table_name(table)
        .key("PK", AttributeValue::S(format!("USER#{user_id}")))
        .key("SK", AttributeValue::S("PROFILE".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.item
        .is_some_and(|i| !attr(&i, "deletion_requested_at").is_empty())
}

fn signal(process: &ChildProcess, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(process.pid().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig}");
}

/// SDK clients for a private storage server.
async fn clients_for(endpoint: &str) -> (aws_sdk_dynamodb::Client, aws_sdk_s3::Client) {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    (aws_sdk_dynamodb::Client::new(&sdk), s3)
}

#[tokio::test]
async fn an_interrupted_deletion_is_finished_by_running_it_again() {
    // A private storage server: freezing it cannot disturb the other tests. SIGSTOP (not a
    // kill) keeps its in-memory data, like a real outage that ends.
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let ministack = postiqo_e2e::start_private_ministack(port);
    let app = TestAppBuilder::new()
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ENDPOINT_URL_DYNAMODB", &endpoint)
        .env("AWS_ENDPOINT_URL_S3", &endpoint)
        .spawn()
        .await;
    let (ddb, s3) = clients_for(&endpoint).await;
    let user = app.new_user().await;
    let open_id = me(&app, &user).await["open_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for size in [1024, 2048, 4096] {
        app.uploaded_video(&user, size).await;
    }
    unfinished_multipart(&app, &user).await;

    // TikTok takes 4 s to answer the revoke; storage stops while it does, so the deletion is
    // cut off after it has marked the account and revoked the grant, before any data went.
    app.sandbox(
        Method::POST,
        "/faults",
        Some(json!({"path": "/v2/oauth/revoke/", "kind": "delay", "delay_ms": 4000, "count": 1})),
    )
    .await;
    let deletion = {
        let http = app.http.clone();
        let url = app.url("/v1/me");
        let token = user.token.clone();
        tokio::spawn(async move { http.delete(url).bearer_auth(token).send().await.unwrap() })
    };
    // The mark comes first; the few reads before the revoke take milliseconds.
    let started = Instant::now();
    while !profile_marked(&ddb, &app.table, &user.id).await {
        assert!(started.elapsed() < Duration::from_secs(10), "never marked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    signal(&ministack, "STOP");
    let res = deletion.await.unwrap();
    signal(&ministack, "CONT");
    let (status, code) = status_and_code(res).await;
    assert_eq!((status, code.as_str()), (503, "storage_unavailable"));

    // Half deleted: marked, but the records and objects are still there.
    let items = scan_table(&ddb, &app.table).await;
    let left = items_of(&items, &user.id, &open_id);
    let profile = left
        .iter()
        .find(|i| attr(i, "SK") == "PROFILE")
        .expect("the profile is kept until the end");
    assert!(
        !attr(profile, "deletion_requested_at").is_empty(),
        "marked as being deleted: {profile:?}"
    );
    assert!(left.iter().any(|i| attr(i, "SK").starts_with("VIDEO#")));
    let stats = app.sandbox(Method::GET, "/stats", None).await;
    assert_eq!(stats["revoked_tokens"].as_array().unwrap().len(), 1);

    // The same session runs it again: this time it completes.
    let res = delete_account(&app, &user).await;
    assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
    let items = scan_table(&ddb, &app.table).await;
    let left = items_of(&items, &user.id, &open_id);
    assert!(left.is_empty(), "left behind: {left:?}");
    let (objects, uploads) = bucket_keys(&s3, &app.bucket).await;
    let prefix = format!("users/{}/", user.id);
    assert!(
        !objects.iter().any(|k| k.starts_with(&prefix)),
        "{objects:?}"
    );
    assert!(
        !uploads.iter().any(|k| k.starts_with(&prefix)),
        "{uploads:?}"
    );
    assert_eq!(me_status(&app, &user).await, 401);
    drop(ministack);
}

#[tokio::test]
async fn signing_in_to_a_half_deleted_account_finishes_the_deletion_instead_of_reviving_it() {
    let app = TestApp::spawn().await;
    let (ddb, s3) = postiqo_e2e::aws_clients().await;
    let user = app.new_user().await;
    let open_id = me(&app, &user).await["open_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.uploaded_video(&user, 1024).await;
    unfinished_multipart(&app, &user).await;

    // The state an interrupted deletion leaves: the profile marked, everything else there.
    ddb.update_item()
        .table_name(&app.table)
        .key("PK", AttributeValue::S(format!("USER#{}", user.id)))
        .key("SK", AttributeValue::S("PROFILE".into()))
        .update_expression("SET deletion_requested_at = :t")
        .expression_attribute_values(":t", AttributeValue::S(chrono::Utc::now().to_rfc3339()))
        .send()
        .await
        .unwrap();

    // A sign-in with the same TikTok account gets a new, empty account; the old one is gone.
    let again = app.sign_in(&user.username).await;
    assert_ne!(again.id, user.id);
    let me_again = me(&app, &again).await;
    assert_eq!(me_again["open_id"], open_id.as_str());
    assert_eq!(me_again["tiktok"], "connected");
    let list: Value = app.get_json("/v1/videos", &again.token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let items = scan_table(&ddb, &app.table).await;
    let old: Vec<&Item> = items
        .iter()
        .filter(|i| attr(i, "PK") == format!("USER#{}", user.id))
        .collect();
    assert!(old.is_empty(), "old records: {old:?}");
    let (objects, uploads) = bucket_keys(&s3, &app.bucket).await;
    let prefix = format!("users/{}/", user.id);
    assert!(
        !objects.iter().any(|k| k.starts_with(&prefix)),
        "{objects:?}"
    );
    assert!(
        !uploads.iter().any(|k| k.starts_with(&prefix)),
        "{uploads:?}"
    );
    // The old session went with the old account.
    assert_eq!(me_status(&app, &user).await, 401);
}

#[tokio::test]
async fn deletion_and_disconnect_go_ahead_when_tiktok_is_down() {
    let app = TestApp::spawn().await;
    let (ddb, _) = postiqo_e2e::aws_clients().await;
    app.sandbox(
        Method::POST,
        "/faults",
        Some(json!({"path": "/v2/oauth/revoke/", "kind": "server_error", "status": 503, "count": 100})),
    )
    .await;

    // Disconnect: our tokens and sessions go anyway; the answer says the revoke failed.
    let user = app.new_user().await;
    let res = app
        .http
        .post(app.url("/v1/auth/tiktok/disconnect"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["revocation"], "failed");
    assert_eq!(me_status(&app, &user).await, 401);
    let items = scan_table(&ddb, &app.table).await;
    assert!(
        !items
            .iter()
            .any(|i| attr(i, "PK") == format!("USER#{}", user.id)
                && attr(i, "SK") == "TIKTOK_TOKENS"),
        "the tokens are deleted"
    );

    // Deletion: completes.
    let other = app.new_user().await;
    let open_id = me(&app, &other).await["open_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.uploaded_video(&other, 1024).await;
    let res = delete_account(&app, &other).await;
    assert_eq!(res.status(), 204);
    let items = scan_table(&ddb, &app.table).await;
    assert!(items_of(&items, &other.id, &open_id).is_empty());

    // The outcome is logged (and no token with it).
    let logs = app.process.lines_when(|ls| {
        ls.iter()
            .filter(|l| l.contains("TikTok revoke failed"))
            .count()
            >= 2
            && ls.iter().any(|l| l.contains("account deleted"))
    });
    let failed: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("TikTok revoke failed"))
        .collect();
    assert_eq!(failed.len(), 2, "{}", logs.join("\n"));
    assert!(
        logs.iter()
            .any(|l| l.contains("account deleted") && l.contains("\"revocation\":\"failed\""))
    );
    for l in &logs {
        for secret in [
            &user.token,
            &user.refresh_token,
            &other.token,
            &other.refresh_token,
        ] {
            assert!(!l.contains(secret.as_str()), "a token in the logs: {l}");
        }
    }
    assert_eq!(
        app.sandbox(Method::GET, "/stats", None).await["revoked_tokens"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "TikTok never confirmed a revoke"
    );
}

#[tokio::test]
async fn disconnect_revokes_forgets_the_tokens_ends_every_session_and_sign_in_reconnects() {
    let app = TestApp::spawn().await;
    let (ddb, _) = postiqo_e2e::aws_clients().await;
    let user = app.new_user().await;
    let video = app.uploaded_video(&user, 1024).await;
    // A browser session of the same user, besides the bearer one.
    let (browser, csrf) = app.sign_in_browser(&user.username).await;
    let tokens_item = |items: &[Item]| {
        items.iter().any(|i| {
            attr(i, "PK") == format!("USER#{}", user.id) && attr(i, "SK") == "TIKTOK_TOKENS"
        })
    };
    assert!(tokens_item(&scan_table(&ddb, &app.table).await));
    let grants_before = app.sandbox(Method::GET, "/stats", None).await["active_grants"]
        .as_u64()
        .unwrap();

    // Cookie requests need the CSRF token, like every unsafe request.
    let res = browser
        .post(app.url("/v1/auth/tiktok/disconnect"))
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_code(res).await, (403, "csrf_failed".into()));
    let res = browser
        .post(app.url("/v1/auth/tiktok/disconnect"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cleared: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cleared.iter().any(|c| c.starts_with("postiqo_access=;")),
        "{cleared:?}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["revocation"], "revoked");
    assert_eq!(body["sessions_ended"], 2);

    // TikTok saw the revoke; the stored tokens are gone.
    let stats = app.sandbox(Method::GET, "/stats", None).await;
    assert_eq!(stats["revoked_tokens"].as_array().unwrap().len(), 1);
    assert_eq!(stats["active_grants"].as_u64().unwrap(), grants_before - 1);
    assert!(!tokens_item(&scan_table(&ddb, &app.table).await));

    // Every session ended: the old bearer token, cookie and refresh token answer 401.
    let res = app
        .http
        .get(app.url("/v1/me"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_code(res).await, (401, "session_ended".into()));
    let res = app
        .http
        .get(app.url("/v1/videos"))
        .header("cookie", format!("postiqo_access={}", user.token))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .http
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({"refresh_token": user.refresh_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // Signing in again reconnects the same account, videos included.
    let again = app.sign_in(&user.username).await;
    assert_eq!(again.id, user.id);
    assert_eq!(me(&app, &again).await["tiktok"], "connected");
    assert_eq!(app.get_video(&again, &video).await.status(), 200);
    assert!(tokens_item(&scan_table(&ddb, &app.table).await));
}

#[tokio::test]
async fn export_lists_exactly_the_callers_videos_and_no_secret() {
    let app = TestApp::spawn().await;
    let (ddb, _) = postiqo_e2e::aws_clients().await;
    let user = app.new_user().await;
    let other = app.new_user().await;
    app.uploaded_video(&other, 1024).await;
    let mut ids = HashSet::new();
    ids.insert(app.uploaded_video(&user, 1024).await);
    ids.insert(
        app.create_video_ok(&user, "pending", "video/webm", 5000)
            .await["video"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    ids.insert(unfinished_multipart(&app, &user).await);

    let res = app
        .http
        .get(app.url("/v1/me/export"))
        .bearer_auth(&user.token)
        .header("user-agent", "export-test/1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"postiqo-export-"),
        "{disposition}"
    );
    assert!(disposition.ends_with(".json\""), "{disposition}");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(res.headers()["cache-control"], "no-store");
    let text = res.text().await.unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();

    assert_eq!(doc["format"], "postiqo-export/1");
    assert_eq!(doc["profile"]["id"], user.id.as_str());
    assert_eq!(doc["profile"]["username"], user.username.as_str());
    assert!(
        doc["profile"]["scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("video.publish"))
    );
    assert_eq!(doc["tiktok"]["connected"], true);
    assert_eq!(doc["tiktok"]["link"], "connected");
    let videos = doc["videos"].as_array().unwrap();
    let exported: HashSet<String> = videos
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(exported, ids, "exactly the caller's three videos");
    for v in videos {
        assert!(!v["history"].as_array().unwrap().is_empty());
        assert_eq!(v["storage"]["bucket"], app.bucket.as_str());
        assert!(
            v["storage"]["key"]
                .as_str()
                .unwrap()
                .starts_with(&format!("users/{}/", user.id))
        );
    }
    let sessions = doc["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["current"], true);
    assert!(sessions[0]["created_at"].is_string());
    assert!(sessions[0]["last_used_at"].is_string());
    assert!(sessions[0].get("user_agent").is_some());
    assert_eq!(doc["storage"]["prefix"], format!("users/{}/", user.id));

    // No secret of any kind: our tokens, TikTok's tokens, and what the table keeps of them
    // (refresh-token hashes, sealed TikTok tokens).
    let mut secrets = vec![
        user.token.clone(),
        user.refresh_token.clone(),
        user.refresh_token.rsplit('.').next().unwrap().to_owned(),
    ];
    let stats = app.sandbox(Method::GET, "/stats", None).await;
    for entry in stats["rate_limits"].as_array().into_iter().flatten() {
        if let Some(token) = entry["token"].as_str() {
            secrets.push(token.to_owned());
        }
    }
    for item in scan_table(&ddb, &app.table).await {
        if attr(&item, "PK") != format!("USER#{}", user.id) {
            continue;
        }
        for name in ["refresh_hash", "access_ct", "refresh_ct"] {
            if !attr(&item, name).is_empty() {
                secrets.push(attr(&item, name).to_owned());
            }
        }
        if let Some(AttributeValue::L(used)) = item.get("used_hashes") {
            secrets.extend(used.iter().filter_map(|v| v.as_s().ok().cloned()));
        }
    }
    assert!(
        secrets.len() >= 6,
        "secrets were collected: {}",
        secrets.len()
    );
    for secret in &secrets {
        assert!(secret.len() >= 16);
        assert!(!text.contains(secret.as_str()), "a secret is in the export");
    }
}

#[tokio::test]
async fn tiktok_removing_our_authorization_disconnects_without_revoking_again() {
    let app = TestApp::spawn().await;
    let (ddb, _) = postiqo_e2e::aws_clients().await;
    // A trap: a revoke call from Postiqo would use this rule up.
    app.sandbox(
        Method::POST,
        "/faults",
        Some(json!({"path": "/v2/oauth/revoke/", "kind": "server_error", "count": 1})),
    )
    .await;
    // Any reason code means the same: known ones, and one TikTok may add later.
    for reason in [2, 9] {
        let user = app.new_user().await;
        let video = app.uploaded_video(&user, 1024).await;
        let (browser, _) = app.sign_in_browser(&user.username).await;

        // The user removes Postiqo in TikTok: TikTok sends a signed `authorization.removed`.
        app.sandbox(
            Method::POST,
            &format!("/users/{}/disconnect", user.username),
            Some(json!({"reason": reason})),
        )
        .await;
        let started = Instant::now();
        while me_status(&app, &user).await != 401 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "reason {reason}: the session was not ended"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let res = browser.get(app.url("/v1/me")).send().await.unwrap();
        assert_eq!(
            res.status(),
            401,
            "reason {reason}: the cookie session ended too"
        );
        let items = scan_table(&ddb, &app.table).await;
        assert!(
            !items
                .iter()
                .any(|i| attr(i, "PK") == format!("USER#{}", user.id)
                    && attr(i, "SK") == "TIKTOK_TOKENS"),
            "reason {reason}: the tokens are deleted"
        );

        // Signing in again reconnects, videos kept.
        let again = app.sign_in(&user.username).await;
        assert_eq!(again.id, user.id);
        assert_eq!(me(&app, &again).await["tiktok"], "connected");
        assert_eq!(app.get_video(&again, &video).await.status(), 200);
    }
    let faults = app.sandbox(Method::GET, "/faults", None).await;
    assert_eq!(
        faults["rules"][0]["count"], 1,
        "Postiqo never called revoke: {faults}"
    );
    let logs = app.process.lines_after("TikTok disconnected", 2);
    let disconnected: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("TikTok disconnected"))
        .collect();
    assert_eq!(disconnected.len(), 2, "{}", logs.join("\n"));
    assert!(
        disconnected
            .iter()
            .all(|l| l.contains("\"revocation\":\"not_requested\""))
    );
}

#[tokio::test]
async fn the_worker_finishes_a_deletion_its_caller_abandoned() {
    let app = TestAppBuilder::new()
        .env("POSTIQO_ABANDONED_DELETION_SECS", "1")
        .spawn()
        .await;
    let (ddb, s3) = postiqo_e2e::aws_clients().await;
    let user = app.new_user().await;
    app.uploaded_video(&user, 1024).await;

    // An interrupted deletion, as the API marks it: the profile marked and indexed for the
    // worker, everything else still there; the caller never comes back.
    let since = (chrono::Utc::now() - chrono::Duration::seconds(5))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    ddb.update_item()
        .table_name(&app.table)
        .key("PK", AttributeValue::S(format!("USER#{}", user.id)))
        .key("SK", AttributeValue::S("PROFILE".into()))
        .update_expression("SET deletion_requested_at = :t, GSI2PK = :q, GSI2SK = :s")
        .expression_attribute_values(":t", AttributeValue::S(since.clone()))
        .expression_attribute_values(":q", AttributeValue::S("DELETING".into()))
        .expression_attribute_values(":s", AttributeValue::S(format!("{since}#{}", user.id)))
        .send()
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let items = scan_table(&ddb, &app.table).await;
        let left = items
            .iter()
            .filter(|i| attr(i, "PK") == format!("USER#{}", user.id))
            .count();
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} records of the abandoned account remain:\n{}",
            app.process
                .lines()
                .into_iter()
                .filter(|l| l.contains("deletion")
                    || l.contains("WARN")
                    || l.contains("ERROR")
                    || l.contains("DEBUG"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (objects, _) = bucket_keys(&s3, &app.bucket).await;
    let prefix = format!("users/{}/", user.id);
    assert!(
        !objects.iter().any(|k| k.starts_with(&prefix)),
        "{objects:?}"
    );
}
