//! `GET /v2/user/info/` (fact sheet §2).

use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, web};
use serde_json::{Map, Value, json};

use crate::{
    guard::authorize,
    model::TestUser,
    ratelimit::Endpoint,
    respond::{Reject, api_ok, pairs},
    state::AppState,
};

/// Scope needed for a field, or `None` for an unknown field.
fn field_scope(field: &str) -> Option<&'static str> {
    Some(match field {
        "open_id" | "union_id" | "avatar_url" | "avatar_url_100" | "avatar_large_url"
        | "display_name" => "user.info.basic",
        "bio_description" | "profile_deep_link" | "is_verified" | "username" => "user.info.profile",
        "follower_count" | "following_count" | "likes_count" | "video_count" => "user.info.stats",
        _ => return None,
    })
}

fn field_value(u: &TestUser, field: &str) -> Value {
    match field {
        "open_id" => json!(u.open_id),
        "union_id" => json!(u.union_id),
        "avatar_url" | "avatar_url_100" | "avatar_large_url" => json!(u.avatar_url),
        "display_name" => json!(u.display_name),
        "bio_description" => json!(u.bio_description),
        "profile_deep_link" => json!(format!("https://vm.tiktok.com/{}/", u.username)),
        "is_verified" => json!(u.is_verified),
        "username" => json!(u.username),
        "follower_count" => json!(u.follower_count),
        "following_count" => json!(u.following_count),
        "likes_count" => json!(u.likes_count),
        "video_count" => json!(u.video_count),
        _ => Value::Null,
    }
}

#[get("/v2/user/info/")]
async fn user_info(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, Reject> {
    let caller = authorize(&state, &req, Endpoint::UserInfo, &[])?;
    let params = pairs(req.query_string().as_bytes());
    let fields: Vec<&str> = params
        .get("fields")
        .map(|f| {
            f.split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if fields.is_empty() {
        return Err(Reject::api(
            StatusCode::BAD_REQUEST,
            "invalid_params",
            "The fields parameter is required.",
        ));
    }
    for field in &fields {
        match field_scope(field) {
            None => {
                return Err(Reject::api(
                    StatusCode::BAD_REQUEST,
                    "invalid_params",
                    format!("Unknown field: {field}"),
                ));
            }
            Some(scope) if !caller.grant.has_scope(scope) => {
                return Err(Reject::api(
                    StatusCode::UNAUTHORIZED,
                    "scope_not_authorized",
                    format!(
                        "The user did not authorize the scope required for field {field}: {scope}"
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    let inner = state.lock();
    let Some(user) = inner.user(&caller.grant.open_id) else {
        return Err(Reject::api(
            StatusCode::UNAUTHORIZED,
            "access_token_invalid",
            "The user of this token no longer exists.",
        ));
    };
    let user_obj: Map<String, Value> = fields
        .iter()
        .map(|f| ((*f).to_owned(), field_value(user, f)))
        .collect();
    Ok(api_ok(json!({ "user": user_obj })))
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(user_info);
}
