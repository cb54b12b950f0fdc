//! Every key printed in this repository is refused outside localhost: the scan below finds
//! each value in the form of `POSTIQO_JWT_KEYS` / `POSTIQO_TOKEN_ENCRYPTION_KEY` (`kid:base64`
//! of at least 32 bytes) in any file (scripts, compose file, docs, tests, examples, sources)
//! and fails until `crates/api/src/published_keys.txt` lists it.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use postiqo_api::key_policy::{decode, is_published};

mod common;

/// Folders that are not the repository's own text (git-ignored builds and installs).
const SKIP: &[&str] = &[
    ".git",
    "target",
    ".emu",
    ".emu-run",
    "node_modules",
    "dist",
    "artifacts",
    "test-results",
    "playwright-report",
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if !SKIP.contains(&name) {
                files(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

/// `kid:base64` values whose secret decodes to at least 32 bytes, in `text`. Hex-only values
/// are digests (`sha256:…`), not keys of ours.
fn key_values(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let tokens = text.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=_.:,-".contains(c)));
    for token in tokens {
        let parts: Vec<&str> = token.split([':', ',']).collect();
        for pair in parts.windows(2) {
            // `VAR=kid:…` and shell's `${VAR:-kid:…}` put the kid after `=` or `-`.
            let kid = pair[0].rsplit('=').next().unwrap_or_default();
            let (kid, secret) = (kid.trim_start_matches('-'), pair[1]);
            let kid_like = (1..=64).contains(&kid.len())
                && kid
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            let hex = secret.chars().all(|c| c.is_ascii_hexdigit());
            if kid_like
                && !hex
                && secret.len() >= 40
                && decode(secret).is_some_and(|k| k.len() >= 32)
            {
                found.push(secret.to_owned());
            }
        }
    }
    found
}

#[test]
fn every_key_in_the_repository_is_on_the_refused_list() {
    let root = common::repo_root();
    let mut all = Vec::new();
    files(&root, &mut all);
    let mut seen = Vec::new();
    let mut unlisted = Vec::new();
    for path in all {
        // Binary files are not where keys get copied.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            for secret in key_values(line) {
                let rel = path
                    .strip_prefix(&root)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                let bytes = decode(&secret).unwrap();
                if !is_published(&bytes) {
                    unlisted.push(format!("{rel}:{}: {secret}", n + 1));
                }
                seen.push(rel);
            }
        }
    }
    // The scan does find keys where they are known to be.
    for known in ["scripts/local-env.sh", "docker-compose.yml"] {
        assert!(
            seen.iter().any(|f| f == known),
            "the scan found no key in {known}: {seen:?}"
        );
    }
    assert!(
        unlisted.is_empty(),
        "keys published in the repository but not refused in production; add each to \
         crates/api/src/published_keys.txt (or use a key generated at run time):\n{}",
        unlisted.join("\n")
    );
}

#[test]
fn the_scan_recognises_every_spelling_of_a_key_entry() {
    let key = "ZGV2LW9ubHktand0LWtleS1ub3QtZm9yLXByb2R1Y3Rpb24=";
    for text in [
        format!("export POSTIQO_JWT_KEYS=\"${{POSTIQO_JWT_KEYS:-dev:{key}}}\""),
        format!("      POSTIQO_JWT_KEYS: dev:{key}"),
        format!("(\"POSTIQO_JWT_KEYS\", \"k1:{key}\"),"),
        format!("POSTIQO_JWT_KEYS=new:{key},old:{key}"),
        format!(
            "`POSTIQO_TOKEN_ENCRYPTION_KEY=e1:{}`",
            key.trim_end_matches('=')
        ),
    ] {
        assert!(!key_values(&text).is_empty(), "{text}");
    }
    for text in [
        "image@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "k1:c2hvcnQ=",
        "https://example.com/a/very/long/path/that/is/not/a/key/at/all/really",
    ] {
        assert!(key_values(text).is_empty(), "{text}");
    }
}
