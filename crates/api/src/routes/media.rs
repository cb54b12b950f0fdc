//! `GET|HEAD /v1/media/{token}`: the URL TikTok pulls in `proxy` media mode.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, head, web};
use bytes::Bytes;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::problem::{ApiError, ErrorCode, ProblemDetails};
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(media).service(media_head);
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
/// The token is signed and expires (the download window); it names one video and the content
/// verified at upload-complete: bytes written to the object afterwards are never served
/// (409 `upload_changed`). Supports one `Range`, streams from S3 without buffering the object,
/// never redirects (TikTok does not follow redirects).
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
        (status = 409, description = "The object was overwritten after it was verified: not served", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/media/{token}")]
pub async fn media(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, &token, Method::Get).await
}

/// The headers of `GET /v1/media/{token}`, without the body.
///
/// Whether TikTok's downloader or its URL-prefix verifier probes with `HEAD` is not
/// documented, so `HEAD` answers exactly as `GET` would (status, length, range, type), with
/// no body (errors too: their status and headers, no problem document).
#[utoipa::path(
    tag = "publishing",
    operation_id = "media.head",
    params(
        ("token" = String, Path, description = "Signed media token from a publish"),
        ("Range" = Option<String>, Header, description = "Optional single byte range, e.g. bytes=0-1023"),
    ),
    responses(
        (status = 200, description = "The whole video would be sent"),
        (status = 206, description = "The requested range would be sent"),
        (status = 404, description = "Unknown or expired token, or no such video"),
        (status = 409, description = "The object was overwritten after it was verified"),
        (status = 503, description = "Storage unavailable"),
    )
)]
#[head("/media/{token}")]
pub async fn media_head(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, &token, Method::Head).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Head,
}

async fn serve(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    method: Method,
) -> Result<HttpResponse, ApiError> {
    let service = &state.media();
    // TikTok's URL-prefix verification file sits under the same prefix as the media it covers.
    if is_verification_file(token) {
        let body = service
            .verification_file(token)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::MediaNotFound))?;
        // A sized body: for HEAD actix sends its length and leaves the bytes out.
        return Ok(HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(body));
    }
    let object = service.open(token, sane_range(req).as_deref()).await?;
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
    Ok(match method {
        Method::Get => res.streaming(object.body),
        // Same headers, and the S3 stream is dropped unread: actix would otherwise read it
        // to the end only to discard it.
        Method::Head => {
            res.streaming(futures_util::stream::empty::<Result<Bytes, std::io::Error>>())
        }
    })
}
