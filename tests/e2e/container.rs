//! Knowing the video before TikTok does: real files encoded by ffmpeg at test time (scripts/test
//! installs it), their facts read from S3 with a few ranged GETs at upload-complete, and
//! TikTok's limits checked before any TikTok call.

use postiqo_e2e::{TestApp, TestAppBuilder, TestUser};
use postiqo_test_clips::{H264, H264_FASTSTART, H265_HVC1, VP9, encode};
use reqwest::Method;
use serde_json::{Value, json};

fn settings(privacy: &str) -> Value {
    json!({"privacy_level": privacy, "disable_comment": false, "disable_duet": false,
           "disable_stitch": false, "brand_content_toggle": false, "brand_organic_toggle": false, "is_aigc": false})
}

/// Uploads `bytes` as `content_type` and calls upload-complete.
async fn upload(
    app: &TestApp,
    user: &TestUser,
    content_type: &str,
    bytes: Vec<u8>,
) -> (String, reqwest::Response) {
    let created = app
        .create_video_ok(user, "clip", content_type, bytes.len() as u64)
        .await;
    let id = created["video"]["id"].as_str().unwrap().to_owned();
    let put = app.send_presigned(&created["upload"], bytes).await;
    assert!(put.status().is_success(), "{}", put.status());
    let done = app.complete_upload(user, &id, None).await;
    (id, done)
}

async fn uploaded(
    app: &TestApp,
    user: &TestUser,
    content_type: &str,
    bytes: Vec<u8>,
) -> (String, Value) {
    let (id, done) = upload(app, user, content_type, bytes).await;
    let status = done.status();
    let body: Value = done.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    (id, body)
}

#[track_caller]
fn assert_media(video: &Value, duration_ms: u64, w: u64, h: u64, fps: f64, codec: &str) {
    let m = &video["media"];
    let d = m["duration_ms"].as_u64().unwrap();
    assert!(
        d.abs_diff(duration_ms) <= 50,
        "duration {d} ms, expected {duration_ms}: {m}"
    );
    assert_eq!(
        (m["width"].as_u64(), m["height"].as_u64()),
        (Some(w), Some(h)),
        "{m}"
    );
    assert_eq!(m["frame_rate"].as_f64(), Some(fps), "{m}");
    assert_eq!(m["video_codec"], codec, "{m}");
}

async fn inits(app: &TestApp, user: &TestUser) -> u64 {
    let me: Value = app.get_json("/v1/me", &user.token).await;
    let open_id = me["open_id"].as_str().unwrap().to_owned();
    let stats = app.sandbox(Method::GET, "/stats", None).await;
    stats["inits_by_open_id"][open_id.as_str()]
        .as_u64()
        .unwrap_or(0)
}

async fn publish_check(app: &TestApp, user: &TestUser, id: &str, query: &str) -> Value {
    let res = app
        .http
        .get(app.url(&format!("/v1/videos/{id}/publish-check{query}")))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn codes(check: &Value) -> Vec<String> {
    check["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap().to_owned())
        .collect()
}

/// Clips TikTok refuses from any creator: the file, the problem's code, the limit its detail
/// names.
fn refused_for_everyone() -> Vec<(Vec<u8>, &'static str, &'static str)> {
    vec![
        (
            encode(1.0, "640x360", 120, H264, "mp4"),
            "frame_rate_unsupported",
            "23-60",
        ),
        (
            encode(1.0, "426x240", 30, H264, "mp4"),
            "resolution_unsupported",
            "360-4096",
        ),
    ]
}

/// A one-second clip inside every limit, uploaded; its video id.
async fn uploaded_within_limits(app: &TestApp, user: &TestUser) -> String {
    let clip = encode(1.0, "640x360", 30, H264_FASTSTART, "mp4");
    uploaded(app, user, "video/mp4", clip).await.0
}

/// A publish refused with 422 `code`, its detail naming `limit`.
async fn assert_refused(res: reqwest::Response, code: &str, limit: &str, case: &str) {
    assert_eq!(res.status(), 422, "{case}");
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], code, "{case}: {problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains(limit),
        "{case}: {problem}"
    );
}

#[tokio::test]
async fn encoded_videos_get_their_facts_wherever_the_index_sits() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let files = [
        (
            "video/mp4",
            encode(2.0, "640x360", 30, H264_FASTSTART, "mp4"),
            2000,
            640,
            360,
            30.0,
            "h264",
        ),
        (
            "video/mp4",
            encode(2.0, "640x360", 30, H264, "mp4"),
            2000,
            640,
            360,
            30.0,
            "h264",
        ),
        (
            "video/quicktime",
            encode(1.5, "480x360", 25, H265_HVC1, "mov"),
            1500,
            480,
            360,
            25.0,
            "h265",
        ),
        (
            "video/webm",
            encode(1.0, "400x400", 24, VP9, "webm"),
            1000,
            400,
            400,
            24.0,
            "vp9",
        ),
    ];
    for (content_type, bytes, d, w, h, fps, codec) in files {
        let (id, video) = uploaded(&app, &user, content_type, bytes).await;
        assert_eq!(video["status"], "UPLOADED");
        assert_media(&video, d, w, h, fps, codec);
        // Kept: the same facts when read again.
        let again: Value = app.get_video(&user, &id).await.json().await.unwrap();
        assert_eq!(again["media"], video["media"]);
    }

    // A file cut short is not a video TikTok could take: refused, and the object removed.
    let whole = encode(2.0, "640x360", 30, H264_FASTSTART, "mp4");
    let cut = whole[..whole.len() * 2 / 3].to_vec();
    let (id, done) = upload(&app, &user, "video/mp4", cut).await;
    assert_eq!(done.status(), 422);
    let problem: Value = done.json().await.unwrap();
    assert_eq!(problem["code"], "upload_not_a_video", "{problem}");
    let video: Value = app.get_video(&user, &id).await.json().await.unwrap();
    assert_eq!(video["status"], "PENDING");
    assert!(video.get("media").is_none());
    assert_eq!(
        app.complete_upload(&user, &id, None).await.status(),
        409,
        "no object any more"
    );
}

#[tokio::test]
async fn what_tiktok_would_refuse_is_refused_before_tiktok_is_called() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    // The sandbox's creators may post 600 s by default; this one 2 s.
    app.sandbox(
        Method::PATCH,
        &format!("/users/{}", user.username),
        Some(json!({"max_video_post_duration_sec": 2})),
    )
    .await;
    let mut cases = refused_for_everyone();
    cases.push((
        encode(3.0, "640x360", 30, H264, "mp4"),
        "video_too_long",
        "at most 2 s",
    ));
    for (bytes, code, limit) in cases {
        let (id, _) = uploaded(&app, &user, "video/mp4", bytes).await;
        let check = publish_check(&app, &user, &id, "").await;
        assert_eq!(check["publishable"], false);
        assert_eq!(codes(&check), [code], "{check}");
        assert_eq!(check["creator"]["max_video_post_duration_sec"], 2);
        let res = app.publish(&user, &id, code, settings("SELF_ONLY")).await;
        assert_refused(res, code, limit, "direct").await;
        let video: Value = app.get_video(&user, &id).await.json().await.unwrap();
        assert_eq!(video["status"], "UPLOADED", "nothing changed");
    }
    assert_eq!(inits(&app, &user).await, 0, "TikTok was never called");

    // A good video: the cover must fall inside it; then TikTok agrees with the check.
    let id = uploaded_within_limits(&app, &user).await;
    let check = publish_check(&app, &user, &id, "?video_cover_timestamp_ms=5000").await;
    assert_eq!(codes(&check), ["cover_timestamp_out_of_range"]);
    let mut s = settings("SELF_ONLY");
    s["video_cover_timestamp_ms"] = json!(5000);
    let res = app.publish(&user, &id, "cover", s).await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "cover_timestamp_out_of_range"
    );
    assert_eq!(inits(&app, &user).await, 0);

    let check = publish_check(&app, &user, &id, "?video_cover_timestamp_ms=500").await;
    assert_eq!(check["publishable"], true, "{check}");
    assert_eq!(check["media"]["width"], 640);
    let mut s = settings("SELF_ONLY");
    s["video_cover_timestamp_ms"] = json!(500);
    assert_eq!(app.publish(&user, &id, "ok", s).await.status(), 202);
    app.wait_for_status(&user, &id, "PUBLISHED", 30).await;
    assert_eq!(inits(&app, &user).await, 1);
}

/// The sandbox checks the pulled file itself, as TikTok does: a limit that changed after the
/// API's check is caught there, with TikTok's code.
#[tokio::test]
async fn the_sandbox_refuses_what_tiktok_would() {
    let app = TestApp::spawn().await;
    app.sandbox(
        Method::PATCH,
        "/settings",
        Some(json!({"download_delay_ms": 1500})),
    )
    .await;
    let user = app.new_user().await;
    let (id, _) = uploaded(
        &app,
        &user,
        "video/mp4",
        encode(3.0, "640x360", 30, H264_FASTSTART, "mp4"),
    )
    .await;
    assert_eq!(
        app.publish(&user, &id, "k", settings("SELF_ONLY"))
            .await
            .status(),
        202
    );
    // The creator's maximum drops while TikTok waits to pull.
    app.sandbox(
        Method::PATCH,
        &format!("/users/{}", user.username),
        Some(json!({"max_video_post_duration_sec": 2})),
    )
    .await;
    let video = app.wait_for_status(&user, &id, "FAILED", 30).await;
    assert_eq!(
        video["tiktok"]["failure"]["code"], "duration_check_failed",
        "{video}"
    );
}

/// Reads the `reads` and `bytes_read` fields of the API's log line for this video's object.
fn read_counts(app: &TestApp, id: &str) -> (u64, u64) {
    let line = app
        .process
        .lines()
        .into_iter()
        .find(|l| l.contains("container index read") && l.contains(id))
        .expect("the reads are logged");
    let field = |name: &str| -> u64 {
        let at = line
            .find(&format!("{name}="))
            .or_else(|| line.find(&format!("\"{name}\":")))
            .unwrap_or_else(|| panic!("{name} in {line}"));
        line[at + name.len()..]
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap()
    };
    (field("reads"), field("bytes_read"))
}

#[tokio::test]
async fn a_big_file_with_its_index_at_the_end_is_not_downloaded() {
    // One PUT for the whole file (no multipart), to keep the test about reading.
    let app = TestAppBuilder::new()
        .env("POSTIQO_MULTIPART_THRESHOLD_BYTES", "1073741824")
        .spawn()
        .await;
    let user = app.new_user().await;
    // ffmpeg's default puts moov after mdat; a 200 MiB `free` box in front of mdat makes the
    // file big without encoding 200 MiB.
    let small = encode(1.0, "640x360", 30, H264, "mp4");
    let ftyp_len = u32::from_be_bytes(small[..4].try_into().unwrap()) as usize;
    let pad: u32 = 200 * 1024 * 1024;
    let mut big = small[..ftyp_len].to_vec();
    big.extend(pad.to_be_bytes());
    big.extend(b"free");
    big.resize(big.len() + pad as usize - 8, 0);
    big.extend(&small[ftyp_len..]);

    let (id, video) = uploaded(&app, &user, "video/mp4", big).await;
    assert_media(&video, 1000, 640, 360, 30.0, "h264");
    let (reads, bytes) = read_counts(&app, &id);
    assert!(reads <= 4, "{reads} ranged reads");
    assert!(bytes < 1024 * 1024, "{bytes} bytes read of 200 MiB");
}

/// A draft goes through TikTok's same download and checks (only the duration's limit is the
/// API's 10 minutes rather than a creator's): refused before the inbox init, as a schedule too.
#[tokio::test]
async fn a_draft_tiktok_would_refuse_is_refused_before_tiktok_is_called() {
    let app = TestApp::spawn().await;
    let user = app.new_user().await;
    let cases = refused_for_everyone();
    for (bytes, code, limit) in cases {
        let (id, _) = uploaded(&app, &user, "video/mp4", bytes).await;
        let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        for (key, body) in [
            ("now", json!({"mode": "draft"})),
            ("later", json!({"mode": "draft", "scheduled_at": later})),
        ] {
            let res = app.publish(&user, &id, &format!("{key}-{id}"), body).await;
            assert_refused(res, code, limit, key).await;
        }
        let video: Value = app.get_video(&user, &id).await.json().await.unwrap();
        assert_eq!(video["status"], "UPLOADED", "nothing changed");
    }
    assert_eq!(inits(&app, &user).await, 0, "TikTok was never called");

    // A clip inside the limits goes to the inbox.
    let id = uploaded_within_limits(&app, &user).await;
    let res = app
        .publish(&user, &id, "good-draft", json!({"mode": "draft"}))
        .await;
    assert_eq!(res.status(), 202);
    app.wait_for_status(&user, &id, "SENT_TO_INBOX", 30).await;
    assert_eq!(inits(&app, &user).await, 1);
}
