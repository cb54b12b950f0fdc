//! Examples for the OpenAPI document. Responses are built from the API's own types through
//! the mapping the handlers use (a domain `Video` walked through its transitions, then
//! `VideoResponse::new`), so an example cannot show a field the API does not send; request
//! examples are JSON that a test deserializes into the request types.
//!
//! Over 600 lines on purpose: it is one table (an example per operation and per schema, a
//! test counts them), and splitting it would scatter what is checked as a whole.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use postiqo_domain::{
    ContentType, ETag, PublishFailure, PublishSettings, Session, SessionId, StatusChange,
    TikTokLink, TikTokPublish, Title, UploadPlan, User, UserId, Video, VideoId, VideoSize,
    VideoStatus,
};
use postiqo_storage::PresignedRequest;
use serde::Serialize;
use serde_json::{Value, json};

use crate::problem::{ApiError, ErrorCode};
use crate::routes::account::dto::{DisconnectResponse, ExportWriter};
use crate::routes::auth::dto::{
    CookieKind, CookieSessionResponse, CsrfResponse, RefreshResponse, TokenResponse,
};
use crate::routes::health::HealthResponse;
use crate::routes::me::MeResponse;
use crate::routes::tiktok::CreatorInfoResponse;
use crate::routes::videos::dto::{
    CreateVideoResponse, UploadResponse, VideoListResponse, VideoResponse, VideoView,
};
use crate::services::account::{ExportHeader, ExportPage};
use crate::services::videos::UploadInstructions;

const USER_ID: &str = "0190a0b0-0000-7000-8000-000000000000";
const VIDEO_ID: &str = "0190a0b0-0000-7000-8000-000000000001";
const SIZE: u64 = 10_485_760;
const ACCESS_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJzdWIiOiIwMTkwYTBiMC0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDAifQ.c2lnbmF0dXJl";
const REFRESH_TOKEN: &str = "0190a0b0-0000-7000-8000-000000000000.5f0c6b2e9d8a4c7b8e1f2a3b4c5d6e7f.Q3mT9vXw2yZa4bCd6eFg8hIj0kLm2nOp4qRs6tUv8wX";
const CSRF_TOKEN: &str = "k3Jm5X0a9qWc2T8vZr4yLb7nHs1dPf6gEu3oNi5wQxA";
const PUBLISH_ID: &str = "v_pub_url~v2.7301234567890123456";
const POST_ID: &str = "7301234567890123456";

fn value(v: impl Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_748_779_200 + secs, 0)
        .single()
        .unwrap_or_default()
}

fn user_id() -> UserId {
    USER_ID
        .parse()
        .unwrap_or_else(|_| UserId::new_v7(0, [0; 10]))
}

fn video_id() -> VideoId {
    VIDEO_ID
        .parse()
        .unwrap_or_else(|_| VideoId::new_v7(0, [0; 10]))
}

fn view() -> VideoView {
    VideoView {
        bucket: "postiqo-videos".into(),
        post_id_wait: std::time::Duration::from_secs(6 * 3600),
    }
}

fn user() -> User {
    User {
        id: user_id(),
        open_id: "-000OXSaUhvOGz9yPjDMNHaXMZ2Ptb8YbOVn".into(),
        username: Some("alice".into()),
        display_name: Some("Alice".into()),
        avatar_url: Some("https://p16-sign.tiktokcdn-us.com/avatar/alice.jpeg".into()),
        scopes: vec![
            "user.info.basic".into(),
            "user.info.profile".into(),
            "video.publish".into(),
        ],
        tiktok: TikTokLink::Connected,
        created_at: at(-86_400),
        updated_at: at(-60),
        deletion_requested_at: None,
    }
}

fn attempt(privacy: &str) -> TikTokPublish {
    TikTokPublish {
        attempt_id: "0190a0b0-0000-7000-8000-00000000a77e".into(),
        settings: PublishSettings {
            privacy_level: privacy.into(),
            disable_comment: false,
            disable_duet: true,
            disable_stitch: true,
            video_cover_timestamp_ms: None,
            brand_content_toggle: false,
            brand_organic_toggle: false,
            is_aigc: false,
        },
        started_at: at(20),
        publish_id: None,
        tiktok_status: None,
        post_id: None,
        post_url: None,
        failure: None,
        publicly_available: None,
        visibility_changed_at: None,
        mode: postiqo_domain::PublishMode::Direct,
        scheduled_at: None,
    }
}

/// What upload-complete reads from the example's container.
fn media() -> postiqo_domain::VideoMedia {
    postiqo_domain::VideoMedia {
        duration_ms: 15_016,
        width: 1080,
        height: 1920,
        frame_rate: postiqo_domain::FrameRate::from_fps(30.0),
        video_codec: "h264".into(),
        has_audio: true,
    }
}

/// How far along the publish flow an example video is.
#[derive(Clone, Copy)]
enum Stage {
    Pending,
    Uploaded,
    /// Public, TikTok still processing: a post id is expected.
    Publishing,
    /// Public, with its post id and URL.
    Published,
    /// `SELF_ONLY`: done at `PUBLISHED`, never a post id.
    PublishedPrivate,
    Failed,
    /// `SELF_ONLY`, scheduled for later.
    Scheduled,
}

fn video(stage: Stage) -> Video {
    let title = Title::parse("Morning run #running").expect("a valid caption");
    let pending = Video::new(
        video_id(),
        user_id(),
        title,
        ContentType::Mp4,
        VideoSize::from_stored(SIZE),
        UploadPlan::Single,
        None,
        at(0),
    );
    let steps = |v: Video| -> Result<Video, postiqo_domain::TransitionError> {
        let tag = ETag::parse("\"9b2cf535f27731c974343645a3985328\"")
            .unwrap_or_else(|| unreachable!("a literal entity tag of visible ASCII characters"));
        let uploaded = v.complete_upload(tag, Some(media()), at(15))?;
        if matches!(stage, Stage::Uploaded) {
            return Ok(uploaded);
        }
        if matches!(stage, Stage::Scheduled) {
            let mut planned = attempt("SELF_ONLY");
            planned.scheduled_at = Some(at(SCHEDULED_IN));
            return uploaded.schedule(planned, at(20));
        }
        let privacy = match stage {
            Stage::PublishedPrivate => "SELF_ONLY",
            _ => "PUBLIC_TO_EVERYONE",
        };
        let publishing = uploaded
            .start_publish(attempt(privacy), at(20))?
            .record_publish_id(PUBLISH_ID.into(), at(21))?
            .note_tiktok_status("PROCESSING_DOWNLOAD", at(24));
        match stage {
            Stage::Publishing => Ok(publishing),
            Stage::PublishedPrivate => publishing.mark_published(None, None, at(60)),
            Stage::Failed => publishing.mark_failed(
                PublishFailure::from_fail_reason("duration_check_failed"),
                at(40),
            ),
            _ => publishing.mark_published(None, None, at(60)).and_then(|v| {
                v.mark_published(
                    Some(POST_ID.into()),
                    Some(postiqo_domain::post_url(Some("alice"), POST_ID)),
                    at(95),
                )
            }),
        }
    };
    match stage {
        Stage::Pending => pending,
        _ => steps(pending.clone()).unwrap_or(pending),
    }
}

/// Seconds after the examples' start a scheduled example is due.
const SCHEDULED_IN: i64 = 7200;

fn video_response(stage: Stage) -> VideoResponse {
    VideoResponse::new(video(stage), &view())
}

fn presigned(url_query: &str, headers: &[(&str, &str)]) -> PresignedRequest {
    let key = postiqo_domain::ObjectKey::for_video(user_id(), video_id());
    PresignedRequest {
        method: "PUT".into(),
        url: format!(
            "https://postiqo-videos.s3.us-east-1.amazonaws.com/{}?{url_query}X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20250601%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250601T120000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders={}&X-Amz-Signature=5d6f0c1e2b3a4958a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4",
            key.as_str(),
            headers
                .iter()
                .map(|(k, _)| *k)
                .chain(["host"])
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join("%3B")
        ),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        expires_at: at(3600),
    }
}

fn single_upload() -> UploadResponse {
    UploadResponse::new(
        video_id(),
        UploadInstructions::Single(presigned(
            "x-id=PutObject&",
            &[
                ("content-length", "10485760"),
                ("content-type", "video/mp4"),
                ("x-amz-tagging", "postiqo-upload=pending"),
            ],
        )),
    )
}

fn multipart_upload() -> UploadResponse {
    let part = |n: u32, len: u64| {
        (
            n,
            len,
            presigned(
                &format!("partNumber={n}&uploadId=VXBsb2FkSWQtZXhhbXBsZQ&x-id=UploadPart&"),
                &[("content-length", &len.to_string())],
            ),
        )
    };
    UploadResponse::new(
        video_id(),
        UploadInstructions::Multipart {
            part_size: 16_777_216,
            parts: vec![part(1, 16_777_216), part(2, 16_777_216), part(3, 3_145_728)],
        },
    )
}

fn problem(code: ErrorCode, detail: Option<&str>) -> Value {
    let mut e = ApiError::new(code);
    if let Some(d) = detail {
        e = e.detail(d);
    }
    let mut p = e.problem();
    p.request_id = Some("01J9Z8X6Q2M1T3N5P7R9S1U3W5".into());
    value(p)
}

fn creator_info() -> CreatorInfoResponse {
    CreatorInfoResponse {
        creator_nickname: Some("Alice".into()),
        creator_username: Some("alice".into()),
        creator_avatar_url: Some("https://p16-sign.tiktokcdn-us.com/avatar/alice.jpeg".into()),
        privacy_level_options: vec![
            "PUBLIC_TO_EVERYONE".into(),
            "MUTUAL_FOLLOW_FRIENDS".into(),
            "SELF_ONLY".into(),
        ],
        comment_disabled: false,
        duet_disabled: false,
        stitch_disabled: true,
        max_video_post_duration_sec: Some(600),
    }
}

/// The export as the route streams it: written page by page, read back as one document.
fn export() -> Value {
    let session = Session {
        id: SessionId::from_random([0x5f; 16]),
        user: user_id(),
        created_at: at(-3600),
        last_used_at: at(-60),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0".into()),
        expires_at: at(30 * 86_400),
        refresh_hash: String::new(),
        used_hashes: Vec::new(),
        previous: None,
    };
    let header = ExportHeader {
        exported_at: at(120),
        user: user(),
        tokens: None,
    };
    let Ok((mut writer, head)) = ExportWriter::start(&header, &view(), &session.id) else {
        return Value::Null;
    };
    let mut bytes = head.to_vec();
    for page in [
        ExportPage::Videos(vec![video(Stage::Published)]),
        ExportPage::Sessions(vec![session]),
        ExportPage::Others(BTreeMap::from([("idempotency".to_owned(), 1)])),
    ] {
        match writer.page(page) {
            Ok(b) => bytes.extend_from_slice(&b),
            Err(_) => return Value::Null,
        }
    }
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn bearer_tokens() -> TokenResponse {
    TokenResponse::bearer(ACCESS_TOKEN.into(), 900, REFRESH_TOKEN.into())
}

fn cookie_session() -> CookieSessionResponse {
    CookieSessionResponse {
        kind: CookieKind::Cookie,
        expires_in: 900,
        csrf_token: CSRF_TOKEN.into(),
    }
}

/// One example for each component schema, by name.
pub fn schemas() -> BTreeMap<&'static str, Value> {
    let export = export();
    let published = value(video_response(Stage::Published));
    let upload = value(single_upload());
    let multipart = value(multipart_upload());
    BTreeMap::from([
        ("CompleteUploadRequest", complete_multipart_request()),
        ("ContentType", json!("video/mp4")),
        ("CookieSessionResponse", value(cookie_session())),
        ("CreateVideoRequest", create_request()),
        ("CreateVideoResponse", value(create_response())),
        ("CreatorInfoResponse", value(creator_info())),
        (
            "CsrfResponse",
            value(CsrfResponse {
                csrf_token: CSRF_TOKEN.into(),
            }),
        ),
        ("DisconnectResponse", value(disconnect())),
        ("ExportProfile", export["profile"].clone()),
        ("ExportTikTok", export["tiktok"].clone()),
        ("ExportSession", export["sessions"][0].clone()),
        ("ExportStorage", export["storage"].clone()),
        ("ExportRecordCount", export["other_records"][0].clone()),
        ("ExportDocument", export),
        (
            "FieldError",
            json!({"field": "title", "message": "at most 2200 UTF-16 code units"}),
        ),
        ("GrantType", json!("authorization_code")),
        ("HealthResponse", value(HealthResponse { status: "ok" })),
        ("HistoryEvent", json!("no_longer_publicly_available")),
        ("MeResponse", value(MeResponse::from(user()))),
        ("MultipartUpload", multipart.clone()),
        ("PartUpload", multipart["parts"][0].clone()),
        ("PartUrlsRequest", part_urls_request()),
        ("ProblemDetails", problem(ErrorCode::VideoNotFound, None)),
        (
            "PublishFailure",
            value(PublishFailure::from_fail_reason("duration_check_failed")),
        ),
        ("PublishCheckResponse", publish_check()),
        ("PublishMode", json!("draft")),
        ("PublishProblem", publish_check()["problems"][0].clone()),
        ("PublishRequest", publish_request()),
        ("ScheduleRequest", schedule_request()),
        ("RefreshRequest", refresh_request()),
        (
            "RefreshResponse",
            value(RefreshResponse::Bearer(bearer_tokens())),
        ),
        ("SingleUpload", upload.clone()),
        (
            "StatusChange",
            value(StatusChange {
                status: VideoStatus::Uploaded,
                at: at(15),
                event: None,
            }),
        ),
        ("StorageLocation", published["storage"].clone()),
        ("TikTokLink", json!("connected")),
        ("TikTokPublishResponse", published["tiktok"].clone()),
        ("TikTokWebhook", webhook()),
        ("TokenRequest", token_request()),
        ("TokenResponse", value(bearer_tokens())),
        ("UpdateVideoRequest", update_request()),
        ("UploadKind", json!("single")),
        ("UploadResponse", upload),
        (
            "UploadedPart",
            complete_multipart_request()["parts"][0].clone(),
        ),
        ("UserId", json!(USER_ID)),
        ("VideoId", json!(VIDEO_ID)),
        ("VideoListResponse", value(list())),
        ("VideoMedia", value(media())),
        ("VideoResponse", published),
        ("VideoStatus", json!("PUBLISHED")),
    ])
}

/// A posting screen's pre-flight answer: one problem, the facts and fresh creator info.
fn publish_check() -> Value {
    json!({
        "publishable": false,
        "problems": [{
            "code": "video_too_long",
            "title": ErrorCode::VideoTooLong.title(),
            "detail": "The video lasts 700.0 s; this creator may post at most 600 s.",
        }],
        "media": value(media()),
        "creator": value(creator_info()),
    })
}

fn create_response() -> CreateVideoResponse {
    CreateVideoResponse {
        video: video_response(Stage::Pending),
        upload: single_upload(),
    }
}

fn disconnect() -> DisconnectResponse {
    DisconnectResponse {
        revocation: "revoked",
        sessions_ended: 2,
    }
}

fn list() -> VideoListResponse {
    VideoListResponse {
        items: vec![
            video_response(Stage::Publishing),
            video_response(Stage::PublishedPrivate),
        ],
        next_cursor: Some("eyJzayI6IlZJREVPIzAxOTBhMGIwIn0".into()),
    }
}

pub(crate) fn create_request() -> Value {
    json!({"title": "Morning run #running", "content_type": "video/mp4", "size_bytes": SIZE})
}

pub(crate) fn update_request() -> Value {
    json!({"title": "Morning run, 10 km #running"})
}

pub(crate) fn complete_multipart_request() -> Value {
    json!({"parts": [
        {"part_number": 1, "etag": "\"5d41402abc4b2a76b9719d911017c592\""},
        {"part_number": 2, "etag": "\"7d793037a0760186574b0282f2f435e7\""},
        {"part_number": 3, "etag": "\"9e107d9d372bb6826bd81d3542a419d6\""}
    ]})
}

pub(crate) fn part_urls_request() -> Value {
    json!({"part_numbers": [3]})
}

pub(crate) fn publish_request() -> Value {
    json!({
        "privacy_level": "SELF_ONLY",
        "disable_comment": false,
        "disable_duet": true,
        "disable_stitch": true,
        "brand_content_toggle": false,
        "brand_organic_toggle": false,
        "is_aigc": false
    })
}

pub(crate) fn scheduled_publish_request() -> Value {
    json!({
        "privacy_level": "SELF_ONLY",
        "scheduled_at": at(SCHEDULED_IN),
    })
}

pub(crate) fn draft_request() -> Value {
    json!({ "mode": "draft" })
}

pub(crate) fn schedule_request() -> Value {
    json!({ "scheduled_at": at(SCHEDULED_IN + 1800) })
}

pub(crate) fn token_request() -> Value {
    json!({
        "grant_type": "authorization_code",
        "code": "b1F0T3ZlcmNvZGUtZXhhbXBsZS12YWx1ZS0xMjM0NTY",
        "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    })
}

pub(crate) fn refresh_request() -> Value {
    json!({"refresh_token": REFRESH_TOKEN})
}

fn webhook() -> Value {
    json!({
        "client_key": "awx1234567890",
        "event": "post.publish.publicly_available",
        "create_time": 1_748_779_295,
        "user_openid": "-000OXSaUhvOGz9yPjDMNHaXMZ2Ptb8YbOVn",
        "content": format!("{{\"publish_id\":\"{PUBLISH_ID}\",\"post_id\":\"{POST_ID}\",\"publish_type\":\"DIRECT_POST\"}}")
    })
}

/// Examples of one operation: its request body, its parameters, and its responses by status
/// (several named examples where the answer has kinds).
#[derive(Default)]
pub struct OperationExamples {
    pub request: Vec<(&'static str, Value)>,
    pub params: Vec<(&'static str, Value)>,
    pub responses: Vec<(&'static str, Vec<(&'static str, Value)>)>,
}

fn one(v: Value) -> Vec<(&'static str, Value)> {
    vec![("example", v)]
}

/// Examples of every operation, by `operationId`.
pub fn operations() -> BTreeMap<&'static str, OperationExamples> {
    let id_param = ("id", json!(VIDEO_ID));
    let unauthenticated = problem(
        ErrorCode::Unauthenticated,
        Some("Send a bearer token or the session cookie."),
    );
    BTreeMap::from([
        (
            "health.live",
            OperationExamples {
                responses: vec![("200", one(value(HealthResponse { status: "ok" })))],
                ..Default::default()
            },
        ),
        (
            "health.ready",
            OperationExamples {
                responses: vec![
                    ("200", one(value(HealthResponse { status: "ready" }))),
                    ("503", one(problem(ErrorCode::StorageUnavailable, None))),
                ],
                ..Default::default()
            },
        ),
        (
            "auth.login",
            OperationExamples {
                params: vec![
                    ("return_to", json!("http://localhost:5173/signed-in")),
                    ("mode", json!("code")),
                    (
                        "code_challenge",
                        json!("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
                    ),
                ],
                responses: vec![(
                    "400",
                    one(problem(
                        ErrorCode::InvalidReturnTo,
                        Some(
                            "return_to must be an absolute http(s) URL on an allowed origin (POSTIQO_ALLOWED_ORIGINS): http://localhost:5173.",
                        ),
                    )),
                )],
                ..Default::default()
            },
        ),
        (
            "auth.callback",
            OperationExamples {
                params: vec![
                    ("code", json!("GlQTsY2ZXXlyKJmPqBfHn*0!4vXyz")),
                    ("scopes", json!("user.info.basic,video.publish")),
                    (
                        "state",
                        json!("Zt2QkqJ7bX1cV9mN4pL8sR6wY3aE5dG0hJ2kM7nB1cQ"),
                    ),
                ],
                responses: vec![("400", one(problem(ErrorCode::InvalidLoginState, None)))],
                ..Default::default()
            },
        ),
        (
            "auth.token",
            OperationExamples {
                request: one(token_request()),
                responses: vec![
                    ("200", one(value(bearer_tokens()))),
                    ("400", one(problem(ErrorCode::InvalidGrant, None))),
                ],
                ..Default::default()
            },
        ),
        (
            "auth.refresh",
            OperationExamples {
                request: vec![("bearer", refresh_request()), ("cookie", json!({}))],
                responses: vec![
                    (
                        "200",
                        vec![
                            ("bearer", value(RefreshResponse::Bearer(bearer_tokens()))),
                            ("cookie", value(RefreshResponse::Cookie(cookie_session()))),
                        ],
                    ),
                    ("401", one(problem(ErrorCode::RefreshTokenReused, None))),
                ],
                ..Default::default()
            },
        ),
        (
            "auth.logout",
            OperationExamples {
                responses: vec![("401", one(unauthenticated.clone()))],
                ..Default::default()
            },
        ),
        (
            "auth.csrf",
            OperationExamples {
                responses: vec![(
                    "200",
                    one(value(CsrfResponse {
                        csrf_token: CSRF_TOKEN.into(),
                    })),
                )],
                ..Default::default()
            },
        ),
        (
            "auth.tiktok.disconnect",
            OperationExamples {
                responses: vec![("200", one(value(disconnect())))],
                ..Default::default()
            },
        ),
        (
            "me.get",
            OperationExamples {
                responses: vec![
                    ("200", one(value(MeResponse::from(user())))),
                    ("401", one(unauthenticated.clone())),
                ],
                ..Default::default()
            },
        ),
        (
            "me.sync",
            OperationExamples {
                responses: vec![("200", one(value(MeResponse::from(user()))))],
                ..Default::default()
            },
        ),
        (
            "me.delete",
            OperationExamples {
                responses: vec![("401", one(unauthenticated))],
                ..Default::default()
            },
        ),
        (
            "me.export",
            OperationExamples {
                responses: vec![("200", one(export()))],
                ..Default::default()
            },
        ),
        (
            "media.get",
            OperationExamples {
                params: vec![
                    ("token", json!("MDE5MGEwYjAuMTc0ODc4NjQwMC5zaWduYXR1cmU")),
                    ("Range", json!("bytes=0-1048575")),
                ],
                ..Default::default()
            },
        ),
        (
            "media.head",
            OperationExamples {
                params: vec![
                    ("token", json!("MDE5MGEwYjAuMTc0ODc4NjQwMC5zaWduYXR1cmU")),
                    ("Range", json!("bytes=0-1048575")),
                ],
                ..Default::default()
            },
        ),
        (
            "tiktok.creator_info",
            OperationExamples {
                responses: vec![
                    ("200", one(value(creator_info()))),
                    ("403", one(problem(ErrorCode::TikTokCannotPostNow, None))),
                ],
                ..Default::default()
            },
        ),
        (
            "videos.list",
            OperationExamples {
                params: vec![("status", json!("PUBLISHED")), ("limit", json!(20))],
                responses: vec![("200", one(value(list())))],
                ..Default::default()
            },
        ),
        (
            "videos.create",
            OperationExamples {
                request: one(create_request()),
                responses: vec![("201", one(value(create_response())))],
                ..Default::default()
            },
        ),
        (
            "videos.get",
            OperationExamples {
                params: vec![id_param.clone()],
                responses: vec![
                    (
                        "200",
                        vec![
                            ("publishing", value(video_response(Stage::Publishing))),
                            ("published_public", value(video_response(Stage::Published))),
                            (
                                "published_private",
                                value(video_response(Stage::PublishedPrivate)),
                            ),
                            ("failed", value(video_response(Stage::Failed))),
                        ],
                    ),
                    ("404", one(problem(ErrorCode::VideoNotFound, None))),
                ],
                ..Default::default()
            },
        ),
        (
            "videos.update",
            OperationExamples {
                request: one(update_request()),
                params: vec![id_param.clone()],
                responses: vec![("200", one(value(video_response(Stage::Uploaded))))],
            },
        ),
        (
            "videos.delete",
            OperationExamples {
                params: vec![id_param.clone()],
                responses: vec![("404", one(problem(ErrorCode::VideoNotFound, None)))],
                ..Default::default()
            },
        ),
        (
            "videos.complete_upload",
            OperationExamples {
                request: vec![
                    ("single", json!({})),
                    ("multipart", complete_multipart_request()),
                ],
                params: vec![id_param.clone()],
                responses: vec![
                    ("200", one(value(video_response(Stage::Uploaded)))),
                    ("409", one(problem(ErrorCode::UploadMissing, None))),
                ],
            },
        ),
        (
            "videos.part_urls",
            OperationExamples {
                request: one(part_urls_request()),
                params: vec![id_param.clone()],
                responses: vec![("200", one(value(multipart_upload())))],
            },
        ),
        (
            "videos.upload_url",
            OperationExamples {
                params: vec![id_param.clone()],
                responses: vec![("200", one(value(single_upload())))],
                ..Default::default()
            },
        ),
        (
            "videos.publish",
            OperationExamples {
                request: vec![
                    ("now", publish_request()),
                    ("scheduled", scheduled_publish_request()),
                    ("draft", draft_request()),
                ],
                params: vec![
                    id_param.clone(),
                    (
                        "Idempotency-Key",
                        json!("7b0f5c9e-3d2a-4e8b-9c1f-6a5d4e3b2c1a"),
                    ),
                ],
                responses: vec![
                    ("202", one(value(video_response(Stage::Publishing)))),
                    ("422", one(problem(ErrorCode::PrivacyLevelNotAllowed, None))),
                    ("429", one(problem(ErrorCode::TikTokInboxFull, None))),
                ],
            },
        ),
        (
            "videos.reschedule",
            OperationExamples {
                request: one(schedule_request()),
                params: vec![id_param.clone()],
                responses: vec![
                    ("200", one(value(video_response(Stage::Scheduled)))),
                    ("422", one(problem(ErrorCode::ScheduleOutOfRange, None))),
                ],
            },
        ),
        (
            "videos.cancel_schedule",
            OperationExamples {
                params: vec![id_param.clone()],
                responses: vec![("200", one(value(video_response(Stage::Uploaded))))],
                ..Default::default()
            },
        ),
        (
            "videos.publish_check",
            OperationExamples {
                params: vec![id_param.clone(), ("video_cover_timestamp_ms", json!(1000))],
                responses: vec![("200", one(publish_check()))],
                ..Default::default()
            },
        ),
        (
            "videos.cancel_publish",
            OperationExamples {
                params: vec![id_param],
                responses: vec![("202", one(value(video_response(Stage::Publishing))))],
                ..Default::default()
            },
        ),
        (
            "webhooks.tiktok",
            OperationExamples {
                request: one(webhook()),
                params: vec![(
                    "TikTok-Signature",
                    json!(
                        "t=1748779295,s=2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b"
                    ),
                )],
                ..Default::default()
            },
        ),
    ])
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;

    use super::*;
    use crate::routes::auth::dto::{RefreshRequest, TokenRequest};
    use crate::routes::publish::PublishRequest;
    use crate::routes::videos::dto::{
        CompleteUploadRequest, CreateVideoRequest, PartUrlsRequest, UpdateVideoRequest,
    };

    fn parses<T: DeserializeOwned>(example: Value) {
        let parsed: Result<T, _> = serde_json::from_value(example.clone());
        assert!(
            parsed.is_ok(),
            "{example} is not a valid {}",
            std::any::type_name::<T>()
        );
    }

    #[test]
    fn request_examples_are_requests_the_api_accepts() {
        parses::<CreateVideoRequest>(create_request());
        parses::<UpdateVideoRequest>(update_request());
        parses::<CompleteUploadRequest>(complete_multipart_request());
        parses::<CompleteUploadRequest>(json!({}));
        parses::<PartUrlsRequest>(part_urls_request());
        parses::<PublishRequest>(publish_request());
        parses::<PublishRequest>(scheduled_publish_request());
        parses::<PublishRequest>(draft_request());
        parses::<crate::routes::schedule::ScheduleRequest>(schedule_request());
        parses::<TokenRequest>(token_request());
        parses::<RefreshRequest>(refresh_request());
        parses::<RefreshRequest>(json!({}));
    }

    #[test]
    fn example_videos_walk_the_real_state_machine() {
        let status = |s: Stage| video(s).status;
        assert_eq!(status(Stage::Pending), VideoStatus::Pending);
        assert_eq!(status(Stage::Uploaded), VideoStatus::Uploaded);
        assert_eq!(status(Stage::Publishing), VideoStatus::Publishing);
        assert_eq!(status(Stage::Published), VideoStatus::Published);
        assert_eq!(status(Stage::PublishedPrivate), VideoStatus::Published);
        assert_eq!(status(Stage::Failed), VideoStatus::Failed);
        assert_eq!(status(Stage::Scheduled), VideoStatus::Scheduled);
        let publishing = value(video_response(Stage::Publishing));
        assert_eq!(publishing["tiktok"]["post_id_expected"], true);
        let private = value(video_response(Stage::PublishedPrivate));
        assert_eq!(private["tiktok"]["post_id_expected"], false);
        assert_eq!(private["tiktok"]["post_id"], Value::Null);
        let public = value(video_response(Stage::Published));
        assert_eq!(public["tiktok"]["post_id"], POST_ID);
    }
}
