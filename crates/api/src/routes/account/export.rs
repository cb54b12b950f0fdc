use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use futures_util::StreamExt;
use tracing::error;

use super::dto::{ExportDocument, ExportWriter, content_disposition};
use crate::credentials::AuthenticatedUser;
use crate::limits::{Limit, client_ip};
use crate::problem::{ApiError, ErrorCode, ProblemDetails};
use crate::routes::videos::dto::VideoView;
use crate::state::AppState;

/// Download everything Postiqo holds about you.
///
/// One JSON document: profile, granted scopes, every video record with its status history,
/// TikTok ids and S3 location, active sessions, and whether TikTok is connected. Secrets
/// (tokens, their hashes or ciphertexts) are never in it. It is streamed as it is read, a
/// page of records at a time; if storage fails midway the transfer breaks off (the document
/// is then incomplete, never silently shortened).
#[utoipa::path(
    tag = "account",
    operation_id = "me.export",
    responses(
        (status = 200, description = "The export, as an attachment", body = ExportDocument,
            headers(("Content-Disposition" = String, description = "attachment; filename=\"postiqo-export-<user id>-<time>.json\""))),
        (status = 401, description = "Not signed in", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Too many exports by this user", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[get("/me/export")]
pub async fn export_me(
    state: web::Data<AppState>,
    view: web::Data<VideoView>,
    req: HttpRequest,
    user: AuthenticatedUser,
) -> Result<HttpResponse, ApiError> {
    state
        .limits()
        .check(Limit::Export, client_ip(&req), Some(user.user_id))?;
    // Everything that can fail with a proper problem happens before the first byte.
    let export = state.account().export_header(user.user_id).await?;
    let (mut writer, head) = ExportWriter::start(&export, &view, &user.session_id)
        .map_err(|e| ApiError::new(ErrorCode::Internal).source(e))?;
    let user_id = user.user_id;
    let pages = state
        .account()
        .export_pages(user_id, export.exported_at)
        .map(move |page| match page {
            Ok(page) => writer.page(page).map_err(std::io::Error::other),
            Err(e) => {
                error!(user_id = %user_id, error = ?e, "export broken off");
                Err(std::io::Error::other("export broken off"))
            }
        });
    let body =
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(head) }).chain(pages);
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_DISPOSITION, content_disposition(&export)))
        // Personal data: no shared or browser cache keeps a copy.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .streaming(body))
}
