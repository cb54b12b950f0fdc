//! TikTok's URL-prefix verification files, served from memory.
//!
//! The media route answers `tiktok<id>.txt` under the prefix it covers, and anyone may ask for
//! any such name. Reading S3 for each request would let a stream of made-up names turn into a
//! stream of S3 requests; instead the few files there are (`postiqo-api
//! tiktok-verification-file` puts them in the bucket) are listed and read at most once a
//! minute per instance, and every lookup, hit or miss, is answered from that copy.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use postiqo_storage::{BlobError, Storage};
use tokio::sync::Mutex;
use tracing::{info, warn};

/// The bucket folder (under `site/`) the CLI writes to.
pub const VERIFICATION_DIR: &str = "tiktok-verification";
/// How long a listing is trusted: a newly added file is served within this time.
const FRESH_FOR: Duration = Duration::from_secs(60);
/// TikTok's files are a line of text; the CLI refuses anything above 4 KiB.
const MAX_FILE_BYTES: u64 = 4096;
const MAX_FILES: usize = 32;

struct Loaded {
    at: Instant,
    files: Arc<HashMap<String, Bytes>>,
}

#[derive(Clone)]
pub struct VerificationFiles {
    storage: Storage,
    /// One refresh at a time: concurrent lookups wait for it instead of each listing S3.
    loaded: Arc<Mutex<Option<Loaded>>>,
    fresh_for: Duration,
}

impl VerificationFiles {
    pub fn new(storage: Storage) -> Self {
        Self {
            storage,
            loaded: Arc::new(Mutex::new(None)),
            fresh_for: FRESH_FOR,
        }
    }

    /// The file of this name, if the bucket holds one (as of at most a minute ago).
    pub async fn get(&self, name: &str) -> Result<Option<Bytes>, BlobError> {
        Ok(self.files().await?.get(name).cloned())
    }

    async fn files(&self) -> Result<Arc<HashMap<String, Bytes>>, BlobError> {
        let mut loaded = self.loaded.lock().await;
        if let Some(l) = loaded.as_ref().filter(|l| l.at.elapsed() < self.fresh_for) {
            return Ok(l.files.clone());
        }
        match self
            .storage
            .blobs
            .site_files(VERIFICATION_DIR, MAX_FILES, MAX_FILE_BYTES)
            .await
        {
            Ok(list) => {
                let files: Arc<HashMap<String, Bytes>> = Arc::new(
                    list.into_iter()
                        .map(|(name, body)| (name, Bytes::from(body)))
                        .collect(),
                );
                if loaded.as_ref().map(|l| l.files.len()) != Some(files.len()) {
                    info!(files = files.len(), "TikTok verification files loaded");
                }
                *loaded = Some(Loaded {
                    at: Instant::now(),
                    files: files.clone(),
                });
                Ok(files)
            }
            // S3 trouble: the last copy is better than nothing, and is tried again later.
            Err(e) => match loaded.as_mut() {
                Some(l) => {
                    warn!(error = ?e, "verification files not refreshed; serving the last copy");
                    l.at = Instant::now();
                    Ok(l.files.clone())
                }
                None => Err(e),
            },
        }
    }
}
