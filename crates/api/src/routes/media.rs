//! `GET /v1/media/{token}`: the URL TikTok pulls in `proxy` media mode.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::problem::{ApiError, ErrorCode, ProblemDetails};
use crate::startup::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(media);
}

/// The shape of TikTok's verification file names (`tiktok<letters and digits>.txt`).
pub fn is_verification_file(name: &str) -> bool {
    name.strip_prefix("tiktok")
        .and_then(|rest| rest.strip_suffix(".txt"))
        .is_some_and(|mid| {
            (1..=64).contains(&mid.len()) && mid.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// A single `bytes=` range, as S3 accepts it; anything else is ignored (whole object).
fn sane_range(req: &HttpRequest) -> Option<String> {
    let raw = req.headers().get(header::RANGE)?.to_str().ok()?;
    let spec = raw.strip_prefix("bytes=")?;
    let ok = !spec.contains(',')
        && spec.len() <= 40
        && spec.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        && spec.matches('-').count() == 1;
    ok.then(|| raw.to_owned())
}

/// Stream a video to TikTok (proxy media mode).
///
/// The token is signed and expires (the download window); it names one video. Supports one
/// `Range`, streams from S3 without buffering the object, never redirects (TikTok does not
/// follow redirects).
#[utoipa::path(
    tag = "publishing",
    operation_id = "media.get",
    params(
        ("token" = String, Path, description = "Signed media token from a publish"),
        ("Range" = Option<String>, Header, description = "Optional single byte range, e.g. bytes=0-1023"),
    ),
    responses(
        (status = 200, description = "The whole video (or, for `tiktok<id>.txt`, TikTok's URL-prefix verification file)", content_type = "video/mp4"),
        (status = 206, description = "The requested range", content_type = "video/mp4"),
        (status = 404, description = "Unknown or expired token, or no such video", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/media/{token}")]
pub async fn media(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // TikTok's URL-prefix verification file sits under the same prefix as the media it covers.
    if is_verification_file(&token) {
        let name = format!("tiktok-verification/{token}");
        return match state.storage.blobs.get_site_file(&name).await? {
            Some(body) => Ok(HttpResponse::Ok()
                .content_type("text/plain; charset=utf-8")
                .body(body)),
            None => Err(ApiError::new(ErrorCode::MediaNotFound)),
        };
    }
    let (owner, video) = state
        .media
        .verify(&token)
        .ok_or_else(|| ApiError::new(ErrorCode::MediaNotFound))?;
    let key = postiqo_domain::ObjectKey::for_video(owner, video);
    let range = sane_range(&req);
    let object = state
        .storage
        .blobs
        .open_stream(&key, range.as_deref())
        .await
        .map_err(|e| match e {
            postiqo_storage::BlobError::NotFound => ApiError::new(ErrorCode::MediaNotFound),
            other => other.into(),
        })?;
    let mut res = match &object.content_range {
        Some(r) => {
            let mut b = HttpResponse::PartialContent();
            b.insert_header((header::CONTENT_RANGE, r.clone()));
            b
        }
        None => HttpResponse::Ok(),
    };
    res.insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .content_type(
            object
                .content_type
                .unwrap_or_else(|| "application/octet-stream".into()),
        )
        .no_chunking(object.content_length);
    Ok(res.streaming(object.body))
}
