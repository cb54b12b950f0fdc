//! Harness for the end-to-end tests: starts the real `postiqo-api` binary against the local
//! storage servers (each test with its own table and bucket), mints access tokens and wraps
//! the endpoints.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

mod api;
pub mod metrics;
mod process;
mod storage;

pub use api::{TestApp, TestAppBuilder, TestUser};
pub use metrics::Scrape;
pub use process::{ChildProcess, bin_path, free_port, start_private_ministack};
pub use storage::{Item, attr_s, aws_clients, ddb_client, s3_client, scan_table};

/// This crate's directory (`tests/`), asked at run time: a test binary reused from the shared
/// target directory may have been built by a clone at another path, and a path compiled in with
/// `env!` would name that clone. Cargo and nextest set the variable for every test process.
pub fn crate_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || env!("CARGO_MANIFEST_DIR").into(),
        std::path::PathBuf::from,
    )
}

/// RFC 7636 S256 challenge of a PKCE verifier.
pub fn s256(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// A well-formed MP4 of `len` bytes (one second of 640x360 H.264 at 30 fps, as far as its
/// index says), which upload-complete accepts. Below
/// [`postiqo_media_probe::sample::MIN_LEN`] the boxes do not fit: then only the first bytes look
/// like an MP4 (an `ftyp` box), which upload-complete refuses.
pub fn mp4_bytes(len: usize) -> Vec<u8> {
    if len >= postiqo_media_probe::sample::MIN_LEN {
        return postiqo_media_probe::sample::mp4(len);
    }
    let mut v = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41".to_vec();
    v.resize(len, 0xAB);
    v
}

/// A PNG header padded to `len`: a file that is not a video.
pub fn png_bytes(len: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    v.resize(len, 0x11);
    v
}
