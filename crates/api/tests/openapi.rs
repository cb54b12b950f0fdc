//! The committed OpenAPI document must be exactly what the code generates.
//! Rewrite it with `scripts/update-openapi` (or `UPDATE_OPENAPI=1` on this test).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use serde_json::Value;

mod common;

fn committed_path() -> PathBuf {
    common::repo_root().join("openapi/openapi.json")
}

#[test]
fn committed_document_matches_the_code() {
    let generated = postiqo_api::openapi::document_json().unwrap();
    let path = committed_path();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date: run scripts/update-openapi and commit the result"
    );
}

#[test]
fn every_operation_is_documented_with_problem_errors() {
    let doc: Value = serde_json::from_str(&postiqo_api::openapi::document_json().unwrap()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(!paths.is_empty());
    let mut operation_ids = std::collections::HashSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has an operationId"));
            assert!(
                operation_ids.insert(id.to_owned()),
                "duplicate operationId {id}"
            );
            assert!(op["summary"].is_string(), "{method} {path} has a summary");
            for (status, response) in op["responses"].as_object().unwrap() {
                // A HEAD answer never has a body, errors included.
                if method == "head" {
                    assert!(
                        response.get("content").is_none(),
                        "{method} {path} {status} documents no body"
                    );
                } else if status.starts_with('4') || status.starts_with('5') {
                    let content = &response["content"]["application/problem+json"];
                    assert!(
                        content.is_object(),
                        "{method} {path} {status} is documented as application/problem+json"
                    );
                }
            }
            if op.get("security").is_some() {
                assert!(
                    op["responses"]["401"].is_object(),
                    "{method} {path} is authenticated, so documents 401"
                );
            }
        }
    }
}

fn has_example(node: &Value) -> bool {
    node.get("example").is_some()
        || node.get("examples").is_some_and(|e| {
            e.as_object().is_some_and(|o| !o.is_empty())
                || e.as_array().is_some_and(|a| !a.is_empty())
        })
}

/// Clients are generated from this document: every operation shows what it takes and gives.
#[test]
fn every_operation_and_schema_has_an_example() {
    let doc: Value = serde_json::from_str(&postiqo_api::openapi::document_json().unwrap()).unwrap();
    let mut operations = 0;
    let mut with_examples = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let mut any = false;
            for param in op["parameters"].as_array().into_iter().flatten() {
                any |= has_example(param);
            }
            for (media, content) in op["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
            {
                assert!(
                    has_example(content),
                    "{method} {path}: request {media} has an example"
                );
                any = true;
            }
            for (status, response) in op["responses"].as_object().unwrap() {
                for (media, content) in response["content"].as_object().into_iter().flatten() {
                    let json = media.contains("json");
                    if json && status.starts_with('2') {
                        assert!(
                            has_example(content),
                            "{method} {path} {status} {media} has an example"
                        );
                    }
                    any |= has_example(content);
                }
            }
            assert!(any, "{method} {path} has at least one example");
            with_examples += usize::from(any);
        }
    }
    assert_eq!(with_examples, operations);
    assert!(operations >= 26, "{operations} operations");

    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let missing: Vec<&String> = schemas
        .iter()
        .filter(|(_, s)| !has_example(s))
        .map(|(n, _)| n)
        .collect();
    assert!(
        missing.is_empty(),
        "schemas without an example: {missing:?}"
    );
}

/// A response with kinds is a `oneOf` chosen by `kind`, so generated types narrow on it.
#[test]
fn responses_with_kinds_are_discriminated_unions() {
    let doc: Value = serde_json::from_str(&postiqo_api::openapi::document_json().unwrap()).unwrap();
    let schemas = &doc["components"]["schemas"];
    for (union, kinds) in [
        (
            "UploadResponse",
            [("single", "SingleUpload"), ("multipart", "MultipartUpload")],
        ),
        (
            "RefreshResponse",
            [
                ("bearer", "TokenResponse"),
                ("cookie", "CookieSessionResponse"),
            ],
        ),
    ] {
        let schema = &schemas[union];
        assert_eq!(schema["discriminator"]["propertyName"], "kind", "{union}");
        let one_of = schema["oneOf"].as_array().unwrap();
        assert_eq!(one_of.len(), kinds.len(), "{union}");
        for (kind, member) in kinds {
            let target = format!("#/components/schemas/{member}");
            assert_eq!(schema["discriminator"]["mapping"][kind], target.as_str());
            assert!(one_of.iter().any(|m| m["$ref"] == target.as_str()));
            let member = &schemas[member];
            assert_eq!(
                member["properties"]["kind"]["enum"],
                serde_json::json!([kind])
            );
            assert!(
                member["required"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r == "kind")
            );
            let nullable = member["properties"].as_object().unwrap().values().any(|p| {
                p["type"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == "null"))
            });
            assert!(
                !nullable,
                "{kind}: every field of a kind is there, none is null"
            );
        }
    }
}

#[test]
fn the_document_names_its_server_and_how_to_get_a_token() {
    let doc: Value = serde_json::from_str(&postiqo_api::openapi::document_json().unwrap()).unwrap();
    assert_eq!(doc["servers"][0]["url"], postiqo_api::openapi::LOCAL_SERVER);
    let bearer = doc["components"]["securitySchemes"]["bearer_auth"]["description"]
        .as_str()
        .unwrap();
    assert!(
        bearer.contains("/v1/auth/token") && bearer.contains("code_challenge"),
        "{bearer}"
    );
    // Swagger UI's copy offers only what a browser user can fill in.
    let swagger = serde_json::to_value(postiqo_api::openapi::for_swagger(
        postiqo_api::openapi::document(),
    ))
    .unwrap();
    let schemes = swagger["components"]["securitySchemes"]
        .as_object()
        .unwrap();
    assert_eq!(schemes.keys().collect::<Vec<_>>(), ["bearer_auth"]);
    assert!(
        !serde_json::to_string(&swagger["paths"])
            .unwrap()
            .contains("cookie_auth")
    );
    assert!(
        serde_json::to_string(&doc["paths"])
            .unwrap()
            .contains("cookie_auth")
    );
}
