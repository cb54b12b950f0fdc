use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};

use super::dto::ExportDocument;
use crate::auth::AuthenticatedUser;
use crate::limits::{Limit, client_ip};
use crate::problem::{ApiError, ProblemDetails};
use crate::startup::AppState;

/// Download everything Postiqo holds about you.
///
/// One JSON document: profile, granted scopes, every video record with its status history,
/// TikTok ids and S3 location, active sessions, and whether TikTok is connected. Secrets
/// (tokens, their hashes or ciphertexts) are never in it.
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
    req: HttpRequest,
    user: AuthenticatedUser,
) -> Result<HttpResponse, ApiError> {
    state
        .limits
        .check(Limit::Export, client_ip(&req), Some(user.user_id))?;
    let export = state.account.export(user.user_id).await?;
    let doc = ExportDocument::new(export, &state.video_view, &user.session_id);
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_DISPOSITION, doc.content_disposition()))
        // Personal data: no shared or browser cache keeps a copy.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(doc))
}
