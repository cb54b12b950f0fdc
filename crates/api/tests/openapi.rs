//! The committed OpenAPI document must be exactly what the code generates.
//! Rewrite it with `scripts/update-openapi` (or `UPDATE_OPENAPI=1` on this test).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use serde_json::Value;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json")
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
