//! The README's configuration table and docker-compose.yml cannot drift from the variables the
//! programs actually read.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use postiqo_api::config::{AWS_VARIABLES, VARIABLES};

mod common;
use common::{crate_dir, repo_file};

/// `NAME` of every `NAME=value` / `NAME: value` entry under an `environment:` key.
fn compose_variables(compose: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut in_env = false;
    let mut env_indent = 0;
    for line in compose.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if trimmed == "environment:" {
            in_env = true;
            env_indent = indent;
            continue;
        }
        if in_env && indent <= env_indent {
            in_env = false;
        }
        if in_env {
            let entry = trimmed.trim_start_matches("- ").trim_matches('"');
            let name: String = entry
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

/// Variables the sandbox reads: the `SANDBOX_*` literals in its source.
fn sandbox_variables() -> BTreeSet<String> {
    let dir = crate_dir().join("../tiktok-sandbox/src");
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for piece in text.split('"').skip(1).step_by(2) {
            if piece.starts_with("SANDBOX_")
                && piece
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
            {
                names.insert(piece.to_owned());
            }
        }
    }
    names
}

#[test]
fn compose_sets_only_variables_the_programs_read() {
    let compose = repo_file("docker-compose.yml");
    let set = compose_variables(&compose);
    assert!(
        set.contains("POSTIQO_TABLE"),
        "the parser found the API's variables: {set:?}"
    );
    let sandbox = sandbox_variables();
    for name in &set {
        let known = VARIABLES.contains(&name.as_str())
            || AWS_VARIABLES.contains(&name.as_str())
            || sandbox.contains(name)
            // ministack's own settings, for the storage container.
            || ["AUTH", "BIND_HOST", "GATEWAY_PORT", "MINISTACK_REGION"].contains(&name.as_str());
        assert!(known, "docker-compose.yml sets {name}, which nothing reads");
    }
    for required in [
        "POSTIQO_TABLE",
        "POSTIQO_BUCKET",
        "POSTIQO_PUBLIC_URL",
        "POSTIQO_JWT_KEYS",
    ] {
        assert!(
            set.contains(required),
            "docker-compose.yml must set {required}"
        );
    }
}

#[test]
fn readme_documents_every_variable() {
    let readme = repo_file("README.md");
    for name in VARIABLES {
        assert!(
            readme.contains(&format!("`{name}`")),
            "README.md does not document {name}"
        );
    }
}
