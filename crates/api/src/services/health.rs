//! Whether this instance can serve: storage answers for our table and bucket. The check is
//! shared and remembered briefly (`readiness`), so probes cost no AWS calls of their own.

use std::time::Duration;

use postiqo_storage::Storage;

use crate::readiness::Readiness;

/// How long one storage check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
#[error("storage is not ready: {cause}")]
pub struct NotReady {
    /// The failure and its causes on one line, for the log.
    pub cause: String,
}

pub struct HealthService {
    storage: Storage,
    readiness: Readiness,
}

impl HealthService {
    pub fn new(storage: Storage) -> Self {
        Self {
            storage,
            readiness: Readiness::default(),
        }
    }

    pub async fn storage_ready(&self) -> Result<(), NotReady> {
        let probe = || async {
            match tokio::time::timeout(CHECK_TIMEOUT, self.storage.check_ready()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(describe(&e)),
                Err(_) => Err("readiness check timed out".to_owned()),
            }
        };
        self.readiness
            .check(probe)
            .await
            .map_err(|cause| NotReady { cause })
    }
}

/// An error and its causes on one line, for the log.
fn describe(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
