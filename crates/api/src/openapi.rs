//! The OpenAPI document: built from the same `.service(..)` calls that route requests, then
//! completed with examples (see `examples`) and servers.

mod examples;
mod served;

pub use served::{Documents, SWAGGER_DOCUMENT, configure as configure_documents};

use serde_json::Value;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::server::ServerBuilder;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{Modify, OpenApi};

use crate::problem::ProblemDetails;

/// Where the committed document says the API is: the local stack of `scripts/dev`. A running
/// API serves its document with its own `POSTIQO_PUBLIC_URL` instead.
pub const LOCAL_SERVER: &str = "http://localhost:8080";

const DESCRIPTION: &str = "Sign in with TikTok, upload videos straight to S3 with presigned URLs, and publish them to TikTok.

**Getting a bearer token** (any client that is not the example SPA):
1. Make a PKCE pair: a random `code_verifier` (43-128 characters) and `code_challenge` = base64url(SHA-256(verifier)), no padding.
2. Send the user's browser to `GET /v1/auth/tiktok/login?return_to=<URL on an allowed origin>&mode=code&code_challenge=<challenge>`, on the API's public host. TikTok asks for consent, and the browser comes back to `return_to?code=...` (single use, 60 s), or `return_to?error=...&error_description=...`.
3. `POST /v1/auth/token` `{\"grant_type\":\"authorization_code\",\"code\":...,\"code_verifier\":...}` gives `{access_token, refresh_token, expires_in}`.
4. Send `Authorization: Bearer <access_token>`; before it expires, `POST /v1/auth/refresh` `{\"refresh_token\":...}` (it rotates: keep the new one).

A script without a browser follows the same redirects keeping cookies (the login sets a short-lived state cookie that the callback needs). Against the TikTok sandbox, `SANDBOX_AUTO_APPROVE=<username>` approves the consent step at once.

**The SPA (cookies)** uses the same login without `mode`, then HttpOnly cookies, `X-CSRF-Token` on unsafe requests, and `POST /v1/auth/refresh` with no body. Swagger UI offers only the bearer scheme: a browser page cannot set the HttpOnly cookie.

Every error is an RFC 9457 problem document (`application/problem+json`) with a stable `type` (`urn:postiqo:problem:<code>`) and `code`.";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Postiqo API",
        description = DESCRIPTION,
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

const BEARER: &str = "bearer_auth";
const COOKIE: &str = "cookie_auth";

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A Postiqo access token (a JWT, about 15 minutes). Get one with PKCE: open \
                         `GET /v1/auth/tiktok/login?return_to=<allowed URL>&mode=code&code_challenge=<S256>` \
                         in a browser, take `code` from where it comes back, and trade it with the \
                         `code_verifier` at `POST /v1/auth/token`. Refresh it at `POST /v1/auth/refresh`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            COOKIE,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "__Host-postiqo_access",
                "The SPA's HttpOnly session cookie (`postiqo_access` on a plain-http localhost API), set by the sign-in (scripts cannot read or set it); unsafe requests also need X-CSRF-Token.",
            ))),
        );
    }
}

/// The document as committed under openapi/ (servers: the local stack).
pub fn document() -> utoipa::openapi::OpenApi {
    document_at(LOCAL_SERVER)
}

/// The document of the routes, with `server` as the one server.
pub fn document_at(server: &str) -> utoipa::openapi::OpenApi {
    let (_, doc) = crate::startup::routes_app().split_for_parts();
    complete(doc, server)
}

/// Adds what the routes do not carry: examples for every schema and operation, and `server`
/// as the one server.
pub fn complete(mut doc: utoipa::openapi::OpenApi, server: &str) -> utoipa::openapi::OpenApi {
    doc.servers = Some(vec![
        ServerBuilder::new()
            .url(server.trim_end_matches('/'))
            .description(Some("This API"))
            .build(),
    ]);
    if let Some(components) = doc.components.as_mut() {
        let examples = examples::schemas();
        for (name, schema) in components.schemas.iter_mut() {
            if let (RefOr::T(schema), Some(example)) = (schema, examples.get(name.as_str())) {
                set_schema_example(schema, example.clone());
            }
        }
    }
    let mut examples = examples::operations();
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.head,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            if let Some(ex) = op
                .operation_id
                .as_deref()
                .and_then(|id| examples.remove(id))
            {
                add_operation_examples(op, ex);
            }
        }
    }
    doc
}

/// The document Swagger UI shows: only what a person in a browser can use, so its
/// "Authorize" offers the bearer token and not the HttpOnly cookie.
pub fn for_swagger(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    if let Some(components) = doc.components.as_mut() {
        components.security_schemes.remove(COOKIE);
    }
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            if let Some(security) = op.security.as_mut() {
                security.retain(|req| {
                    serde_json::to_value(req)
                        .ok()
                        .and_then(|v| v.as_object().map(|o| !o.contains_key(COOKIE)))
                        .unwrap_or(true)
                });
            }
        }
    }
    doc
}

fn set_schema_example(schema: &mut Schema, example: Value) {
    match schema {
        Schema::Object(o) if o.examples.is_empty() && o.example.is_none() => {
            o.examples = vec![example]
        }
        Schema::OneOf(o) if o.examples.is_empty() && o.example.is_none() => {
            o.examples = vec![example]
        }
        Schema::AllOf(o) if o.examples.is_empty() && o.example.is_none() => {
            o.examples = vec![example]
        }
        Schema::Array(o) if o.examples.is_empty() && o.example.is_none() => {
            o.examples = vec![example]
        }
        _ => {}
    }
}

fn add_operation_examples(op: &mut Operation, ex: examples::OperationExamples) {
    if let Some(body) = op.request_body.as_mut() {
        for content in body.content.values_mut() {
            set_content_examples(content, &ex.request);
        }
    }
    if let Some(params) = op.parameters.as_mut() {
        for param in params.iter_mut() {
            if let Some((_, v)) = ex.params.iter().find(|(n, _)| *n == param.name) {
                *param = ParameterBuilder::from(param.clone())
                    .example(Some(v.clone()))
                    .build();
            }
        }
    }
    for (status, values) in &ex.responses {
        if let Some(RefOr::T(response)) = op.responses.responses.get_mut(*status) {
            for content in response.content.values_mut() {
                set_content_examples(content, values);
            }
        }
    }
}

fn set_content_examples(
    content: &mut utoipa::openapi::content::Content,
    values: &[(&'static str, Value)],
) {
    match values {
        [] => {}
        [(_, only)] => content.example = Some(only.clone()),
        many => {
            for (name, v) in many {
                content.examples.insert(
                    (*name).to_owned(),
                    RefOr::T(
                        ExampleBuilder::new()
                            .summary(name.replace('_', " "))
                            .value(Some(v.clone()))
                            .build(),
                    ),
                );
            }
        }
    }
}

/// Pretty JSON with a trailing newline: the form committed under openapi/.
pub fn document_json() -> Result<String, serde_json::Error> {
    let mut s = serde_json::to_string_pretty(&document())?;
    s.push('\n');
    Ok(s)
}
