//! The OpenAPI document: built from the same `.service(..)` calls that route requests.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::problem::ProblemDetails;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Postiqo API",
        description = "Sign in with TikTok, upload videos straight to S3 with presigned URLs, and publish them to TikTok.\n\nEvery error is an RFC 9457 problem document (`application/problem+json`) with a stable `type` (`urn:postiqo:problem:<code>`) and `code`.",
        license(name = "MIT")
    ),
    components(schemas(ProblemDetails)),
    modifiers(&SecurityAddon),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "auth", description = "Sign in with TikTok; our sessions (cookies for the SPA, bearer tokens for other clients)"),
        (name = "me", description = "The signed-in user"),
        (name = "account", description = "Your rights over your data: export it, disconnect TikTok, delete the account"),
        (name = "videos", description = "Videos and their direct-to-S3 uploads"),
        (name = "publishing", description = "Publishing to TikTok and tracking each publish"),
    )
)]
pub struct ApiDoc;

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer_auth",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("Postiqo access token (a JWT, about 15 minutes)."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie_auth",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "__Host-postiqo_access",
                "The SPA's HttpOnly session cookie (`postiqo_access` on a plain-http localhost API); unsafe requests also need X-CSRF-Token.",
            ))),
        );
    }
}

/// The document as the running server serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, doc) = crate::startup::routes_app().split_for_parts();
    doc
}

/// Pretty JSON with a trailing newline: the form committed under openapi/.
pub fn document_json() -> Result<String, serde_json::Error> {
    let mut s = serde_json::to_string_pretty(&document())?;
    s.push('\n');
    Ok(s)
}
