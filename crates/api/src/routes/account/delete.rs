use actix_web::{HttpResponse, delete, web};

use crate::credentials::{AuthenticatedUser, cookies};
use crate::problem::{ApiError, ProblemDetails};
use crate::state::AppState;

/// Delete your account and everything of it.
///
/// Revokes Postiqo's access at TikTok (a failure there does not stop the deletion), then
/// deletes every record (profile, sessions, videos, idempotency and publish records, the
/// TikTok identity) and every S3 object under the account, unfinished multipart uploads
/// included. Publishes still running are cancelled where TikTok allows it and otherwise fail
/// once access is revoked and the object is gone; posts already on TikTok stay there.
///
/// Synchronous: 204 means everything is gone, this session included. Any other answer
/// (e.g. 503 `storage_unavailable`) means the deletion was interrupted: the account is
/// marked for deletion, cannot be used to sign in with its old data, and calling this
/// again with the same session finishes the job.
#[utoipa::path(
    tag = "account",
    operation_id = "me.delete",
    responses(
        (status = 204, description = "Deleted; session cookies cleared"),
        (status = 401, description = "Not signed in (after a successful deletion too)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Cookie request without a valid X-CSRF-Token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Records changed concurrently; call again", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "Internal error; call again", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable; call again", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer_auth" = []), ("cookie_auth" = []))
)]
#[delete("/me")]
pub async fn delete_me(
    state: web::Data<AppState>,
    user: AuthenticatedUser,
) -> Result<HttpResponse, ApiError> {
    state
        .account()
        .delete_account(user.user_id, Some(&user.session_id), true)
        .await?;
    let mut res = HttpResponse::NoContent();
    for c in cookies::cleared(state.cookies()) {
        res.cookie(c);
    }
    Ok(res.finish())
}
