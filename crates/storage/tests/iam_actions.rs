//! The IAM action lists in `definition` are exactly what the adapters call: every SDK operation
//! in `src/` is found, mapped to the IAM actions AWS checks for it, and compared with
//! `API_ACTIONS` (adapters) and `BOOTSTRAP_ACTIONS` (the `bootstrap.rs` files).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use postiqo_storage::definition::{API_ACTIONS, BOOTSTRAP_ACTIONS};

/// SDK operation → the IAM actions a call to it needs. A transaction needs no action of its
/// own: IAM checks each of its items (see `TRANSACT_ITEMS`).
const OPERATIONS: &[(&str, &[&str])] = &[
    ("batch_get_item", &["dynamodb:BatchGetItem"]),
    ("batch_write_item", &["dynamodb:BatchWriteItem"]),
    ("create_table", &["dynamodb:CreateTable"]),
    ("delete_item", &["dynamodb:DeleteItem"]),
    ("describe_table", &["dynamodb:DescribeTable"]),
    ("describe_time_to_live", &["dynamodb:DescribeTimeToLive"]),
    ("get_item", &["dynamodb:GetItem"]),
    ("put_item", &["dynamodb:PutItem"]),
    ("query", &["dynamodb:Query"]),
    ("scan", &["dynamodb:Scan"]),
    ("transact_get_items", &["dynamodb:GetItem"]),
    ("transact_write_items", &[]),
    ("update_item", &["dynamodb:UpdateItem"]),
    ("update_time_to_live", &["dynamodb:UpdateTimeToLive"]),
    ("abort_multipart_upload", &["s3:AbortMultipartUpload"]),
    ("complete_multipart_upload", &["s3:PutObject"]),
    ("copy_object", &["s3:GetObject", "s3:PutObject"]),
    ("create_bucket", &["s3:CreateBucket"]),
    ("create_multipart_upload", &["s3:PutObject"]),
    ("delete_object", &["s3:DeleteObject"]),
    ("delete_objects", &["s3:DeleteObject"]),
    ("get_object", &["s3:GetObject"]),
    ("get_object_tagging", &["s3:GetObjectTagging"]),
    // HeadBucket is authorised as ListBucket.
    ("head_bucket", &["s3:ListBucket"]),
    ("head_object", &["s3:GetObject"]),
    ("list_multipart_uploads", &["s3:ListBucketMultipartUploads"]),
    ("list_objects_v2", &["s3:ListBucket"]),
    ("list_parts", &["s3:ListMultipartUploadParts"]),
    ("put_bucket_cors", &["s3:PutBucketCORS"]),
    (
        "put_bucket_lifecycle_configuration",
        &["s3:PutLifecycleConfiguration"],
    ),
    ("put_object", &["s3:PutObject"]),
    ("put_object_tagging", &["s3:PutObjectTagging"]),
    ("upload_part", &["s3:PutObject"]),
];

/// How each item of a `TransactWriteItems` is authorised.
const TRANSACT_ITEMS: &[(&str, &str)] = &[
    ("TransactWriteItem::builder().put(", "dynamodb:PutItem"),
    (
        "TransactWriteItem::builder().update(",
        "dynamodb:UpdateItem",
    ),
    (
        "TransactWriteItem::builder().delete(",
        "dynamodb:DeleteItem",
    ),
    (
        "TransactWriteItem::builder().condition_check(",
        "dynamodb:ConditionCheckItem",
    ),
];

/// The first builder call after every SDK operation in this crate: `.op().table_name(`,
/// `.op().bucket(`, … . Whatever operation precedes one of these is an SDK call (a
/// `Type::builder()` before it is a transaction item instead).
const FIRST_SETTERS: &[&str] = &[
    "().table_name(",
    "().bucket(",
    "().request_items(",
    "().set_request_items(",
    "().transact_items(",
    "().set_transact_items(",
];

/// Tagging an object while writing it (`x-amz-tagging`) needs PutObjectTagging as well.
const TAGGING_ON_WRITE: &str = ".tagging(";

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The SDK operations called in `code` (whitespace removed, so chains split over lines match).
fn operations(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for setter in FIRST_SETTERS {
        for (at, _) in code.match_indices(setter) {
            let before = &code[..at];
            let start = before
                .rfind(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .map_or(0, |i| i + 1);
            // `Put::builder().table_name(`: an item of a transaction (see TRANSACT_ITEMS).
            if &before[start..] == "builder" {
                continue;
            }
            assert_eq!(
                &before[start.saturating_sub(1)..start],
                ".",
                "a method call: {}",
                &before[start.saturating_sub(20)..]
            );
            found.insert(before[start..].to_owned());
        }
    }
    found
}

fn needed_actions(files: &[PathBuf]) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    for file in files {
        let code: String = std::fs::read_to_string(file)
            .unwrap()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        for op in operations(&code) {
            let (_, needs) = OPERATIONS
                .iter()
                .find(|(name, _)| *name == op)
                .unwrap_or_else(|| {
                    panic!(
                        "{} calls `{op}`: add it and the IAM actions it needs to OPERATIONS",
                        file.display()
                    )
                });
            actions.extend(needs.iter().map(|a| (*a).to_owned()));
        }
        for (pattern, action) in TRANSACT_ITEMS {
            if code.contains(pattern) {
                actions.insert((*action).to_owned());
            }
        }
        if code.contains(TAGGING_ON_WRITE) {
            actions.insert("s3:PutObjectTagging".to_owned());
        }
    }
    actions
}

fn set(list: &[&str]) -> BTreeSet<String> {
    let set: BTreeSet<String> = list.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(set.len(), list.len(), "no action listed twice: {list:?}");
    set
}

#[test]
fn listed_iam_actions_are_exactly_what_the_code_calls() {
    let mut files = Vec::new();
    rust_files(
        // Asked at run time: a test binary reused from the shared target directory may have
        // been built by a clone at another path (crates/api/tests/common says more).
        &std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
            .join("src"),
        &mut files,
    );
    let (bootstrap, api): (Vec<_>, Vec<_>) = files
        .into_iter()
        .partition(|f| f.file_name().is_some_and(|n| n == "bootstrap.rs"));
    assert_eq!(bootstrap.len(), 2, "the table's and the bucket's bootstrap");

    let api_needs = needed_actions(&api);
    // The scan must see the calls it is meant to see, or it would pass on nothing.
    for sure in ["dynamodb:GetItem", "dynamodb:PutItem", "s3:ListBucket"] {
        assert!(api_needs.contains(sure), "scan found {api_needs:?}");
    }
    assert_eq!(
        api_needs,
        set(API_ACTIONS),
        "definition::API_ACTIONS differs from the adapters' calls"
    );
    assert_eq!(
        needed_actions(&bootstrap),
        set(BOOTSTRAP_ACTIONS),
        "definition::BOOTSTRAP_ACTIONS differs from bootstrap's calls"
    );
}

#[test]
fn the_scan_finds_operations_split_over_lines() {
    let code: String = "self.client\n    .batch_write_item()\n    .request_items(&t, p)\n  x.head_bucket().bucket(&b)"
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    assert_eq!(
        operations(&code),
        BTreeSet::from(["batch_write_item".to_owned(), "head_bucket".to_owned()])
    );
}
