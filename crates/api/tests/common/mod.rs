//! Where the repository is, asked when the test runs. Clones at different paths share one
//! target directory (`~/.cache/postiqo/target`), and cargo's hashes for workspace members leave
//! out the absolute path: a test binary built by another clone is reused here, and a path it
//! compiled in with `env!("CARGO_MANIFEST_DIR")` names that other clone. Cargo and nextest set
//! the variable for every test process, so it is read at run time.
#![allow(dead_code)] // each test file is its own crate and uses some of these

use std::path::PathBuf;

/// This crate's directory (`crates/api`).
pub fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The repository's top folder.
pub fn repo_root() -> PathBuf {
    crate_dir().join("../..")
}

/// A file of the repository, by its path from the top.
pub fn repo_file(rel: &str) -> String {
    let path = repo_root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
