use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};

use super::dto::{LoginModeParam, LoginQuery};
use crate::credentials::cookies;
use crate::limits::{Limit, client_ip};
use crate::problem::{ApiError, ProblemDetails};
use crate::services::signin::LoginMode;
use crate::state::AppState;

/// Start signing in with TikTok.
///
/// Redirects to TikTok's consent page. The `state` is random, single-use, valid for 10
/// minutes and bound to this browser by an HttpOnly cookie.
///
/// That cookie must come back with TikTok's redirect to `POSTIQO_PUBLIC_URL`'s callback, so a
/// sign-in started on another host (`127.0.0.1` for a `localhost` API) is first redirected,
/// unchanged, to the same path on `POSTIQO_PUBLIC_URL`.
#[utoipa::path(
    tag = "auth",
    operation_id = "auth.login",
    params(LoginQuery),
    responses(
        (status = 302, description = "Redirect to TikTok's consent page (or first to this same request on POSTIQO_PUBLIC_URL's host)"),
        (status = 400, description = "return_to not on an allowed origin, or bad query", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Too many sign-ins from this client", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "mode=code without a valid code_challenge", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[get("/auth/tiktok/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, ApiError> {
    state.limits().check(Limit::SignIn, client_ip(&req), None)?;
    if let Some(public) = on_public_host(&req, state.public_url()) {
        return Ok(HttpResponse::Found()
            .insert_header((header::LOCATION, public.to_string()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish());
    }
    let query = query.into_inner();
    let mode = match query.mode.unwrap_or(LoginModeParam::Cookie) {
        LoginModeParam::Cookie => LoginMode::Cookie,
        LoginModeParam::Code => LoginMode::Code {
            code_challenge: query.code_challenge.unwrap_or_default(),
        },
    };
    let existing = req.cookie(cookies::OAUTH_BINDING);
    let start = state
        .signin()
        .begin_login(&query.return_to, mode, existing.as_ref().map(|c| c.value()))
        .await?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, start.authorize_url.to_string()))
        .cookie(cookies::oauth_binding(start.binding, state.cookies()))
        .finish())
}

/// Marks a login already moved to the public host, so a proxy that rewrites `Host` (and
/// names no `X-Forwarded-Host`) costs one extra hop rather than a redirect loop.
const MOVED_MARK: &str = "moved_to_public_host";

/// The same login on `POSTIQO_PUBLIC_URL`'s host, when the browser used another one: the
/// state cookie is set on the host the browser asked, and TikTok's callback goes to the
/// public URL, so a login started elsewhere could never be completed.
fn on_public_host(req: &HttpRequest, public: &url::Url) -> Option<url::Url> {
    let info = req.connection_info();
    let asked = url::Url::parse(&format!("{}://{}", public.scheme(), info.host())).ok();
    let same = asked.as_ref().is_some_and(|a| {
        a.host_str() == public.host_str()
            && a.port_or_known_default() == public.port_or_known_default()
    });
    if same
        || url::form_urlencoded::parse(req.query_string().as_bytes()).any(|(k, _)| k == MOVED_MARK)
    {
        return None;
    }
    let mut target = public.join(req.path()).ok()?;
    target.set_query(Some(req.query_string()).filter(|q| !q.is_empty()));
    target.query_pairs_mut().append_pair(MOVED_MARK, "1");
    tracing::info!(
        host = info.host(),
        public_host = public.host_str().unwrap_or_default(),
        "sign-in started on another host than POSTIQO_PUBLIC_URL's: moved there, where TikTok's callback lands"
    );
    Some(target)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn public() -> url::Url {
        url::Url::parse("http://localhost:8080/").expect("url")
    }

    #[test]
    fn a_login_on_another_host_moves_to_the_public_one_with_its_query() {
        let req = TestRequest::get()
            .uri("/v1/auth/tiktok/login?return_to=http%3A%2F%2Flocalhost%3A5173%2F&mode=code")
            .insert_header((header::HOST, "127.0.0.1:8080"))
            .to_http_request();
        let moved = on_public_host(&req, &public()).expect("moved");
        assert_eq!(
            moved.as_str(),
            "http://localhost:8080/v1/auth/tiktok/login?return_to=http%3A%2F%2Flocalhost%3A5173%2F&mode=code&moved_to_public_host=1"
        );
    }

    #[test]
    fn a_login_on_the_public_host_or_already_moved_stays() {
        let req = TestRequest::get()
            .uri("/v1/auth/tiktok/login?return_to=x")
            .insert_header((header::HOST, "localhost:8080"))
            .to_http_request();
        assert_eq!(on_public_host(&req, &public()), None);
        let https = url::Url::parse("https://api.example.com/").expect("url");
        let req = TestRequest::get()
            .uri("/v1/auth/tiktok/login?return_to=x")
            .insert_header((header::HOST, "api.example.com:443"))
            .to_http_request();
        assert_eq!(
            on_public_host(&req, &https),
            None,
            "default port either way"
        );
        let req = TestRequest::get()
            .uri("/v1/auth/tiktok/login?return_to=x&moved_to_public_host=1")
            .insert_header((header::HOST, "internal:8080"))
            .to_http_request();
        assert_eq!(
            on_public_host(&req, &public()),
            None,
            "no loop behind a proxy"
        );
    }
}
